"""What every part of a relay shares: the answers other relays get (`RelayCore`, served over gRPC by
`service.py`), the `RelayPeer` interface through which this relay calls another, its metrics, and the routing
lookup. The supervisor (`relayer.py`) and its pair workers (`workers.py`) build on these."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..errors import (
    InboundQueueFullError,
    InvalidPacketError,
    InvalidRelayRequestError,
    NoRouteError,
    PacketNotProvenError,
    RelayError,
    RelayPolicyRefusedError,
    TooManyPacketsError,
    TooManyProofKeysError,
)
from ..interchain import keys
from ..interchain.records import Packet, decode_route
from ..lightclient.types import LightBlock
from ..metrics import Registry
from .endpoint import ChainEndpoint, Proven
from .limits import RelayLimits, compute_chunks
from .policy import Rule, allow_all, compute_policy_refusal
from .queue import IN, OUT, Entry, RelayQueue
from .verify import TrustedRoot, decode_packet_strict, get_trusted_root, is_committed, validate_proofs_answer

log = logging.getLogger("distpos.relay")

DUPLICATE_CODE = 102  # ReplayedPacketError: someone delivered it first


@dataclass(frozen=True)
class Refusal:
    """A packet a relay did not take, with the relay error code and reason."""

    sequence: int
    code: int
    reason: str


@dataclass(frozen=True)
class SubmitResult:
    """A destination relay's answer to SubmitPacket."""

    accepted: int  # newly queued by this call
    held: tuple[int, ...]  # sequences it holds (queued now or before, or already received): it will deliver them
    refused: tuple[Refusal, ...] = ()  # sequences it did not take, and why


class RelayPeer(Protocol):
    """Another chain's relay, as this relay calls it."""

    def submit_packets(self, source: str, packets: list[bytes]) -> SubmitResult: ...
    def get_proofs(self, keys_: list[bytes], height: int) -> list[Proven]: ...
    def light_block(self, height: int) -> LightBlock: ...
    def latest_height(self) -> int: ...


class RelayMetrics:
    """Pending packets, delivery latency and errors by kind."""

    def __init__(self, registry: Registry, chain_id: str, queue: RelayQueue) -> None:
        self.chain_id = chain_id
        pending = registry.gauge("distpos_relay_pending_packets", "Packets in the durable queue.",
                                 ("chain_id", "direction"))
        pending.set_function(lambda: queue.count(OUT), chain_id=chain_id, direction="outbound")
        pending.set_function(lambda: queue.count(IN), chain_id=chain_id, direction="inbound")
        self.latency = registry.histogram(
            "distpos_relay_delivery_latency_seconds", "From seeing a packet committed to its ack or timeout settling it.",
            ("chain_id", "destination"), buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300))
        self.errors = registry.counter("distpos_relay_errors_total", "Relay errors by kind.", ("chain_id", "kind"))
        self.txs = registry.counter("distpos_relay_txs_total", "Transactions submitted by message and result.",
                                    ("chain_id", "msg", "result"))
        self.settled = registry.counter("distpos_relay_settled_total", "Own packets settled, by outcome.",
                                        ("chain_id", "outcome"))
        self.below_fee = registry.counter(
            "distpos_relay_packets_below_fee_total", "Packets left to other relays: relay fee below min_relay_fee.",
            ("chain_id", "destination"))
        self.instant = registry.counter(
            "distpos_relay_instant_total", "Instant credits of the own chain: claims and releases submitted, and "
            "credits done (settled by their packet or released), by result.", ("chain_id", "step", "result"))
        self.fees = registry.counter("distpos_relay_fees_earned_total",
                                     "Relay fees paid to this relay's signer by its acknowledgements.", ("chain_id",))

    def error(self, kind: str) -> None:
        self.errors.inc(chain_id=self.chain_id, kind=kind)


class RelayCore:
    """What this relay serves to other relays (the gRPC servicer is a thin wrapper around it).

    `peers` gives the relay of a source chain (headers and proofs to check handed-over packets against); a
    core without peers serves reads only (RoutedPeer's fallback through a chain's CometBFT RPC)."""

    def __init__(self, endpoint: ChainEndpoint, queue: RelayQueue | None, clock: Callable[[], float] = time.time,
                 *, peers: Callable[[str], RelayPeer] | None = None, policy: Rule = allow_all,
                 limits: RelayLimits = RelayLimits()) -> None:
        self.endpoint, self.queue, self.clock = endpoint, queue, clock
        self.peers, self.policy, self.limits = peers, policy, limits
        self.delivered = 0
        self._roots: dict[str, TrustedRoot] = {}  # source -> newest root verified here (headers cost signatures)
        self._admit = threading.Lock()  # capacity check and queueing of one request are one step
        # told the source chain when packets of it were queued: the supervisor wakes that pair's worker
        self.on_queued: Callable[[str], None] = lambda source: None
        # (source, seq) -> (root, proof) checked when the packet was handed over: the worker submits with
        # them, without fetching header and proofs again (bounded like the inbound queue; memory only)
        self.proven: dict[tuple[str, int], tuple[TrustedRoot, Proven]] = {}

    def accept_packets(self, source: str, raws: list[bytes]) -> SubmitResult:
        """Queue the packets a source relay hands over that source's verified state holds, byte for byte.

        Refused whole, changing nothing: more than max_request_packets (147), an oversized (148), malformed or
        non-canonical packet or one not from source to this chain (103/13), a full inbound queue (145), a source
        header that does not verify (149). Per packet, in the answer: not committed with these bytes (144),
        refused by the operator policy (180). Held packets are reported every time (idempotent)."""
        chain = self.endpoint.chain_id
        if len(raws) > self.limits.max_request_packets:
            raise TooManyPacketsError(f"{len(raws)} packets in one request, more than {self.limits.max_request_packets}",
                                      chain_id=source)
        packets = [decode_packet_strict(raw, f"packet {i} from {source}") for i, raw in enumerate(raws)]
        for p in packets:
            if p.source_chain != source or p.destination_chain != chain:
                raise InvalidPacketError(f"packet {p.source_chain}->{p.destination_chain} handed over as {source}->{chain}")
        held: list[int] = []
        todo: dict[tuple[int, bytes], Packet] = {}  # distinct (sequence, bytes): a forged twin is judged on its own
        # The chain is not asked whether they were received: the worker asks right before submitting (a packet
        # received meanwhile is dropped there), so a hand-over costs the own node no query.
        for raw, p in zip(raws, packets):
            queued = self.queue.get(IN, source, p.sequence)
            if queued is not None and queued.packet == raw:
                held.append(p.sequence)
            else:
                todo.setdefault((p.sequence, raw), p)
        if not todo:
            return SubmitResult(0, tuple(sorted(set(held))))
        self._check_room(source, len(todo))
        verified, refused = self._verify(source, todo)
        with self._admit:
            self._check_room(source, len(verified))
            for seq, raw in verified:
                self.queue.put(IN, Entry(source, seq, raw.hex(), self.clock()))
                log.info("chain=%s inbound packet verified and queued source=%s seq=%d", chain, source, seq)
        if verified:
            self.on_queued(source)  # the pair's worker delivers them now rather than at its next block
        return SubmitResult(len(verified), tuple(sorted(set(held) | {seq for seq, _ in verified})), tuple(refused))

    def _check_room(self, source: str, n: int) -> None:
        pending = self.queue.count(IN)
        if pending + n > self.limits.max_inbound_packets:
            raise InboundQueueFullError(f"inbound queue holds {pending} of {self.limits.max_inbound_packets} packets; "
                                        f"{n} more from {source} do not fit", chain_id=source)

    def _verify(self, source: str, todo: dict[tuple[int, bytes], Packet]) -> tuple[list[tuple[int, bytes]], list[Refusal]]:
        """The (sequence, bytes) proven committed on source, and refusals for the rest."""
        if self.peers is None:
            raise RelayError(f"relay of {self.endpoint.chain_id} takes no packets (read-only core)", chain_id=source)
        peer = self.peers(source)
        root = self._root(source, peer)
        seqs = sorted({seq for seq, _ in todo})
        wanted = [keys.full_outbox_key(self.endpoint.chain_id, s) for s in seqs]
        proofs = dict(zip(seqs, get_proofs_checked(peer, wanted, root.height - 1, self.limits.max_proof_keys, source)))
        verified: list[tuple[int, bytes]] = []
        refused: list[Refusal] = []
        for (seq, raw), packet in sorted(todo.items()):
            key = keys.full_outbox_key(self.endpoint.chain_id, seq)
            if not is_committed(root, key, raw, proofs[seq]):
                err = PacketNotProvenError(f"packet {source}/{seq} is not committed with these bytes in {source}'s "
                                           f"state verified at header {root.height} (forged, or not provable yet)",
                                           chain_id=source, sequence=seq)
                log.warning("chain=%s refused handed-over packet: %s", self.endpoint.chain_id, err.log)
                refused.append(Refusal(seq, err.code, err.message))
                continue
            why = compute_policy_refusal(self.policy, packet)
            if why is not None:
                err = RelayPolicyRefusedError(f"packet {source}/{seq}: {why}", chain_id=source, sequence=seq)
                log.info("chain=%s not taking packet: %s", self.endpoint.chain_id, err.log)
                refused.append(Refusal(seq, err.code, err.message))
                continue
            verified.append((seq, raw))
            if len(self.proven) >= self.limits.max_inbound_packets:
                self.proven.pop(next(iter(self.proven)))
            self.proven[(source, seq)] = (root, proofs[seq])
        return verified, refused

    def _root(self, source: str, peer: RelayPeer) -> TrustedRoot:
        cached = self._roots.get(source)
        if cached is not None and cached.height >= peer.latest_height():
            return cached
        root = get_trusted_root(self.endpoint, source, peer)
        if source not in self._roots and len(self._roots) >= self.limits.max_retry_entries:
            self._roots.pop(next(iter(self._roots)))
        self._roots[source] = root
        return root

    def get_proofs(self, keys_: list[bytes], height: int) -> list[Proven]:
        """Values and proofs of at most max_proof_keys state keys at a state height (0 = latest)."""
        if len(keys_) > self.limits.max_proof_keys:
            raise TooManyProofKeysError(f"{len(keys_)} keys in one GetProof, more than {self.limits.max_proof_keys}")
        if height < 0:
            raise InvalidRelayRequestError(f"GetProof at negative height {height}")
        return self.endpoint.query_many(keys_, height, prove=True)

    def light_block(self, height: int) -> LightBlock:
        if height < 0:
            raise InvalidRelayRequestError(f"GetHeaders at negative height {height}")
        return self.endpoint.light_block(height or self.endpoint.latest()[0])

    def latest_height(self) -> int:
        return self.endpoint.latest()[0]


def get_proofs_checked(peer: RelayPeer, keys_: list[bytes], height: int, chunk: int, chain_id: str) -> list[Proven]:
    """peer's proofs of keys_, asked at most chunk keys at a time, each answer checked to be for the keys asked."""
    out: list[Proven] = []
    for part in compute_chunks(keys_, chunk):
        got = peer.get_proofs(part, height)
        validate_proofs_answer(part, got, chain_id)
        out.extend(got)
    return out


class LocalPeer:
    """A RelayPeer calling another relay's core in-process (tests)."""

    def __init__(self, core: RelayCore) -> None:
        self.core = core

    def submit_packets(self, source: str, packets: list[bytes]) -> SubmitResult:
        return self.core.accept_packets(source, packets)

    def get_proofs(self, keys_: list[bytes], height: int) -> list[Proven]:
        return self.core.get_proofs(keys_, height)

    def light_block(self, height: int) -> LightBlock:
        return self.core.light_block(height)

    def latest_height(self) -> int:
        return self.core.latest_height()



def lookup_route(endpoint: ChainEndpoint, remote: str):
    """The routing entry for remote in endpoint's chain state."""
    raw = endpoint.query(keys.PREFIX + keys.route_key(remote)).value
    if raw is None:
        raise NoRouteError(f"chain {endpoint.chain_id} has no route to {remote}")
    return decode_route(raw)
