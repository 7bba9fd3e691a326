"""Thin gRPC servicer of distpos.v1.Interchain: correspondents, routes and pending packets of the node's chain
(errors: see errors.py). Every chain-id in a request is validated, so a bad one is INVALID_ARGUMENT, never an
empty answer."""

from __future__ import annotations

from ..address import Address, validate_chain_id
from ..errors import NoCorrespondentError
from ..gen.distpos.v1 import interchain_pb2, interchain_pb2_grpc
from ..interchain import InterchainView, keys
from ..pagination import compute_page, parse_chain_id_key, parse_uint_key, validate_limit


class InterchainServicer(interchain_pb2_grpc.InterchainServicer):
    def __init__(self, app) -> None:
        self.app = app

    def _view(self) -> InterchainView:
        return InterchainView(self.app.state, self.app.chain_id)

    async def GetCorrespondent(self, request, context):  # noqa: N802
        remote = validate_chain_id(request.chain_id)
        view = self._view()
        corr = view.get_correspondent(remote)
        if corr is None:
            raise NoCorrespondentError(f"no correspondent account for chain {remote}")
        client = view.get_client(remote)
        return interchain_pb2.QueryCorrespondentResponse(
            correspondent=corr.to_proto(),
            account=str(Address(self.app.chain_id, keys.compute_correspondent_account(remote))),
            reserve=view.get_reserve(remote),
            client_height=client.latest_height if client else 0,
            client_time_ns=client.latest_time_ns if client else 0,
            client_frozen_height=client.frozen_height if client else 0,
            client_frozen_evidence_hash=client.frozen_evidence_hash if client else b"",
            trusting_period_ns=client.trusting_period_ns if client else 0,
            unbonding_period_ns=client.unbonding_period_ns if client else 0,
        )

    async def GetRoute(self, request, context):  # noqa: N802
        return self._view().get_route(validate_chain_id(request.chain_id)).to_proto()

    async def ListRoutes(self, request, context):  # noqa: N802
        limit = validate_limit(request.limit)
        page = compute_page(self._view().iter_routes(parse_chain_id_key(request.page_key)), limit, lambda r: r.chain_id)
        return interchain_pb2.QueryRoutesResponse(routes=[r.to_proto() for r in page.items],
                                                  next_page_key=page.next_page_key)

    async def ListPackets(self, request, context):  # noqa: N802
        destination = validate_chain_id(request.destination_chain)
        limit = validate_limit(request.limit)
        after = parse_uint_key(request.page_key, "a packet sequence in decimal")
        view = self._view()
        page = compute_page(view.iter_outbox(destination, after), limit, lambda p: str(p.sequence))
        return interchain_pb2.QueryPacketsResponse(
            next_sequence=view.get_next_sequence(destination), escrow=view.get_escrow(),
            pending=[interchain_pb2.Packet.FromString(p.encode()) for p in page.items],
            next_page_key=page.next_page_key)
