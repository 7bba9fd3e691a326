"""The node's gRPC server: every DistPOS service, reflection, and the one error-mapping interceptor
(`errors.py`: DistPOS errors → gRPC statuses with `distpos-codespace` / `distpos-code` trailing metadata)."""

from __future__ import annotations

import logging

import grpc
from grpc_reflection.v1alpha import reflection

from ..gen.distpos.v1 import (
    distribution_pb2,
    distribution_pb2_grpc,
    gov_pb2,
    gov_pb2_grpc,
    interchain_pb2,
    interchain_pb2_grpc,
    query_pb2,
    query_pb2_grpc,
    staking_pb2,
    staking_pb2_grpc,
    underwriting_pb2,
    underwriting_pb2_grpc,
)
from .distribution import DistributionServicer, FeesServicer
from .errors import ErrorMappingInterceptor
from .gov import GovServicer
from .interchain import InterchainServicer
from .query import QueryServicer
from .staking import StakingServicer, UnderwritingServicer

log = logging.getLogger("distpos.grpc")


def add_services(server: grpc.aio.Server, app, underwriting=None) -> tuple[str, ...]:
    """Register every DistPOS service on server; returns their full names (for reflection)."""
    query_pb2_grpc.add_QueryServicer_to_server(QueryServicer(app), server)
    staking_pb2_grpc.add_StakingServicer_to_server(StakingServicer(app), server)
    underwriting_pb2_grpc.add_UnderwritingServicer_to_server(UnderwritingServicer(app, underwriting), server)
    interchain_pb2_grpc.add_InterchainServicer_to_server(InterchainServicer(app), server)
    gov_pb2_grpc.add_GovServicer_to_server(GovServicer(app), server)
    distribution_pb2_grpc.add_DistributionServicer_to_server(DistributionServicer(app), server)
    distribution_pb2_grpc.add_FeesServicer_to_server(FeesServicer(app), server)
    return (query_pb2.DESCRIPTOR.services_by_name["Query"].full_name,
            staking_pb2.DESCRIPTOR.services_by_name["Staking"].full_name,
            underwriting_pb2.DESCRIPTOR.services_by_name["Underwriting"].full_name,
            interchain_pb2.DESCRIPTOR.services_by_name["Interchain"].full_name,
            gov_pb2.DESCRIPTOR.services_by_name["Gov"].full_name,
            distribution_pb2.DESCRIPTOR.services_by_name["Distribution"].full_name,
            distribution_pb2.DESCRIPTOR.services_by_name["Fees"].full_name)


async def start_grpc_server(app, laddr: str, underwriting=None) -> tuple[grpc.aio.Server, int]:
    """Start the DistPOS services (with reflection) on laddr; returns server and port.

    `underwriting` is the node's UnderwritingService, or None when the node does not underwrite.
    """
    server = grpc.aio.server(interceptors=(ErrorMappingInterceptor(),))
    names = add_services(server, app, underwriting)
    reflection.enable_server_reflection((*names, reflection.SERVICE_NAME), server)
    port = server.add_insecure_port(laddr)
    if port == 0:
        raise OSError(f"cannot bind gRPC to {laddr}")
    await server.start()
    log.info("gRPC query service on %s", laddr.rsplit(":", 1)[0] + f":{port}")
    return server, port
