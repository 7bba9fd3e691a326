"""`distpos tx distribution withdraw` and `distpos query distribution rewards|pool|params|gas-prices`."""

from __future__ import annotations

import click

from ..distribution import build_withdraw_rewards_tx
from ..gen.distpos.v1 import distribution_pb2, distribution_pb2_grpc
from .client import get_event_attribute, grpc_call, sign_send_wait
from .common import grpc_option, output_option, tx_options
from .output import emit


# ---- transactions -------------------------------------------------------------------------------------------

@click.group("distribution")
def tx_group() -> None:
    """Validator rewards: withdraw."""


@tx_group.command("withdraw")
@click.argument("from_key", metavar="FROM")
@tx_options
def withdraw(from_key, settings) -> None:
    """Pay the rewards FROM's validator accrued to FROM's account."""
    sent = sign_send_wait(settings, from_key, lambda k, c, n: build_withdraw_rewards_tx(k, c, n))
    if sent is None:  # --generate-only or --dry-run
        return
    data, committed = sent
    data["amount"] = get_event_attribute(committed.events, "withdraw_rewards", "amount")
    emit(data, settings.output, text=f"committed {data['hash']} at height {data['height']}: withdrew "
                                     f"{data['amount']} of rewards")


# ---- queries --------------------------------------------------------------------------------------------

def call_distribution(grpc_addr: str, method: str, request):
    """One Distribution query."""
    return grpc_call(grpc_addr, distribution_pb2_grpc.DistributionStub, method, request)


@click.group("distribution")
def query_group() -> None:
    """Validator rewards, the reward pool, gas prices."""


@query_group.command("rewards")
@click.argument("validator", metavar="VALIDATOR")
@grpc_option
@output_option
def rewards(validator, grpc_addr, output) -> None:
    """Rewards accrued by VALIDATOR (its operator address) and not withdrawn."""
    res = call_distribution(grpc_addr, "Rewards", distribution_pb2.QueryRewardsRequest(validator=validator))
    data = {"validator": res.validator, "rewards": str(res.rewards), "height": res.height}
    emit(data, output, text=f"{res.validator}: {res.rewards} at height {res.height}")


@query_group.command("pool")
@grpc_option
@output_option
def pool(grpc_addr, output) -> None:
    """The reward pool: balance, undistributed remainder, fees collected this block, minted since genesis."""
    res = call_distribution(grpc_addr, "Pool", distribution_pb2.QueryPoolRequest())
    data = {"pool_balance": str(res.pool_balance), "remainder": str(res.remainder), "collected": str(res.collected),
            "minted": str(res.minted), "height": res.height}
    emit(data, output, text=f"pool {res.pool_balance} (remainder {res.remainder}), collected {res.collected}, "
                            f"minted {res.minted} at height {res.height}")


@query_group.command("params")
@grpc_option
@output_option
def params(grpc_addr, output) -> None:
    """The distribution parameters."""
    res = call_distribution(grpc_addr, "Params", distribution_pb2.QueryDistributionParamsRequest())
    emit({"params_json": res.params_json}, output, text=res.params_json)


@query_group.command("gas-prices")
@grpc_option
@output_option
def gas_prices(grpc_addr, output) -> None:
    """The chain's minimum gas price and the node's own, in milli-units per gas."""
    res = grpc_call(grpc_addr, distribution_pb2_grpc.FeesStub, "GasPrices", distribution_pb2.QueryGasPricesRequest())
    data = {"chain_min_gas_price": res.chain_min_gas_price, "node_min_gas_price": res.node_min_gas_price}
    emit(data, output, text=f"chain minimum {res.chain_min_gas_price}, this node {res.node_min_gas_price} "
                            f"(milli-units per gas)")
