"""Thin gRPC servicer over the DistposApp queries.

DistPOS errors map to gRPC statuses here (and only here): the status code comes from
the error family, the details are the readable log, and trailing metadata carries
`distpos-codespace` and `distpos-code` for programs.
"""

from __future__ import annotations

import logging

import grpc
from grpc_reflection.v1alpha import reflection

from ..app import DistposApp
from ..errors import DistposError, InvalidInputError
from ..gen.distpos.v1 import query_pb2, query_pb2_grpc
from ..query_proto import account_to_proto, status_to_proto, tx_to_proto

log = logging.getLogger("distpos.grpc")


async def _abort(context: grpc.aio.ServicerContext, err: DistposError) -> None:
    context.set_trailing_metadata((("distpos-codespace", err.codespace), ("distpos-code", str(err.code))))
    await context.abort(getattr(grpc.StatusCode, err.grpc_status), err.log)


class QueryServicer(query_pb2_grpc.QueryServicer):
    """distpos.v1.Query backed by the node's app."""

    def __init__(self, app: DistposApp) -> None:
        self.app = app

    async def Account(self, request, context):  # noqa: N802 (gRPC method name)
        try:
            return account_to_proto(self.app.query_account(request.address, request.height, request.prove))
        except DistposError as err:
            await _abort(context, err)

    async def Status(self, request, context):  # noqa: N802
        return status_to_proto(self.app.query_status())

    async def Tx(self, request, context):  # noqa: N802
        try:
            if len(request.hash) != 32:
                raise InvalidInputError(f"hash must be 32 bytes, got {len(request.hash)}")
            return tx_to_proto(self.app.query_tx(request.hash, request.height, request.prove))
        except DistposError as err:
            await _abort(context, err)


async def start_grpc_server(app: DistposApp, laddr: str, underwriting=None) -> tuple[grpc.aio.Server, int]:
    """Start the query, staking and underwriting services (with reflection) on laddr; returns server and port.

    `underwriting` is the node's UnderwritingService, or None when the node does not underwrite.
    """
    from ..gen.distpos.v1 import staking_pb2, staking_pb2_grpc, underwriting_pb2, underwriting_pb2_grpc
    from .staking import StakingServicer, UnderwritingServicer

    server = grpc.aio.server()
    query_pb2_grpc.add_QueryServicer_to_server(QueryServicer(app), server)
    staking_pb2_grpc.add_StakingServicer_to_server(StakingServicer(app), server)
    underwriting_pb2_grpc.add_UnderwritingServicer_to_server(UnderwritingServicer(app, underwriting), server)
    names = (query_pb2.DESCRIPTOR.services_by_name["Query"].full_name,
             staking_pb2.DESCRIPTOR.services_by_name["Staking"].full_name,
             underwriting_pb2.DESCRIPTOR.services_by_name["Underwriting"].full_name, reflection.SERVICE_NAME)
    from ..gen.distpos.v1 import interchain_pb2, interchain_pb2_grpc
    from .interchain import InterchainServicer

    interchain_pb2_grpc.add_InterchainServicer_to_server(InterchainServicer(app), server)
    names = (*names, interchain_pb2.DESCRIPTOR.services_by_name["Interchain"].full_name)
    from ..gen.distpos.v1 import gov_pb2, gov_pb2_grpc
    from .gov import GovServicer

    gov_pb2_grpc.add_GovServicer_to_server(GovServicer(app), server)
    names = (*names, gov_pb2.DESCRIPTOR.services_by_name["Gov"].full_name)
    reflection.enable_server_reflection(names, server)
    port = server.add_insecure_port(laddr)
    if port == 0:
        raise OSError(f"cannot bind gRPC to {laddr}")
    await server.start()
    log.info("gRPC query service on %s", laddr.rsplit(":", 1)[0] + f":{port}")
    return server, port
