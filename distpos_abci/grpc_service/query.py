"""Thin servicer of distpos.v1.Query: accounts, status and receipts of the node's app."""

from __future__ import annotations

from ..errors import InvalidInputError
from ..gen.distpos.v1 import query_pb2_grpc
from ..query_proto import account_to_proto, status_to_proto, tx_to_proto


class QueryServicer(query_pb2_grpc.QueryServicer):
    """distpos.v1.Query backed by the node's app."""

    def __init__(self, app) -> None:
        self.app = app

    async def Account(self, request, context):  # noqa: N802 (gRPC method name)
        return account_to_proto(self.app.query_account(request.address, request.height, request.prove))

    async def Status(self, request, context):  # noqa: N802
        return status_to_proto(self.app.query_status())

    async def Tx(self, request, context):  # noqa: N802
        if len(request.hash) != 32:
            raise InvalidInputError(f"hash must be 32 bytes, got {len(request.hash)}")
        return tx_to_proto(self.app.query_tx(request.hash, request.height, request.prove))
