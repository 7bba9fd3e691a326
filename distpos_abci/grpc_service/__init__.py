"""The gRPC query service (grpc.aio, reflection on)."""

from .server import QueryServicer, start_grpc_server

__all__ = ["QueryServicer", "start_grpc_server"]
