"""The gRPC query service (grpc.aio, reflection on); errors become statuses in `errors.py` only."""

from .query import QueryServicer
from .server import add_services, start_grpc_server

__all__ = ["QueryServicer", "add_services", "start_grpc_server"]
