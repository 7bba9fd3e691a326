"""Thin gRPC servicer of distpos.v1.Interchain: correspondents, routes and pending packets of the node's chain."""

from __future__ import annotations

from ..address import Address
from ..errors import DistposError, NoCorrespondentError
from ..gen.distpos.v1 import interchain_pb2, interchain_pb2_grpc
from ..interchain import InterchainView, keys
from .server import _abort


class InterchainServicer(interchain_pb2_grpc.InterchainServicer):
    def __init__(self, app) -> None:
        self.app = app

    def _view(self) -> InterchainView:
        return InterchainView(self.app.state, self.app.chain_id)

    async def GetCorrespondent(self, request, context):  # noqa: N802
        try:
            view = self._view()
            corr = view.get_correspondent(request.chain_id)
            if corr is None:
                raise NoCorrespondentError(f"no correspondent account for chain {request.chain_id}")
            client = view.get_client(request.chain_id)
            return interchain_pb2.QueryCorrespondentResponse(
                correspondent=corr.to_proto(),
                account=str(Address(self.app.chain_id, keys.compute_correspondent_account(request.chain_id))),
                reserve=view.get_reserve(request.chain_id),
                client_height=client.latest_height if client else 0,
                client_time_ns=client.latest_time_ns if client else 0,
                client_frozen_height=client.frozen_height if client else 0,
                client_frozen_evidence_hash=client.frozen_evidence_hash if client else b"",
                trusting_period_ns=client.trusting_period_ns if client else 0,
                unbonding_period_ns=client.unbonding_period_ns if client else 0,
            )
        except DistposError as err:
            await _abort(context, err)

    async def GetRoute(self, request, context):  # noqa: N802
        try:
            return self._view().get_route(request.chain_id).to_proto()
        except DistposError as err:
            await _abort(context, err)

    async def ListRoutes(self, request, context):  # noqa: N802
        return interchain_pb2.QueryRoutesResponse(routes=[r.to_proto() for r in self._view().list_routes()])

    async def ListPackets(self, request, context):  # noqa: N802
        try:
            view = self._view()
            pending = [interchain_pb2.Packet.FromString(p.encode()) for p in view.list_outbox(request.destination_chain)]
            return interchain_pb2.QueryPacketsResponse(
                next_sequence=view.get_next_sequence(request.destination_chain), pending=pending,
                escrow=view.get_escrow())
        except DistposError as err:
            await _abort(context, err)
