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
from ..codec import decode_canonical, encode_canonical
from ..errors import (
    DistposError,
    HeightOutOfRangeError,
    InvalidPeerResponseError,
    InvalidRelayRequestError,
    PeerRefusedError,
    PeerUnreachableError,
    RelayConfigError,
    RelayError,
)
from ..gen.distpos.v1 import relay_pb2
from ..gen.distpos.v1.interchain_pb2 import ClientUpdate
from ..lightclient.types import LightBlock, light_block_from_proto, light_block_to_proto
from ..metrics import Registry, serve_metrics
from ..store.merkle import MerkleProof
from .config import RelayConfig
from .endpoint import CometEndpoint, Proven
from .policy import load_policy
from .queue import IN, OUT, RelayQueue
from .limits import RelayLimits
from .wrappers import CachingEndpoint, MeteredEndpoint
from .relayer import Refusal, RelayCore, Relayer, RelayMetrics, SubmitResult, lookup_route

log = logging.getLogger("distpos.relay")


SERVICE = "distpos.v1.Relay"
# method -> (request, response): both sides move raw bytes and decode them with codec.decode_canonical
METHODS = {
    "SubmitPacket": (relay_pb2.SubmitPacketRequest, relay_pb2.SubmitPacketResponse),
    "GetProof": (relay_pb2.GetProofRequest, relay_pb2.GetProofResponse),
    "GetHeaders": (relay_pb2.GetHeadersRequest, ClientUpdate),
    "Status": (relay_pb2.RelayStatusRequest, relay_pb2.RelayStatusResponse),
}
UNREACHABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}


def compute_grpc_status(err: BaseException) -> grpc.StatusCode:
    """The status an error is answered with: its family's, INTERNAL for anything unexpected; never UNKNOWN."""
    if isinstance(err, DistposError):
        status = getattr(grpc.StatusCode, err.grpc_status, grpc.StatusCode.INTERNAL)
        return grpc.StatusCode.INTERNAL if status == grpc.StatusCode.UNKNOWN else status
    return grpc.StatusCode.INTERNAL


class RelayServicer:
    """Thin: every call decodes its request, calls one RelayCore method and builds the response."""

    def __init__(self, core: RelayCore) -> None:
        self.core = core

    def SubmitPacket(self, request: relay_pb2.SubmitPacketRequest) -> relay_pb2.SubmitPacketResponse:  # noqa: N802
        res = self.core.accept_packets(request.source_chain, [bytes(p) for p in request.packets])
        out = relay_pb2.SubmitPacketResponse(accepted=res.accepted, held=list(res.held))
        for r in res.refused:
            out.refused.add(sequence=r.sequence, code=r.code, reason=r.reason)
        return out

    def _validate_height(self, height: int, what: str, lowest: int) -> None:
        """Below `lowest`: a malformed request; above the committed height: out of range (not retryable)."""
        if height < lowest:
            raise InvalidRelayRequestError(f"{what} at height {height}: heights start at {lowest}")
        top = self.core.latest_height()
        if height > top:
            raise HeightOutOfRangeError(f"{what} at height {height}: {self.core.endpoint.chain_id} has committed "
                                        f"heights up to {top}", chain_id=self.core.endpoint.chain_id)

    def GetProof(self, request: relay_pb2.GetProofRequest) -> relay_pb2.GetProofResponse:  # noqa: N802
        self._validate_height(request.height, "proofs", 0)  # 0 = the latest state
        out = relay_pb2.GetProofResponse(height=request.height)
        for p in self.core.get_proofs([bytes(k) for k in request.keys], request.height):
            v = out.values.add(key=p.key, value=p.value or b"", exists=p.value is not None)
            if p.proof is not None:
                v.proof.CopyFrom(p.proof.to_proto())
        return out

    def GetHeaders(self, request: relay_pb2.GetHeadersRequest) -> ClientUpdate:  # noqa: N802
        self._validate_height(request.height, "header", 1)
        msg = ClientUpdate()
        light_block_to_proto(self.core.light_block(request.height), msg)
        return msg

    def Status(self, request: relay_pb2.RelayStatusRequest) -> relay_pb2.RelayStatusResponse:  # noqa: N802
        return relay_pb2.RelayStatusResponse(
            chain_id=self.core.endpoint.chain_id, latest_height=self.core.latest_height(),
            pending_outbound=self.core.queue.count(OUT), pending_inbound=self.core.queue.count(IN),
            delivered=self.core.delivered,
        )


def _unary(name: str, fn, request_cls, chain_id: str):
    """The one boundary between gRPC and the relay: strict decoding in, errors out as statuses with codes."""

    def behaviour(raw: bytes, context):
        try:
            request = decode_canonical(request_cls, raw, f"{name} request", InvalidRelayRequestError)
            return fn(request)
        except DistposError as err:
            failure: BaseException = err
            log.info("chain=%s %s refused: %s", chain_id, name, err.log)
        except Exception as exc:  # a bug, or a library failing: INTERNAL, and the trace in the log
            failure = exc
            log.exception("chain=%s %s failed", chain_id, name)
        if isinstance(failure, DistposError):
            context.set_trailing_metadata((("distpos-codespace", failure.codespace),
                                           ("distpos-code", str(failure.code))))
            context.abort(compute_grpc_status(failure), failure.log)
        context.abort(grpc.StatusCode.INTERNAL, f"relay:1: internal error in {name} (see the relay's log)")

    return grpc.unary_unary_rpc_method_handler(behaviour, request_deserializer=None,
                                               response_serializer=encode_canonical)


def add_relay_service(server: grpc.Server, core: RelayCore) -> None:
    """Register distpos.v1.Relay, served by core, on server."""
    servicer = RelayServicer(core)
    chain_id = core.endpoint.chain_id
    handlers = {name: _unary(name, getattr(servicer, name), req, chain_id) for name, (req, _) in METHODS.items()}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


def compute_peer_error(chain_id: str, address: str, name: str, exc: grpc.RpcError) -> RelayError:
    """A failed call to another relay as the project's error: unreachable (retry, read the chain directly
    instead) or refused (with the remote codespace and code from the trailing metadata)."""
    code = exc.code()
    text = f"relay of {chain_id} at {address}: {name}: {code.name} {exc.details()}"
    if code in UNREACHABLE:
        return PeerUnreachableError(text, chain_id=chain_id)
    meta = dict(exc.trailing_metadata() or ())
    try:
        remote_code = int(meta.get("distpos-code", 0))
    except ValueError:
        remote_code = 0
    return PeerRefusedError(text, chain_id=chain_id, remote_codespace=str(meta.get("distpos-codespace", "")),
                            remote_code=remote_code, status=code.name)


class GrpcPeer:
    """A RelayPeer over gRPC: requests encoded canonically, responses decoded strictly, errors translated."""

    def __init__(self, chain_id: str, address: str, timeout: float = 15.0) -> None:
        self.chain_id, self.address, self.timeout = chain_id, address, timeout
        self.channel = grpc.insecure_channel(address)
        self.calls = {name: self.channel.unary_unary(f"/{SERVICE}/{name}", request_serializer=encode_canonical,
                                                     response_deserializer=None) for name in METHODS}

    def _call(self, name: str, request):
        try:
            raw = self.calls[name](request, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise compute_peer_error(self.chain_id, self.address, name, exc) from None
        try:
            return decode_canonical(METHODS[name][1], raw, f"{name} answer of the relay of {self.chain_id}",
                                    InvalidPeerResponseError)
        except DistposError as err:
            raise InvalidPeerResponseError(err.message, chain_id=self.chain_id) from None

    def submit_packets(self, source: str, packets: list[bytes]) -> SubmitResult:
        res = self._call("SubmitPacket", relay_pb2.SubmitPacketRequest(source_chain=source, packets=packets))
        return SubmitResult(res.accepted, tuple(res.held),
                            tuple(Refusal(r.sequence, r.code, r.reason) for r in res.refused))

    def get_proofs(self, keys_: list[bytes], height: int) -> list[Proven]:
        res = self._call("GetProof", relay_pb2.GetProofRequest(keys=keys_, height=height))
        return [Proven(bytes(v.key), bytes(v.value) if v.exists else None,
                       MerkleProof.from_proto(v.proof) if v.HasField("proof") else None, res.height) for v in res.values]

    def light_block(self, height: int) -> LightBlock:
        try:
            return light_block_from_proto(self._call("GetHeaders", relay_pb2.GetHeadersRequest(height=height)))
        except (ValueError, TypeError) as exc:
            raise InvalidPeerResponseError(f"relay of {self.chain_id}: GetHeaders: unusable header: {exc}",
                                           chain_id=self.chain_id) from None

    def latest_height(self) -> int:
        return self._call("Status", relay_pb2.RelayStatusRequest()).latest_height


class RoutedPeer:
    """A RelayPeer from a routing entry: its relay over gRPC; for reads, that chain's CometBFT RPC when the relay
    is unreachable, so acks and timeouts can still be proven (packets can only be handed to a relay)."""

    def __init__(self, chain_id: str, relay_grpc: str, comet_rpc: str, limits: RelayLimits = RelayLimits()) -> None:
        self.relay = GrpcPeer(chain_id, relay_grpc)
        self.endpoint = CometEndpoint(chain_id, comet_rpc)  # also where the source relay delivers directly
        self.direct = RelayCore(self.endpoint, None, limits=limits)

    def submit_packets(self, source: str, packets: list[bytes]) -> SubmitResult:
        return self.relay.submit_packets(source, packets)

    def _read(self, name: str, *args):
        try:
            return getattr(self.relay, name)(*args)
        except (PeerUnreachableError, InvalidPeerResponseError) as exc:
            log.info("relay of %s unreachable or answering garbage (%s); reading its chain through CometBFT RPC",
                     self.relay.chain_id, exc.log)
            return getattr(self.direct, name)(*args)

    def get_proofs(self, keys_: list[bytes], height: int) -> list[Proven]:
        return self._read("get_proofs", keys_, height)

    def light_block(self, height: int) -> LightBlock:
        return self._read("light_block", height)

    def latest_height(self) -> int:
        return self._read("latest_height")


class RouteDirectory:
    """RelayPeers looked up in the own chain's routing table (re-read when the entry changes)."""

    def __init__(self, endpoint, limits: RelayLimits = RelayLimits()) -> None:
        self.endpoint, self.limits = endpoint, limits
        self.peers: dict[str, tuple[object, RoutedPeer]] = {}

    def __call__(self, chain_id: str) -> RoutedPeer:
        route = lookup_route(self.endpoint, chain_id)
        cached = self.peers.get(chain_id)
        if cached is None or cached[0] != route:
            if chain_id not in self.peers and len(self.peers) >= self.limits.max_retry_entries:
                self.peers.pop(next(iter(self.peers)))  # bounded like every table of the relay
            cached = self.peers[chain_id] = (route, RoutedPeer(chain_id, route.relay_grpc, route.comet_rpc, self.limits))
        return cached[1]

    def direct(self, chain_id: str) -> CometEndpoint | None:
        """The destination's node from its routing entry, for delivering there directly; None without a route."""
        try:
            return self(chain_id).endpoint
        except DistposError:
            return None


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


def build_server(core: RelayCore, limits: RelayLimits, workers: int = 4) -> grpc.Server:
    """A gRPC server serving core, refusing messages above max_request_bytes (RESOURCE_EXHAUSTED)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers),
                         options=[("grpc.max_receive_message_length", limits.max_request_bytes)])
    add_relay_service(server, core)
    return server


def serve(cfg: RelayConfig) -> None:
    """Run the relay until SIGTERM/SIGINT: gRPC service, metrics endpoint and the worker loop."""
    key = read_key_file(cfg.key_file)
    comet = CometEndpoint(cfg.chain_id, cfg.comet_rpc, events=True)  # NewBlock events drive the worker
    queue = RelayQueue(cfg.db_dir)
    registry = Registry()
    endpoint = MeteredEndpoint(CachingEndpoint(comet), registry)
    metrics = RelayMetrics(registry, cfg.chain_id, queue)
    limits = cfg.limits()
    routes = RouteDirectory(endpoint, limits)
    relayer = Relayer(endpoint, queue, key, routes, metrics, max_tx_bytes=cfg.max_tx_bytes, gas_price=cfg.gas_price,
                      settle_interval_s=cfg.settle_interval_ms / 1000, client_refresh_pct=cfg.client_refresh_pct,
                      clients=cfg.clients, policy=load_policy(cfg.policy_file), limits=limits,
                      direct=routes.direct, min_relay_fee=cfg.min_relay_fee, fee_recipient=cfg.fee_recipient)
    server = build_server(relayer.core, limits)
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
        comet.close()
        queue.close()
        log.info("chain=%s relay stopped", cfg.chain_id)
