"""gRPC client of other validators' underwriting services (co-underwriting), with errors translated once here."""

from __future__ import annotations

import grpc

from ..errors import DistposError, InsufficientCapacityError, NodeUnreachableError, UnderwritingError
from ..gen.distpos.v1 import underwriting_pb2, underwriting_pb2_grpc
from .guarantee import Guarantee, decode_guarantee
from .service import CoordinatorAuth


def translate_rpc_error(endpoint: str, exc: grpc.RpcError) -> DistposError:
    """A DistposError for a failed call to endpoint."""
    code = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else str(exc)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return NodeUnreachableError(f"underwriter {endpoint} unreachable: {details}")
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return InsufficientCapacityError(f"underwriter {endpoint}: {details}")
    return UnderwritingError(f"underwriter {endpoint}: {details}")


class GrpcPeers:
    """Async calls to peers, one cached channel per endpoint."""

    def __init__(self) -> None:
        self._channels: dict[str, grpc.aio.Channel] = {}

    def _stub(self, endpoint: str) -> underwriting_pb2_grpc.UnderwritingStub:
        channel = self._channels.get(endpoint)
        if channel is None:
            channel = self._channels[endpoint] = grpc.aio.insecure_channel(endpoint)
        return underwriting_pb2_grpc.UnderwritingStub(channel)

    async def reserve(self, endpoint: str, tx: bytes, amount: int, expiry: int, auth: CoordinatorAuth,
                      timeout: float) -> int:
        """Ask endpoint to hold up to amount; returns what it holds."""
        try:
            r = await self._stub(endpoint).Reserve(
                underwriting_pb2.ReserveRequest(tx=tx, amount=amount, expiry_height=expiry,
                                                coordinator=auth.coordinator, signature=auth.signature),
                timeout=timeout)
        except grpc.RpcError as exc:
            raise translate_rpc_error(endpoint, exc) from None
        return r.amount

    async def confirm(self, endpoint: str, tx_hash: bytes, auth: CoordinatorAuth, timeout: float) -> Guarantee:
        """Have endpoint sign its reserved share."""
        try:
            r = await self._stub(endpoint).Confirm(underwriting_pb2.ConfirmRequest(
                tx_hash=tx_hash, coordinator=auth.coordinator, signature=auth.signature), timeout=timeout)
        except grpc.RpcError as exc:
            raise translate_rpc_error(endpoint, exc) from None
        return decode_guarantee(r.guarantee)

    async def release(self, endpoint: str, tx_hash: bytes, auth: CoordinatorAuth, timeout: float) -> None:
        """Have endpoint drop its reservation."""
        try:
            await self._stub(endpoint).Release(underwriting_pb2.ReleaseRequest(
                tx_hash=tx_hash, coordinator=auth.coordinator, signature=auth.signature), timeout=timeout)
        except grpc.RpcError as exc:
            raise translate_rpc_error(endpoint, exc) from None

    async def close(self) -> None:
        """Close every channel."""
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
