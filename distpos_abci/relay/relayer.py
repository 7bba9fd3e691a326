"""The relay worker: watch the own chain's outbox, hand packets to destination relays, deliver packets
received from source relays into the own chain, settle own packets with acks or timeouts, keep light
clients fresh. One `step()` does one round of each; `run()` runs a round per committed block of the own chain
(websocket events) or as soon as packets are handed over. Transactions into the own chain are pipelined
(`submitter.py`): a round does not wait for the previous round's transactions to commit.

Each relay submits transactions to its own chain only, signed with its own key:
  source relay       scan -> push packets to the destination relay -> later: MsgAcknowledge / MsgTimeout
  destination relay  queue packets pushed to it -> MsgRecvPackets (with the light-client update)
Proofs and headers of the other chain come from the other chain's relay (GetProof, GetHeaders).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from ..address import Address
from ..crypto import KeyPair
from ..errors import (
    DistposError,
    HandoffRefusedError,
    InboundQueueFullError,
    InvalidPacketError,
    InvalidRelayRequestError,
    NoRouteError,
    PacketNotProvenError,
    ProvenBytesMismatchError,
    RelayError,
    RelayFeeBelowMinimumError,
    OutboundQueueFullError,
    RelayPolicyRefusedError,
    TooManyPacketsError,
    TooManyProofKeysError,
)
from ..gen.distpos.v1 import interchain_pb2, tx_pb2
from ..interchain import decode_packet, keys
from ..interchain.forwarding import is_final_ack_bytes
from ..interchain.records import Packet
from ..interchain.keeper import is_timed_out
from ..interchain.records import decode_client_state, decode_consensus_state, decode_route
from ..lightclient.types import LightBlock, light_block_to_proto
from ..lightclient.verifier import compute_update_path
from ..metrics import Registry
from .backoff import compute_handover_delay, exponential_backoff, is_direct_due
from .batch import compute_batches, compute_envelope_bytes
from .endpoint import ChainEndpoint, Proven, Submitted, TxOutcome, get_max_tx_bytes
from .limits import RelayLimits, compute_chunks
from .policy import Rule, allow_all, compute_policy_refusal
from .queue import IN, OUT, SUBMITTED, Entry, RelayQueue
from .submitter import Submitter, is_bad_nonce
from .verify import TrustedRoot, decode_packet_strict, get_trusted_root, is_committed, validate_proofs_answer

log = logging.getLogger("distpos.relay")

SCAN_BLOCKS_PER_STEP = 200
DUPLICATE_CODE = 102  # ReplayedPacketError: someone delivered it first
WAKE_SLICE_S = 0.02  # how often the idle loop looks at the wake flag between block events
TX_LIMIT_TTL_S = 60.0
SETTLE_PROOF_CHUNKS = 4  # a settle round proves at most this many GetProof requests' worth of packets per chain
REMOTE_POLL_S = 0.1  # while acks are owed, how often the destination's height is looked at
HANDOVER_THREADS = 4  # SubmitPacket calls in parallel (the destination's gRPC server runs 4 workers)  # a chain's max_tx_bytes is re-read this often (governance may change it)


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
        self.wake = threading.Event()  # set when packets were queued: the worker's loop wakes up
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
        received = self.endpoint.query_many([keys.full_inbox_key(source, p.sequence) for p in packets])
        for raw, p, rec in zip(raws, packets, received):
            queued = self.queue.get(IN, source, p.sequence)
            if (queued is not None and queued.packet == raw) or rec.value is not None:
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
            self.wake.set()  # the worker delivers them now rather than at its next block
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


class Relayer:
    """The worker of one chain's relay: one round per committed block of its chain (or handed-over packets)."""

    def __init__(self, endpoint: ChainEndpoint, queue: RelayQueue, key: KeyPair,
                 peers: Callable[[str], RelayPeer], metrics: RelayMetrics | None = None, *,
                 max_tx_bytes: int = 0, settle_interval_s: float = 2.0, client_refresh_pct: int = 50,
                 clients: tuple[str, ...] = (), policy: Rule = allow_all, limits: RelayLimits = RelayLimits(),
                 direct: Callable[[str], ChainEndpoint | None] | None = None,
                 clock: Callable[[], float] = time.time, min_relay_fee: int = 0, fee_recipient: str = "",
                 gas_price: int = 0) -> None:
        self.ep, self.queue, self.key, self.peers = endpoint, queue, key, peers
        self.min_relay_fee, self.fee_recipient = min_relay_fee, fee_recipient
        self._fees_unforwarded = 0  # earned and not yet forwarded to fee_recipient (memory only: they stay ours)
        self.chain = endpoint.chain_id
        self.limits, self.direct = limits, direct
        self.core = RelayCore(endpoint, queue, clock, peers=self.route_peer, policy=policy, limits=limits)
        self.metrics = metrics or RelayMetrics(Registry(), self.chain, queue)
        self.max_tx_bytes_override, self.settle_interval_s = max_tx_bytes, settle_interval_s
        self.client_refresh_pct, self.clients, self.policy, self.clock = client_refresh_pct, clients, policy, clock
        self._last_settle = 0.0
        self._retry: dict[tuple[str, str], tuple[int, float]] = {}  # (what, chain) -> (attempts, next try)
        self.gas_price = gas_price  # milli-units per gas on every chain it signs for; 0 = each chain's minimum
        self.own = Submitter(endpoint, key, self._count_tx(""), gas_price)
        self._remote: dict[str, Submitter] = {}  # chains this relay delivers into directly
        self._inflight_in: set[tuple[str, int]] = set()  # (source, seq) in a recv tx not yet committed
        self._inflight_out: set[tuple[str, int]] = set()  # (destination, seq) in an ack tx not yet committed
        self._tx_limits: dict[str, tuple[int, float]] = {}  # chain -> (max_tx_bytes, read at)
        self._handover_pool: ThreadPoolExecutor | None = None
        self._awaiting_acks: set[str] = set()  # destinations holding handed-over packets of this chain
        self._remote_heights: dict[str, int] = {}  # their latest heights, as last seen

    # ---- the loop -------------------------------------------------------------------------------------

    def step(self) -> None:
        """One round: outcomes of own txs, push, deliver inbound, scan, settle (every settle interval),
        refresh clients. Nothing before the chain's first block (its state cannot be read yet)."""
        try:
            if self.ep.committed_height() < 1:
                return
        except DistposError:
            pass  # unreachable: the steps below count the failure and back off
        # Push and deliver before the scan: the packets found by this round's scan cannot be proven before the
        # next block anyway, and the scan's queries would delay the hand-over of those that can.
        for name, fn in (("blocks", self.absorb_blocks), ("push", self.push_outbound),
                         ("deliver", self.deliver_inbound), ("scan", self.scan)):
            self._guard(name, fn)
        if self.clock() - self._last_settle >= self.settle_interval_s:
            self._last_settle = self.clock()
            self._guard("settle", self.settle_outbound)
            self._guard("refresh", self.refresh_clients)

    def run(self, poll_interval_s: float, stop: Callable[[], bool] = lambda: False) -> None:
        """Rounds until stop(): each as soon as the own chain commits a block (websocket event) or packets are
        handed over, at the latest every poll_interval_s."""
        log.info("chain=%s relay worker started; %d outbound, %d inbound pending", self.chain,
                 self.queue.count(OUT), self.queue.count(IN))
        while not stop():
            seen = self._committed()
            self.core.wake.clear()
            self.step()
            deadline = time.monotonic() + poll_interval_s
            next_look = time.monotonic() + REMOTE_POLL_S
            while not stop() and not self.core.wake.is_set() and time.monotonic() < deadline:
                if self.ep.wait_block(seen, WAKE_SLICE_S):
                    break
                if time.monotonic() >= next_look:
                    next_look = time.monotonic() + REMOTE_POLL_S
                    if self._remote_progress():
                        self._last_settle = 0.0  # acks may be provable now: settle in this round
                        break

    def _remote_progress(self) -> bool:
        """True when a chain that owes this relay acks committed a block since the last look (its relay's
        Status): the acks of packets credited there become provable with that header, so a round runs then
        rather than at this chain's next block."""
        moved = False
        for dest in list(self._awaiting_acks):
            try:
                h = self.route_peer(dest).latest_height()
            except DistposError:
                continue
            if h > self._remote_heights.get(dest, 0):
                moved = moved or dest in self._remote_heights
                self._remote_heights[dest] = h
        return moved

    def _committed(self) -> int:
        try:
            return self.ep.committed_height()
        except DistposError:
            return 0

    def _guard(self, name: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except DistposError as exc:
            self.metrics.error(f"{name}:{exc.codespace}:{exc.code}")
            log.warning("chain=%s %s failed (will retry): %s", self.chain, name, exc.log)
        except Exception:  # the worker must outlive one bad round
            self.metrics.error(f"{name}:internal")
            log.exception("chain=%s %s failed", self.chain, name)

    def _due(self, what: str, chain: str) -> bool:
        return self.clock() >= self._retry.get((what, chain), (0, 0.0))[1]

    def _failed(self, what: str, chain: str, kind: str) -> None:
        key = (what, chain)
        if key not in self._retry and len(self._retry) >= self.limits.max_retry_entries:
            # Bounded: forgetting the soonest-due record only makes that retry come a little early.
            victim = min(self._retry, key=lambda k: self._retry[k][1])
            del self._retry[victim]
            log.warning("chain=%s retry table full (%d): forgot the back-off of %s/%s", self.chain,
                        self.limits.max_retry_entries, *victim)
        attempts = self._retry.get(key, (0, 0.0))[0] + 1
        delay = exponential_backoff(attempts)
        self._retry[key] = (attempts, self.clock() + delay)
        self.metrics.error(kind)
        log.warning("chain=%s %s to/from %s failed (%s); retry %d in %.1fs", self.chain, what, chain, kind, attempts, delay)

    def _succeeded(self, what: str, chain: str) -> None:
        self._retry.pop((what, chain), None)

    # ---- submitting: pipelined into the own chain, one at a time into another ---------------------------

    def _count_tx(self, suffix: str) -> Callable[[str, int, str], None]:
        def count(field_: str, code: int, codespace: str) -> None:
            self.metrics.txs.inc(chain_id=self.chain, msg=field_ + suffix,
                                 result="ok" if code == 0 else f"{codespace}:{code}")
        return count

    def _submitter(self, target: ChainEndpoint | None) -> Submitter:
        if target is None or target is self.ep or target.chain_id == self.chain:
            return self.own
        sub = self._remote.get(target.chain_id)
        if sub is None:
            if len(self._remote) >= self.limits.max_retry_entries:
                self._remote.pop(next(iter(self._remote)))  # bounded; a forgotten nonce is re-read
            sub = self._remote[target.chain_id] = Submitter(target, self.key, self._count_tx(f"@{target.chain_id}"),
                                                                    self.gas_price)
        sub.ep = target
        return sub

    def _submit(self, field_: str, msg, target: ChainEndpoint | None = None) -> Submitted:
        """Submit msg and wait for its block (client updates, timeouts, direct deliveries: the rare steps)."""
        return self._submitter(target).send_and_wait(field_, msg)

    def absorb_blocks(self) -> None:
        """Apply the outcomes of own transactions in the blocks committed since the last round."""
        top = self.ep.committed_height()
        if not self.own.inflight or self.own.seen_height == 0:
            self.own.seen_height = max(self.own.seen_height, top)  # nothing to learn from the blocks between
            return
        for h in range(self.own.seen_height + 1, top + 1):
            self.own.on_block(self.ep.block(h))

    def tx_limit(self, target: ChainEndpoint) -> int:
        """max_tx_bytes of target: the config's override for the own chain, else the chain's parameter (re-read
        every TX_LIMIT_TTL_S: governance may change it)."""
        if self.max_tx_bytes_override and target.chain_id == self.chain:
            return self.max_tx_bytes_override
        cached = self._tx_limits.get(target.chain_id)
        if cached is None or self.clock() - cached[1] > TX_LIMIT_TTL_S:
            if len(self._tx_limits) >= self.limits.max_retry_entries:
                self._tx_limits.pop(next(iter(self._tx_limits)))
            cached = self._tx_limits[target.chain_id] = (get_max_tx_bytes(target), self.clock())
        return cached[0]

    def _batches(self, target: ChainEndpoint, field_: str, empty_msg, base_bytes: int, update_bytes: int,
                 entry_bytes: list[int]) -> list[int]:
        envelope = compute_envelope_bytes(self.key, target.chain_id, field_, empty_msg)
        return compute_batches(entry_bytes, base_bytes, update_bytes, self.tx_limit(target), envelope)

    def _client(self, remote: str, target: ChainEndpoint | None = None):
        raw = (target or self.ep).query(keys.PREFIX + keys.client_key(remote)).value
        return decode_client_state(raw) if raw else None

    def _proof_point(self, remote: str, peer: RelayPeer,
                     target: ChainEndpoint | None = None) -> tuple[int, LightBlock | None, int]:
        """(proof height, update to include or None, header time) for proving remote's latest state to target."""
        target = target or self.ep
        latest = peer.latest_height()
        client = self._client(remote, target)
        if client is not None and client.latest_height >= latest:
            cons = decode_consensus_state(target.query(keys.PREFIX + keys.consensus_key(remote, client.latest_height)).value)
            return client.latest_height, None, cons.time_ns
        lb = peer.light_block(latest)
        if client is not None:
            # Checked here first with the same pure light client the chain runs: a bad header costs no tx, and
            # when the remote validator set rotated too far for one skip, the bisection's intermediate headers
            # are submitted first.
            _, now = target.latest()
            path = compute_update_path(client, lb, peer.light_block, now)
            for step in path[:-1]:
                m = interchain_pb2.MsgUpdateClient(chain_id=remote)
                light_block_to_proto(step, m.update)
                res = self._submit("update_client", m, target)
                if res.code != 0:
                    raise RelayError(f"client update of {remote} to {step.height} refused: {res.log}", chain_id=remote)
                log.info("chain=%s light client of %s on %s bisected to height %d", self.chain, remote,
                         target.chain_id, step.height)
        return latest, lb, lb.signed_header.header.time_ns

    def route_peer(self, remote: str) -> RelayPeer:
        return self.peers(remote)

    def _proofs(self, peer: RelayPeer, keys_: list[bytes], height: int, chain_id: str) -> list[Proven]:
        return get_proofs_checked(peer, keys_, height, self.limits.max_proof_keys, chain_id)

    # ---- source side ---------------------------------------------------------------------------------

    def scan(self) -> None:
        """Queue the packets committed in blocks since the cursor (the outbox values, exactly).

        Reads only committed heights (their events come with the block), one state query per height for all
        its packets. Pauses, without advancing the cursor, while the outbound queue holds max_outbound_packets:
        the packets wait in the chain's outbox, nothing is lost."""
        top = self.ep.committed_height()
        h = self.queue.get_cursor() + 1
        end = min(top, h + SCAN_BLOCKS_PER_STEP - 1)
        while h <= end:
            pending = self.queue.count(OUT)
            if pending >= self.limits.max_outbound_packets:
                err = OutboundQueueFullError(f"outbound queue holds {pending} packets (max_outbound_packets); "
                                             f"scan paused before height {h}")
                self.metrics.error(f"scan:{err.codespace}:{err.code}")
                log.warning("chain=%s %s", self.chain, err.log)
                return
            sends = [(ev.attrs["destination"], int(ev.attrs["sequence"])) for ev in self.ep.block(h).events()
                     if ev.type == "send_packet" and ev.attrs.get("source") == self.chain]
            found = []
            values = self.ep.query_many([keys.full_outbox_key(dest, seq) for dest, seq in sends])
            for (dest, seq), pr in zip(sends, values):
                if pr.value is None:  # absent: already settled by another relay
                    continue
                fee = decode_packet(pr.value).relay_fee
                if fee < self.min_relay_fee:
                    err = RelayFeeBelowMinimumError(f"packet {dest}/{seq} pays a relay fee of {fee}, below "
                                                    f"min_relay_fee {self.min_relay_fee}: left to other relays")
                    self.metrics.below_fee.inc(chain_id=self.chain, destination=dest)
                    log.info("chain=%s %s", self.chain, err.log)
                    continue
                found.append(Entry(dest, seq, pr.value.hex(), self.clock(), height=h))
            if found:
                log.info("chain=%s %d packets committed at height %d: %s", self.chain, len(found), h,
                         ",".join(f"{e.chain}/{e.sequence}" for e in found))
            self.queue.record_scan(h, found)
            h += 1
    def push_outbound(self) -> None:
        """Hand own packets to their destination's relay until one of them is received there.

        A packet is handed over once provable (a header above its block exists), then again after backoff when
        the relay did not take it, or after resend_after_s when it took it but the packet is still pending (it
        may have been dropped). After direct_after_attempts hand-overs this relay delivers it itself through the
        destination's node (the routing entry's CometBFT RPC): a relay that drops packets delays them, it never
        makes them time out."""
        latest = self.ep.committed_height()
        now = self.clock()
        by_dest: dict[str, list[Entry]] = {}
        for e in self.queue.entries(OUT):
            if e.height < latest and e.next_try <= now:
                by_dest.setdefault(e.chain, []).append(e)
        for dest, entries in by_dest.items():
            limit = self.limits.direct_after_attempts
            mine = [e for e in entries if is_direct_due(e.attempts, limit, self.direct is not None)]
            target = self.direct(dest) if mine and self.direct is not None else None
            if target is not None:
                self._deliver_direct(dest, target, mine)
                entries = [e for e in entries if e not in mine]
            chunks = compute_chunks(entries, self.limits.max_request_packets)
            if len(chunks) == 1:
                self._hand_over(dest, chunks[0])
            else:  # the destination relay checks them in parallel: a burst is handed over in one round trip
                list(self._pool().map(lambda c: self._hand_over(dest, c), chunks))

    def _pool(self) -> ThreadPoolExecutor:
        if self._handover_pool is None:
            self._handover_pool = ThreadPoolExecutor(HANDOVER_THREADS, thread_name_prefix="relay-handover")
        return self._handover_pool

    def _hand_over(self, dest: str, chunk: list[Entry]) -> None:
        now = self.clock()
        for e in chunk:
            e.attempts += 1
        try:
            res = self.route_peer(dest).submit_packets(self.chain, [e.packet for e in chunk])
        except DistposError as exc:
            self.metrics.error(f"push:{exc.codespace}:{exc.code}")
            for e in chunk:
                self._reschedule(e, now + compute_handover_delay(e.attempts, False, self.limits.resend_after_s))
            log.warning("chain=%s hand-over of %d packets to relay of %s failed (%s); seq=%s retry in %.1fs+",
                        self.chain, len(chunk), dest, exc.log, ",".join(str(e.sequence) for e in chunk),
                        exponential_backoff(min(e.attempts for e in chunk)))
            return
        held = set(res.held)
        why = {r.sequence: r for r in res.refused}
        for e in chunk:
            if e.sequence in held:
                e.state = SUBMITTED
                self._reschedule(e, now + compute_handover_delay(e.attempts, True, self.limits.resend_after_s))
                log.info("chain=%s packet handed to relay of %s seq=%d (hand-over %d)", self.chain, dest,
                         e.sequence, e.attempts)
                continue
            r = why.get(e.sequence)
            err = HandoffRefusedError(f"relay of {dest} did not take seq={e.sequence}"
                                      + (f": relay:{r.code}: {r.reason}" if r else " (no reason given)"),
                                      chain_id=dest, sequence=e.sequence)
            self.metrics.error(f"push:{err.codespace}:{err.code}")
            delay = compute_handover_delay(e.attempts, False, self.limits.resend_after_s)
            self._reschedule(e, now + delay)
            log.warning("chain=%s %s; hand-over %d, next in %.1fs", self.chain, err.log, e.attempts, delay)

    def _reschedule(self, e: Entry, at: float) -> None:
        e.next_try = at
        if self.queue.get(OUT, e.chain, e.sequence) is not None:  # not settled meanwhile
            self.queue.put(OUT, e)

    def _deliver_direct(self, dest: str, target: ChainEndpoint, entries: list[Entry]) -> None:
        """Deliver own packets into dest through its node, as dest's relay would have (the settle step acks)."""
        now = self.clock()
        for e in entries:
            e.attempts += 1
        try:
            self._deliver(target, self.chain, LocalPeer(self.core), entries, None,
                          lambda batch, es: self._submit_recv_direct(target, batch, es))
        except DistposError as exc:
            self.metrics.error(f"direct:{exc.codespace}:{exc.code}")
            for e in entries:
                self._reschedule(e, now + compute_handover_delay(e.attempts, False, self.limits.resend_after_s))
            log.warning("chain=%s direct delivery to %s failed: %s", self.chain, dest, exc.log)
            return
        for e in entries:
            e.state = SUBMITTED
            self._reschedule(e, now + compute_handover_delay(e.attempts, True, self.limits.resend_after_s))

    def _submit_recv_direct(self, target: ChainEndpoint, batch, entries: list[Entry]) -> bool:
        res = self._submit("recv_packets", batch, target)
        seqs = ",".join(str(e.sequence) for e in entries)
        if res.code == 0:
            log.info("chain=%s delivered packets to %s directly (its relay did not) seq=%s at height %d", self.chain,
                     target.chain_id, seqs, res.height)
        elif res.code == DUPLICATE_CODE:
            log.info("chain=%s packets to %s seq=%s: received meanwhile", self.chain, target.chain_id, seqs)
        else:
            raise RelayError(f"direct recv into {target.chain_id} seq={seqs} refused: {res.log}", chain_id=target.chain_id)
        return True

    def settle_outbound(self) -> None:
        """Acknowledge (or time out) own packets whose fate is proven on their destination."""
        by_dest: dict[str, list[Entry]] = {}
        awaiting: set[str] = set()
        for e in self.queue.entries(OUT):
            # NEW entries too: a packet never handed over (destination relay down) still times out and is refunded
            if (e.chain, e.sequence) not in self._inflight_out:
                by_dest.setdefault(e.chain, []).append(e)
                if e.state == SUBMITTED:
                    awaiting.add(e.chain)
        self._awaiting_acks = set(list(awaiting)[:self.limits.max_retry_entries])
        for gone in set(self._remote_heights) - awaiting:
            del self._remote_heights[gone]
        for dest, entries in by_dest.items():
            # Bounded work per round (oldest first): under load the rest waits a round or two, the worker
            # keeps its rounds short for the inbound deliveries.
            entries = entries[:SETTLE_PROOF_CHUNKS * self.limits.max_proof_keys]
            if self._due("settle", dest):
                try:
                    self._settle_dest(dest, entries)
                    self._succeeded("settle", dest)
                except DistposError as exc:
                    self._failed("settle", dest, f"settle:{exc.codespace}:{exc.code}")
        self.forward_fees()

    def forward_fees(self) -> None:
        """Send the relay fees earned since the last forward to fee_recipient (one MsgSend). A refused or failed
        forward is tried again next round; a restart forgets the count, the coins stay in the signer's account."""
        amount, self._fees_unforwarded = self._fees_unforwarded, 0
        if not amount:
            return
        sender = str(Address.from_pub_key(self.chain, self.key.pub_key))
        msg = tx_pb2.MsgSend(from_address=sender, to_address=self.fee_recipient, amount=amount)

        def done(out: TxOutcome | None) -> None:
            if out is None or out.code != 0:
                self._fees_unforwarded += amount
            else:
                log.info("chain=%s forwarded %d of relay fees to %s", self.chain, amount, self.fee_recipient)

        if self.own.send("send", msg, done).code != 0:
            self._fees_unforwarded += amount

    def _drop_settled(self, dest: str, entries: list[Entry]) -> list[Entry]:
        live = []
        found = self.ep.query_many([keys.full_outbox_key(dest, e.sequence) for e in entries])
        for e, pr in zip(entries, found):
            if pr.value is None:
                self.queue.delete(OUT, dest, e.sequence)
                self.metrics.settled.inc(chain_id=self.chain, outcome="elsewhere")
            else:
                live.append(e)
        return live

    def _settle_dest(self, dest: str, entries: list[Entry]) -> None:
        entries = self._drop_settled(dest, entries)
        if not entries:
            return
        peer = self.route_peer(dest)
        height, update, header_time = self._proof_point(dest, peer)
        proofs = self._proofs(peer, [keys.full_inbox_key(self.chain, e.sequence) for e in entries], height - 1, dest)
        acked: list[tuple[Entry, Proven]] = []
        timeouts: list[tuple[Entry, Proven]] = []
        for e, pr in zip(entries, proofs):
            if pr.proof is None:
                continue
            if pr.value is not None:
                if is_final_ack_bytes(pr.value):  # a middle hop's pending ack: its final ack comes later
                    acked.append((e, pr))
            elif is_timed_out(decode_packet(e.packet), height, header_time):
                timeouts.append((e, pr))
        if acked:
            update = None if self._send_acks(dest, height, update, acked) else update
        for e, pr in timeouts:
            m = interchain_pb2.MsgTimeout(destination_chain=dest, proof_height=height, packet=e.packet,
                                          proof=pr.proof.to_proto())
            if update is not None:
                light_block_to_proto(update, m.update)
            res = self._submit("timeout", m)
            if res.code != 0:
                raise RelayError(f"timeout of {dest}/{e.sequence} refused: {res.log}", chain_id=dest, sequence=e.sequence)
            update = None
            self._finish(e, "timed_out")

    def _send_acks(self, dest: str, height: int, update: LightBlock | None, acked: list[tuple[Entry, Proven]]) -> bool:
        """MsgAcknowledge for every proven ack, in messages that fit, pipelined; True when the update went out."""
        empty = interchain_pb2.MsgAcknowledge(destination_chain=dest, proof_height=height)
        update_bytes = 0
        if update is not None:
            with_update = interchain_pb2.MsgAcknowledge()
            light_block_to_proto(update, with_update.update)
            update_bytes = with_update.ByteSize()
        sizes = []
        for e, pr in acked:
            one = interchain_pb2.MsgAcknowledge()
            one.acks.add(packet=e.packet, ack=pr.value, proof=pr.proof.to_proto())
            sizes.append(one.ByteSize())
        start, sent_update = 0, False
        for n in self._batches(self.ep, "acknowledge", empty, empty.ByteSize(), update_bytes, sizes):
            chunk = acked[start:start + n]
            start += n
            m = interchain_pb2.MsgAcknowledge(destination_chain=dest, proof_height=height)
            if update is not None and not sent_update:
                light_block_to_proto(update, m.update)
            for e, pr in chunk:
                m.acks.add(packet=e.packet, ack=pr.value, proof=pr.proof.to_proto())
            entries = [e for e, _ in chunk]
            res = self.own.send("acknowledge", m, lambda out, es=entries: self._acks_done(dest, es, out))
            if res.code != 0:
                if is_bad_nonce(res):
                    log.info("chain=%s acks to %s wait for the nonce re-sync: %s", self.chain, dest, res.log)
                    return sent_update
                raise RelayError(f"acknowledge to {dest} refused: {res.log}", chain_id=dest)
            sent_update = update is not None
            self._inflight_out.update((dest, e.sequence) for e in entries)
        return sent_update

    def _acks_done(self, dest: str, entries: list[Entry], out: TxOutcome | None) -> None:
        for e in entries:
            self._inflight_out.discard((dest, e.sequence))
        if out is not None and out.code == 0:
            earned = sum(decode_packet(e.packet).relay_fee for e in entries)
            if earned:
                self.metrics.fees.inc(earned, chain_id=self.chain)
                self._fees_unforwarded += earned if self.fee_recipient else 0
            for e in entries:
                self._finish(e, "acked")
        elif out is not None:
            self.metrics.error(f"settle:{out.codespace}:{out.code}")
            log.warning("chain=%s acknowledge to %s seq=%s failed in its block: %s", self.chain, dest,
                        ",".join(str(e.sequence) for e in entries), out.log)

    def _finish(self, e: Entry, outcome: str) -> None:
        self.queue.delete(OUT, e.chain, e.sequence)
        self.metrics.settled.inc(chain_id=self.chain, outcome=outcome)
        self.metrics.latency.observe(max(0.0, self.clock() - e.first_seen), chain_id=self.chain, destination=e.chain)
        log.info("chain=%s packet settled dest=%s seq=%d outcome=%s latency=%.2fs", self.chain, e.chain, e.sequence,
                 outcome, self.clock() - e.first_seen)

    # ---- destination side ----------------------------------------------------------------------------

    def deliver_inbound(self) -> None:
        """Submit queued inbound packets to the own chain, with the source's header, in as few txs as fit;
        packets whose tx is in flight wait for its block."""
        by_src: dict[str, list[Entry]] = {}
        for e in self.queue.entries(IN):
            if (e.chain, e.sequence) not in self._inflight_in:
                by_src.setdefault(e.chain, []).append(e)
        for src, entries in by_src.items():
            if self._due("deliver", src):
                try:
                    self._deliver_src(src, entries)
                    self._succeeded("deliver", src)
                except DistposError as exc:
                    self._failed("deliver", src, f"deliver:{exc.codespace}:{exc.code}")

    def _deliver_src(self, src: str, entries: list[Entry]) -> None:
        """Packets proven at hand-over go in groups of one root each (oldest first), the rest with a fresh proof."""
        groups: dict[int, list[Entry]] = {}
        for e in entries:
            got = self.core.proven.get((src, e.sequence))
            groups.setdefault(got[0].height if got else 0, []).append(e)
        for height in sorted(groups, key=lambda h: (h == 0, h)):
            try:
                dropped = self._deliver(self.ep, src, self.route_peer(src), groups[height], self.policy,
                                        lambda batch, es: self._submit_recv(src, batch, es))
            except DistposError:
                self._forget_proofs(src, groups[height])  # proven afresh on the retry
                raise
            self._forget_proofs(src, dropped)
            for e in dropped:
                self.queue.delete(IN, src, e.sequence)

    def _deliver(self, target: ChainEndpoint, src: str, source: RelayPeer, entries: list[Entry],
                 policy: Rule | None, submit_batch: Callable[[interchain_pb2.MsgRecvPackets, list[Entry]], bool]) -> list[Entry]:
        """Submit src's packets of entries into target, proven by source, in batches that fit; return the entries
        that need no delivery (received already, timed out on target, refused by policy).

        Timeout and policy are decided on the proven bytes, exactly the bytes submitted, never on queued ones.
        All packets are proven at one height of src (whatever heights committed them), one GetProof per
        max_proof_keys; the first message carries the light-client update. submit_batch answers whether to go
        on with the next message (not after a refusal: the later ones depend on the first's update)."""
        target_height, target_time = target.latest()
        done: list[Entry] = []
        live: list[Entry] = []
        received = target.query_many([keys.full_inbox_key(src, e.sequence) for e in entries])
        for e, rec in zip(entries, received):
            if rec.value is not None:
                done.append(e)  # already received (by us before a crash, or another relay)
            else:
                live.append(e)
        if not live:
            return done
        cached = self._handed_over_proofs(src, live, target)
        if cached is not None:
            height, update, proofs = cached
        else:
            height, update, _ = self._proof_point(src, source, target)
            proofs = self._proofs(source, [keys.full_outbox_key(target.chain_id, e.sequence) for e in live],
                                  height - 1, src)
        ready: list[tuple[Entry, bytes, Proven]] = []
        for e, pr in zip(live, proofs):
            if pr.value is None or pr.proof is None:
                continue  # not committed at that height yet (or settled meanwhile): next round
            raw = pr.value
            try:
                packet = decode_packet_strict(raw, f"proven packet {src}/{e.sequence}")
            except DistposError as exc:
                log.warning("chain=%s proven packet %s/%d undecodable, dropped: %s", self.chain, src, e.sequence, exc.log)
                done.append(e)
                continue
            if raw != e.packet:
                err = ProvenBytesMismatchError(f"queued packet {src}/{e.sequence} differs from the proven one; "
                                               f"judging and submitting the proven bytes", chain_id=src, sequence=e.sequence)
                self.metrics.error(f"deliver:{err.codespace}:{err.code}")
                log.warning("chain=%s %s", self.chain, err.log)
            if is_timed_out(packet, target_height + 1, target_time):
                done.append(e)
                log.info("chain=%s packet from %s seq=%d timed out on %s; its source will refund it", self.chain, src,
                         e.sequence, target.chain_id)
                continue
            refusal = compute_policy_refusal(policy, packet) if policy is not None else None
            if refusal is not None:
                err = RelayPolicyRefusedError(f"packet from {src} seq={e.sequence}: {refusal}", chain_id=src,
                                              sequence=e.sequence)
                self.metrics.error("policy")
                log.info("chain=%s refused by relay policy: %s", self.chain, err.log)
                done.append(e)
                continue
            ready.append((e, raw, pr))
        if not ready:
            return done
        empty = interchain_pb2.MsgRecvPackets(source_chain=src, proof_height=height)
        update_bytes = 0
        if update is not None:
            with_update = interchain_pb2.MsgRecvPackets()
            light_block_to_proto(update, with_update.update)
            update_bytes = with_update.ByteSize()
        sizes = []
        for _, raw, pr in ready:
            one = interchain_pb2.MsgRecvPackets()
            one.packets.add(packet=raw, proof=pr.proof.to_proto())
            sizes.append(one.ByteSize())
        start = 0
        for n in self._batches(target, "recv_packets", empty, empty.ByteSize(), update_bytes, sizes):
            chunk = ready[start:start + n]
            batch = interchain_pb2.MsgRecvPackets(source_chain=src, proof_height=height)
            if update is not None and start == 0:
                light_block_to_proto(update, batch.update)
            for _, raw, pr in chunk:
                batch.packets.add(packet=raw, proof=pr.proof.to_proto())
            start += n
            if not submit_batch(batch, [e for e, _, _ in chunk]):
                break
        return done

    def _handed_over_proofs(self, src: str, live: list[Entry],
                            target: ChainEndpoint) -> tuple[int, LightBlock | None, list[Proven]] | None:
        """(height, update, proofs) from the checks made when these packets were handed over, when all of them
        were proven under one root that the own chain's client holds or one update reaches; else None."""
        if target is not self.ep:
            return None
        got = [self.core.proven.get((src, e.sequence)) for e in live]
        if not got or any(g is None for g in got) or len({g[0].height for g in got}) != 1:
            return None
        root = got[0][0]
        client = self._client(src)
        if client is None:
            return None
        if client.latest_height >= root.height:
            update = None
        elif root.update is not None:
            update = root.update
        else:
            return None
        return root.height, update, [g[1] for g in got]

    def _forget_proofs(self, src: str, entries: list[Entry]) -> None:
        for e in entries:
            self.core.proven.pop((src, e.sequence), None)

    def _submit_recv(self, src: str, batch, entries: list[Entry]) -> bool:
        """Hand one MsgRecvPackets to the mempool; its block settles the queue entries (`_recv_done`)."""
        seqs = ",".join(str(e.sequence) for e in entries)
        res = self.own.send("recv_packets", batch, lambda out: self._recv_done(src, entries, out))
        if res.code == 0:
            self._inflight_in.update((src, e.sequence) for e in entries)
            log.info("chain=%s submitted packets from %s seq=%s", self.chain, src, seqs)
            return True
        if is_bad_nonce(res):  # not sent: the same packets go in the next round's tx, once
            log.info("chain=%s packets from %s seq=%s wait for the nonce re-sync: %s", self.chain, src, seqs, res.log)
            return False
        if res.code == DUPLICATE_CODE:  # someone was faster with one of them: the next round filters
            log.info("chain=%s packets from %s seq=%s: duplicate, rechecking", self.chain, src, seqs)
            return False
        raise RelayError(f"recv of {src} seq={seqs} refused: {res.log}", chain_id=src)

    def _recv_done(self, src: str, entries: list[Entry], out: TxOutcome | None) -> None:
        for e in entries:
            self._inflight_in.discard((src, e.sequence))
        seqs = ",".join(str(e.sequence) for e in entries)
        if out is None:
            log.warning("chain=%s packets from %s seq=%s: tx dropped before a block; taken up again", self.chain,
                        src, seqs)
        elif out.code == 0:
            self._forget_proofs(src, entries)
            for e in entries:
                self.queue.delete(IN, src, e.sequence)
                self.core.delivered += 1
            log.info("chain=%s received packets from %s seq=%s", self.chain, src, seqs)
        elif out.code == DUPLICATE_CODE:
            log.info("chain=%s packets from %s seq=%s: duplicate in the block, rechecking", self.chain, src, seqs)
        else:
            self._forget_proofs(src, entries)  # fetched afresh next round
            self.metrics.error(f"deliver:{out.codespace}:{out.code}")
            log.warning("chain=%s recv of %s seq=%s failed in its block: %s", self.chain, src, seqs, out.log)

    # ---- light clients ---------------------------------------------------------------------------------

    def refresh_clients(self) -> None:
        """Update the own chain's light client of each configured chain before its trusting period runs out."""
        if not self.clients:
            return
        _, now = self.ep.latest()
        for remote in self.clients:
            client = self._client(remote)
            if client is None:
                continue
            if now - client.latest_time_ns < client.trusting_period_ns * self.client_refresh_pct // 100:
                continue
            peer = self.route_peer(remote)
            lb = peer.light_block(peer.latest_height())
            if lb.height <= client.latest_height:
                continue
            m = interchain_pb2.MsgUpdateClient(chain_id=remote)
            light_block_to_proto(lb, m.update)
            res = self._submit("update_client", m)
            if res.code != 0:
                raise RelayError(f"client update of {remote} refused: {res.log}", chain_id=remote)
            log.info("chain=%s light client of %s refreshed to height %d", self.chain, remote, lb.height)



def lookup_route(endpoint: ChainEndpoint, remote: str):
    """The routing entry for remote in endpoint's chain state."""
    raw = endpoint.query(keys.PREFIX + keys.route_key(remote)).value
    if raw is None:
        raise NoRouteError(f"chain {endpoint.chain_id} has no route to {remote}")
    return decode_route(raw)
