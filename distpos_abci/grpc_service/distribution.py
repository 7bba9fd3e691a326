"""Thin gRPC servicers for distribution queries and fee simulation (errors: see errors.py)."""

from __future__ import annotations

from ..distribution import DistributionKeeper
from ..errors import InvalidInputError, NotFoundError
from ..gen.distpos.v1 import distribution_pb2, distribution_pb2_grpc
from ..query_proto import gas_prices_to_proto, simulation_to_proto
from ..staking import StakingKeeper


class DistributionServicer(distribution_pb2_grpc.DistributionServicer):
    """distpos.v1.Distribution over the node's committed state."""

    def __init__(self, app) -> None:
        self.app = app

    def _keeper(self) -> DistributionKeeper:
        return DistributionKeeper(self.app.state, self.app.chain_id)

    async def Rewards(self, request, context):  # noqa: N802 (gRPC method name)
        operator = self.app.local_address(request.validator)
        if StakingKeeper(self.app.state).get_validator(operator.account) is None:
            raise NotFoundError(f"no validator operated by {request.validator}")
        return distribution_pb2.QueryRewardsResponse(
            validator=str(operator), rewards=self._keeper().get_rewards(operator.account), height=self.app.last_height)

    async def Pool(self, request, context):  # noqa: N802
        keeper = self._keeper()
        return distribution_pb2.QueryPoolResponse(
            pool_balance=keeper.get_pool_balance(), remainder=keeper.get_remainder(), collected=keeper.get_collected(),
            minted=keeper.get_minted(), height=self.app.last_height)

    async def Params(self, request, context):  # noqa: N802
        return distribution_pb2.QueryDistributionParamsResponse(params_json=self._keeper().get_params().encode().decode())


class FeesServicer(distribution_pb2_grpc.FeesServicer):
    """distpos.v1.Fees: gas prices and simulation against the node's mempool state."""

    def __init__(self, app) -> None:
        self.app = app

    async def Simulate(self, request, context):  # noqa: N802
        if not request.tx:
            raise InvalidInputError("tx is empty: give a signed transaction")
        return simulation_to_proto(self.app.simulate_fees(request.tx))

    async def GasPrices(self, request, context):  # noqa: N802
        return gas_prices_to_proto(self.app.params.min_gas_price, self.app.node_min_gas_price)
