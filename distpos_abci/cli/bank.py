"""`distpos tx bank send` (plain, or guaranteed at once with --underwrite) and `distpos query bank balance`."""

from __future__ import annotations

import time

import click

from ..address import parse_address
from ..bank import build_send_tx
from ..gen.distpos.v1 import query_pb2, query_pb2_grpc
from ..rpc_client import CometRPC
from .client import broadcast_and_wait, grpc_call, parse_cli_amount, sign_tx
from .common import grpc_option, output_option, tx_options
from .output import emit
from .underwriting_client import request_guarantee, request_quote, settlement_json, wait_for_settlement


@click.group("bank")
def tx_group() -> None:
    """Token transfers."""


@tx_group.command("send")
@click.argument("from_key", metavar="FROM")
@click.argument("to", metavar="TO")
@click.argument("amount", metavar="AMOUNT")
@click.option("--memo", default="", help="Free text stored with the transaction.")
@click.option("--no-wait", is_flag=True, help="Return after CheckTx instead of waiting for the block.")
@click.option("--underwrite", is_flag=True,
              help="Have the validator at --grpc guarantee the payment at once, then carry it to the chain.")
@click.option("--no-co-underwriting", is_flag=True, help="With --underwrite: refuse rather than ask other validators.")
@click.option("--premium", default=None, metavar="AMOUNT",
              help="The premium signed for the guarantees of this payment (default with --underwrite: the price the "
                   "validator at --grpc quotes; 0 otherwise).")
@grpc_option
@tx_options
def send(from_key, to, amount, memo, no_wait, underwrite, no_co_underwriting, premium, grpc_addr, settings) -> None:
    """Send AMOUNT base units from key FROM to address TO (on another chain: through its correspondent)."""
    value = parse_cli_amount(amount)
    parse_address(to)
    if premium is not None:
        price = parse_cli_amount(premium, allow_zero=True)
    elif underwrite:
        price = request_quote(grpc_addr, value).premium
    else:
        price = 0
    signed = sign_tx(settings, from_key, lambda k, c, n: build_send_tx(k, c, n, to, value, memo, premium=price))
    if signed is None:  # --generate-only
        return
    data = {"hash": signed.hash.hex().upper(), "chain_id": signed.chain_id, "from": signed.signer, "to": to,
            "amount": str(value), "nonce": signed.nonce, "fee": signed.fee, "premium": str(price)}
    if underwrite:
        _send_underwritten(signed.raw, grpc_addr, not no_co_underwriting, no_wait, settings.timeout,
                           settings.output, data)
        return
    if no_wait:
        CometRPC(settings.node).broadcast_tx_sync(signed.raw)
        emit({**data, "status": "in mempool"}, settings.output)
        return
    committed = broadcast_and_wait(settings, signed, data)
    emit(data, settings.output, text=f"committed {data['hash']} at height {committed.height} "
                                     f"({value} from {signed.signer} to {to}, nonce {signed.nonce}, fee {signed.fee}, "
                                     f"{data['seconds']}s)")


def _send_underwritten(raw: bytes, grpc_addr: str, co_underwrite: bool, no_wait: bool, timeout: float, output: str,
                       data: dict) -> None:
    """Get the guarantee (printing how long it took), then wait for the chain to settle it."""
    started = time.monotonic()
    guarantees, ms, node_us = request_guarantee(grpc_addr, raw, co_underwrite=co_underwrite)
    # `tx` is the payment as signed: a claim shows it as the payer's consent (`tx underwriting claim`).
    data.update(guarantee_ms=round(ms, 2), node_us=node_us, guarantees=[g.to_json() for g in guarantees],
                tx=raw.hex())
    head = (f"guaranteed {data['hash']} for a premium of {data['premium']} in {ms:.1f} ms by {len(guarantees)} validator(s) "
            f"({', '.join(f'{g.underwriter}: {g.amount}' for g in guarantees)}; expires at height "
            f"{guarantees[0].expiry_height})")
    if no_wait:
        emit(data, output, text=head)
        return
    shares = wait_for_settlement(grpc_addr, data["from"], data["nonce"], timeout)
    data.update(settlement=settlement_json(shares), seconds=round(time.monotonic() - started, 3))
    emit(data, output, text=f"{head}\nsettled at height {shares[0].height}: {data['settlement']['outcome']} "
                            f"({data['seconds']}s)")


@click.group("bank")
def query_group() -> None:
    """Balances."""


@query_group.command("balance")
@click.argument("address", metavar="ADDRESS")
@grpc_option
@click.option("--height", type=click.IntRange(0, 2**63 - 1), default=0, help="Height to read at (0 = latest).")
@output_option
def balance(address, grpc_addr, height, output) -> None:
    """The balance of ADDRESS (an address of the chain the node at --grpc serves)."""
    parse_address(address)
    r = grpc_call(grpc_addr, query_pb2_grpc.QueryStub, "Account",
                  query_pb2.QueryAccountRequest(address=address, height=height))
    emit({"address": r.address, "balance": str(r.balance), "height": r.height}, output,
         text=f"{r.balance} at height {r.height}")
