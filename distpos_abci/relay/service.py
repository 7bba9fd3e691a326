"""The relay's gRPC service (distpos.v1.Relay), its client (`GrpcPeer`), and `serve()`, the process entry point."""

from __future__ import annotations

import asyncio
import logging
import pathlib
import signal
import threading
from concurrent import futures

import grpc

from ..crypto import KeyPair
from ..errors import DistposError, PeerUnreachableError, RelayConfigError
from ..gen.distpos.v1 import relay_pb2, relay_pb2_grpc
from ..gen.distpos.v1.interchain_pb2 import ClientUpdate
from ..lightclient.types import LightBlock, light_block_from_proto, light_block_to_proto
from ..metrics import Registry, serve_metrics
from ..store.merkle import MerkleProof
from .config import RelayConfig
from .endpoint import CometEndpoint, Proven
from .policy import load_policy
from .queue import IN, OUT, RelayQueue
from .relayer import RelayCore, Relayer, RelayMetrics, lookup_route

log = logging.getLogger("distpos.relay")


def _abort(context, err: DistposError):
    context.set_trailing_metadata((("distpos-codespace", err.codespace), ("distpos-code", str(err.code))))
    context.abort(getattr(grpc.StatusCode, err.grpc_status), err.log)


class RelayServicer(relay_pb2_grpc.RelayServicer):
    """Thin: every call is one RelayCore method."""

    def __init__(self, core: RelayCore) -> None:
        self.core = core

    def SubmitPacket(self, request, context):  # noqa: N802
        try:
            return relay_pb2.SubmitPacketResponse(accepted=self.core.accept_packets(request.source_chain, list(request.packets)))
        except DistposError as err:
            _abort(context, err)

    def GetProof(self, request, context):  # noqa: N802
        try:
            out = relay_pb2.GetProofResponse(height=request.height)
            for p in self.core.get_proofs(list(request.keys), request.height):
                v = out.values.add(key=p.key, value=p.value or b"", exists=p.value is not None)
                if p.proof is not None:
                    v.proof.CopyFrom(p.proof.to_proto())
            return out
        except DistposError as err:
            _abort(context, err)

    def GetHeaders(self, request, context):  # noqa: N802
        try:
            msg = ClientUpdate()
            light_block_to_proto(self.core.light_block(request.height), msg)
            return msg
        except DistposError as err:
            _abort(context, err)

    def Status(self, request, context):  # noqa: N802
        try:
            return relay_pb2.RelayStatusResponse(
                chain_id=self.core.endpoint.chain_id, latest_height=self.core.latest_height(),
                pending_outbound=self.core.queue.count(OUT), pending_inbound=self.core.queue.count(IN),
                delivered=self.core.delivered,
            )
        except DistposError as err:
            _abort(context, err)


class GrpcPeer:
    """A RelayPeer over gRPC; transport errors become PeerUnreachableError naming the chain."""

    def __init__(self, chain_id: str, address: str, timeout: float = 15.0) -> None:
        self.chain_id, self.address, self.timeout = chain_id, address, timeout
        self.channel = grpc.insecure_channel(address)
        self.stub = relay_pb2_grpc.RelayStub(self.channel)

    def _call(self, name: str, request):
        try:
            return getattr(self.stub, name)(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise PeerUnreachableError(f"relay of {self.chain_id} at {self.address}: {name}: {exc.code().name} {exc.details()}",
                                       chain_id=self.chain_id) from None

    def submit_packets(self, source: str, packets: list[bytes]) -> int:
        return self._call("SubmitPacket", relay_pb2.SubmitPacketRequest(source_chain=source, packets=packets)).accepted

    def get_proofs(self, keys_: list[bytes], height: int) -> list[Proven]:
        res = self._call("GetProof", relay_pb2.GetProofRequest(keys=keys_, height=height))
        return [Proven(bytes(v.key), bytes(v.value) if v.exists else None,
                       MerkleProof.from_proto(v.proof) if v.HasField("proof") else None, res.height) for v in res.values]

    def light_block(self, height: int) -> LightBlock:
        return light_block_from_proto(self._call("GetHeaders", relay_pb2.GetHeadersRequest(height=height)))

    def latest_height(self) -> int:
        return self._call("Status", relay_pb2.RelayStatusRequest()).latest_height


class RoutedPeer:
    """A RelayPeer from a routing entry: its relay over gRPC; for reads, that chain's CometBFT RPC when the relay
    is unreachable, so acks and timeouts can still be proven (packets can only be handed to a relay)."""

    def __init__(self, chain_id: str, relay_grpc: str, comet_rpc: str) -> None:
        self.relay = GrpcPeer(chain_id, relay_grpc)
        self.direct = RelayCore(CometEndpoint(chain_id, comet_rpc), None)  # type: ignore[arg-type]

    def submit_packets(self, source: str, packets: list[bytes]) -> int:
        return self.relay.submit_packets(source, packets)

    def _read(self, name: str, *args):
        try:
            return getattr(self.relay, name)(*args)
        except PeerUnreachableError:
            log.info("relay of %s unreachable; reading its chain through CometBFT RPC", self.relay.chain_id)
            return getattr(self.direct, name)(*args)

    def get_proofs(self, keys_: list[bytes], height: int) -> list[Proven]:
        return self._read("get_proofs", keys_, height)

    def light_block(self, height: int) -> LightBlock:
        return self._read("light_block", height)

    def latest_height(self) -> int:
        return self._read("latest_height")


class RouteDirectory:
    """RelayPeers looked up in the own chain's routing table (re-read when the entry changes)."""

    def __init__(self, endpoint) -> None:
        self.endpoint = endpoint
        self.peers: dict[str, tuple[object, RoutedPeer]] = {}

    def __call__(self, chain_id: str) -> RoutedPeer:
        route = lookup_route(self.endpoint, chain_id)
        cached = self.peers.get(chain_id)
        if cached is None or cached[0] != route:
            cached = self.peers[chain_id] = (route, RoutedPeer(chain_id, route.relay_grpc, route.comet_rpc))
        return cached[1]


def read_key_file(path: str) -> KeyPair:
    """The relay's signing key: a file with the 32-byte seed in hex."""
    try:
        seed = bytes.fromhex(pathlib.Path(path).read_text().strip())
    except (OSError, ValueError) as exc:
        raise RelayConfigError(f"cannot read relay key {path}: {exc}") from None
    if len(seed) != 32:
        raise RelayConfigError(f"relay key {path} must hold 64 hex digits (a 32-byte ed25519 seed)")
    return KeyPair(seed)


def _serve_metrics_thread(registry: Registry, laddr: str) -> None:
    host, port = laddr.rsplit(":", 1)

    async def main() -> None:
        server = await serve_metrics(registry, host, int(port))
        async with server:
            await server.serve_forever()

    threading.Thread(target=lambda: asyncio.run(main()), name="relay-metrics", daemon=True).start()


def serve(cfg: RelayConfig) -> None:
    """Run the relay until SIGTERM/SIGINT: gRPC service, metrics endpoint and the worker loop."""
    key = read_key_file(cfg.key_file)
    endpoint = CometEndpoint(cfg.chain_id, cfg.comet_rpc)
    queue = RelayQueue(cfg.db_dir)
    registry = Registry()
    metrics = RelayMetrics(registry, cfg.chain_id, queue)
    relayer = Relayer(endpoint, queue, key, RouteDirectory(endpoint), metrics, max_tx_bytes=cfg.max_tx_bytes,
                      settle_interval_s=cfg.settle_interval_ms / 1000, client_refresh_pct=cfg.client_refresh_pct,
                      clients=cfg.clients, policy=load_policy(cfg.policy_file))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    relay_pb2_grpc.add_RelayServicer_to_server(RelayServicer(relayer.core), server)
    if server.add_insecure_port(cfg.listen) == 0:
        raise RelayConfigError(f"cannot listen on {cfg.listen}")
    server.start()
    if cfg.metrics:
        _serve_metrics_thread(registry, cfg.metrics)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    log.info("chain=%s relay listening on %s (metrics %s), CometBFT RPC %s", cfg.chain_id, cfg.listen,
             cfg.metrics or "off", cfg.comet_rpc)
    try:
        relayer.run(cfg.poll_interval_ms / 1000, stopping.is_set)
    finally:
        server.stop(grace=1)
        queue.close()
        log.info("chain=%s relay stopped", cfg.chain_id)
