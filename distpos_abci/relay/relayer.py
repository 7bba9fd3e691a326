"""The relay of one chain as a supervisor and its pair workers (issue 9; Hermes's shape).

The supervisor (`Relayer`) follows the own chain's committed blocks (websocket events, `events.py`): it applies
the outcomes of its own transactions (`submitter.py`), scans the blocks for own packets into the durable queue,
and wakes the workers. It runs one worker per (source, destination) pair (`workers.py`): `OutboundWorker(own ->
dest)` and `InboundWorker(source -> own)`, each a thread with its own back-off and transactions in flight, woken
by a block of the own chain, by packets handed over for its pair, or by a remote block its acks wait for. What
the workers share lives here: the chain endpoint (caching and metrics are wrappers around it, `wrappers.py`), the
queue, the submitter of the own chain (one key, one nonce sequence: sends are serialized), routes and light
client reads, the proving and batching of deliveries.

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

from ..address import Address
from ..crypto import KeyPair
from ..errors import DistposError, OutboundQueueFullError, ProvenBytesMismatchError, RelayError, \
    RelayFeeBelowMinimumError, RelayPolicyRefusedError
from ..gen.distpos.v1 import interchain_pb2, tx_pb2
from ..interchain import decode_packet, keys
from ..interchain.keeper import is_timed_out
from ..interchain.records import decode_client_state, decode_consensus_state
from ..lightclient.types import LightBlock, light_block_to_proto
from ..lightclient.verifier import compute_update_path
from ..metrics import Registry
from .backoff import exponential_backoff
from .batch import compute_batches, compute_envelope_bytes
from .core import (
    DUPLICATE_CODE, LocalPeer, Refusal, RelayCore, RelayMetrics, RelayPeer, SubmitResult, get_proofs_checked,
    lookup_route,
)
from .endpoint import ChainEndpoint, Proven, Submitted, TxOutcome, get_max_tx_bytes
from .events import compute_sent_packet
from .instant import compute_instant_entries
from .limits import RelayLimits
from .policy import Rule, allow_all, compute_policy_refusal
from .queue import IN, OUT, Entry, RelayQueue
from .submitter import Submitter
from .verify import decode_packet_strict
from .workers import InboundWorker, OutboundWorker, PairWorker

__all__ = ["DUPLICATE_CODE", "LocalPeer", "Refusal", "RelayCore", "RelayMetrics", "RelayPeer", "Relayer",
           "SubmitResult", "get_proofs_checked", "lookup_route"]

log = logging.getLogger("distpos.relay")

SCAN_BLOCKS_PER_STEP = 200
TX_LIMIT_TTL_S = 60.0  # a chain's max_tx_bytes is re-read this often (governance may change it)
HANDOVER_THREADS = 4  # SubmitPacket calls in parallel (the destination's gRPC server runs 4 workers)
BLOCK_WAIT_S = 0.05  # the supervisor's longest wait for a block between looks at its stop flag


class Relayer:
    """The supervisor of one chain's relay: follows its blocks, scans them, runs one worker per pair."""

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
        self._fees_lock = threading.Lock()  # earned in the supervisor's thread, forwarded by the outbound workers
        self.chain = endpoint.chain_id
        self.limits, self.direct = limits, direct
        self.core = RelayCore(endpoint, queue, clock, peers=self.route_peer, policy=policy, limits=limits)
        self.core.on_queued = self._on_queued
        self.metrics = metrics or RelayMetrics(Registry(), self.chain, queue)
        self.max_tx_bytes_override, self.settle_interval_s = max_tx_bytes, settle_interval_s
        self.client_refresh_pct, self.clients, self.policy, self.clock = client_refresh_pct, clients, policy, clock
        self._retry: dict[tuple[str, str], tuple[int, float]] = {}  # (what, chain) -> (attempts, next try)
        self._retry_lock = threading.Lock()
        self.gas_price = gas_price  # milli-units per gas on every chain it signs for; 0 = each chain's minimum
        self.own = Submitter(endpoint, key, self._count_tx(""), gas_price)
        self._remote: dict[str, Submitter] = {}  # chains this relay delivers into directly
        self._tx_limits: dict[str, tuple[int, float]] = {}  # chain -> (max_tx_bytes, read at)
        self._handover_pool: ThreadPoolExecutor | None = None
        self._read_ahead_pool: ThreadPoolExecutor | None = None
        self.workers: dict[tuple[str, str], PairWorker] = {}  # (kind, remote chain) -> its worker
        self._workers_lock = threading.Lock()
        self._running: tuple[float, Callable[[], bool]] | None = None  # (poll interval, stop) once run() started

    # ---- workers --------------------------------------------------------------------------------------

    def worker(self, kind: str, remote: str) -> PairWorker:
        """The worker of a pair (created, and started when the relay runs, on first use). Pairs come from
        committed packets, verified hand-overs and the `clients` list: all chains the own chain holds a route
        or a light client for."""
        with self._workers_lock:
            w = self.workers.get((kind, remote))
            if w is None:
                w = (OutboundWorker if kind == "out" else InboundWorker)(self, remote)
                self.workers[(kind, remote)] = w
                if self._running is not None:
                    w.start(*self._running)
            return w

    def discover(self) -> list[PairWorker]:
        """The workers of every pair with queued packets or a light client to keep fresh."""
        for dest in self.queue.chains(OUT):
            self.worker("out", dest)
        for src in sorted({*self.queue.chains(IN), *self.clients, *self.queue.instant_sources()}):
            self.worker("in", src)
        with self._workers_lock:
            return [self.workers[k] for k in sorted(self.workers)]

    def _on_queued(self, source: str) -> None:
        self.worker("in", source).wake.set()

    def wake_all(self) -> None:
        for w in self.discover():
            w.wake.set()

    # ---- the supervisor's loop ------------------------------------------------------------------------

    def run(self, poll_interval_s: float, stop: Callable[[], bool] = lambda: False) -> None:
        """Until stop(): on every committed block of the own chain, apply the outcomes of own transactions,
        scan for own packets and wake every worker; the workers run their pairs' rounds in their threads."""
        log.info("chain=%s relay supervisor started; %d outbound, %d inbound pending", self.chain,
                 self.queue.count(OUT), self.queue.count(IN))
        with self._workers_lock:  # a worker created from now on is started when created, each exactly once
            self._running = (poll_interval_s, stop)
            for w in self.workers.values():
                w.start(poll_interval_s, stop)
        self.discover()
        seen = -1
        while not stop():
            top = self._committed()
            if top != seen:
                seen = top
                self.supervise()
            self.ep.wait_block(seen, BLOCK_WAIT_S)
        for w in list(self.workers.values()):
            if w.thread is not None:
                w.thread.join(timeout=5)

    def supervise(self) -> None:
        """One block's work of the supervisor: outcomes, scan, wake the workers."""
        try:
            if self.ep.committed_height() < 1:
                return  # nothing before the chain's first block (its state cannot be read yet)
        except DistposError:
            pass  # unreachable: the steps below count the failure and back off
        self.guard("blocks", self.absorb_blocks)
        self.wake_all()  # before the scan: what it finds is provable only from the next block on
        self.guard("scan", self.scan)
        self.wake_all()

    def step(self) -> None:
        """Tests only (the running relay never calls it): the supervisor's block work and one round of every
        pair's worker, in this thread and in a fixed order, so a test decides what happens when."""
        try:
            if self.ep.committed_height() < 1:
                return
        except DistposError:
            pass
        self.guard("blocks", self.absorb_blocks)
        workers = self.discover()
        for w in workers:
            if isinstance(w, OutboundWorker):
                self.guard("push", w.push)
        for w in workers:
            if isinstance(w, InboundWorker):
                self.guard("deliver", w.deliver)
        self.guard("scan", self.scan)
        for w in self.discover():
            if isinstance(w, OutboundWorker) and self.clock() - w.last_settle >= self.settle_interval_s:
                w.last_settle = self.clock()
                self.guard("settle", w.settle)
            if isinstance(w, InboundWorker) and w.remote in self.clients:
                self.guard("refresh", w.refresh_client)
            if isinstance(w, InboundWorker):
                self.guard("instant", w.instant.round)
        self.guard("settle", self.forward_fees)

    # every pair's step, one after the other (tests and tools)

    def push_outbound(self) -> None:
        for w in self.discover():
            if isinstance(w, OutboundWorker):
                w.push()

    def deliver_inbound(self) -> None:
        for w in self.discover():
            if isinstance(w, InboundWorker):
                w.deliver()

    def settle_outbound(self) -> None:
        for w in self.discover():
            if isinstance(w, OutboundWorker):
                w.settle()
        self.forward_fees()

    def earned_fees(self, amount: int) -> None:
        """Relay fees paid to the signer by an acknowledgement (counted; kept for forwarding when configured)."""
        self.metrics.fees.inc(amount, chain_id=self.chain)
        if self.fee_recipient:
            with self._fees_lock:
                self._fees_unforwarded += amount

    def forward_fees(self) -> None:
        """Send the relay fees earned since the last forward to fee_recipient (one MsgSend). A refused or failed
        forward is tried again next round; a restart forgets the count, the coins stay in the signer's account."""
        with self._fees_lock:
            amount, self._fees_unforwarded = self._fees_unforwarded, 0
        if not amount:
            return
        sender = str(Address.from_pub_key(self.chain, self.key.pub_key))
        msg = tx_pb2.MsgSend(from_address=sender, to_address=self.fee_recipient, amount=amount)

        def give_back() -> None:
            with self._fees_lock:
                self._fees_unforwarded += amount

        def done(out: TxOutcome | None) -> None:
            if out is None or out.code != 0:
                give_back()
            else:
                log.info("chain=%s forwarded %d of relay fees to %s", self.chain, amount, self.fee_recipient)

        if self.own.send("send", msg, done).code != 0:
            give_back()

    def refresh_clients(self) -> None:
        for w in self.discover():
            if isinstance(w, InboundWorker) and w.remote in self.clients:
                w.refresh_client()

    def _committed(self) -> int:
        try:
            return self.ep.committed_height()
        except DistposError:
            return 0

    def provable_height(self) -> int:
        """The own chain's newest stored height: its header (and commit) exists, so a packet committed below it
        can be proven now. The node stores a block before executing it and publishes its event after: this is
        the stored height (`/status`), not the evented one, which comes an execution later."""
        return max(self.ep.committed_height(), self.ep.latest()[0])

    def guard(self, name: str, fn: Callable[[], None]) -> None:
        """Run fn; a failure is counted and logged, never ends the loop that called it."""
        try:
            fn()
        except DistposError as exc:
            self.metrics.error(f"{name.split(':')[0]}:{exc.codespace}:{exc.code}")
            log.warning("chain=%s %s failed (will retry): %s", self.chain, name, exc.log)
        except Exception:  # a worker must outlive one bad round
            self.metrics.error(f"{name.split(':')[0]}:internal")
            log.exception("chain=%s %s failed", self.chain, name)

    # ---- back-off per (step, chain), shared by the workers and bounded --------------------------------

    def is_due(self, what: str, chain: str) -> bool:
        with self._retry_lock:
            return self.clock() >= self._retry.get((what, chain), (0, 0.0))[1]

    def failed(self, what: str, chain: str, kind: str, detail: str = "") -> None:
        key = (what, chain)
        with self._retry_lock:
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
        log.warning("chain=%s %s to/from %s failed (%s%s); retry %d in %.1fs", self.chain, what, chain, kind,
                    f": {detail}" if detail else "", attempts, delay)

    def succeeded(self, what: str, chain: str) -> None:
        with self._retry_lock:
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
        with self._workers_lock:
            sub = self._remote.get(target.chain_id)
            if sub is None:
                if len(self._remote) >= self.limits.max_retry_entries:
                    self._remote.pop(next(iter(self._remote)))  # bounded; a forgotten nonce is re-read
                sub = self._remote[target.chain_id] = Submitter(target, self.key, self._count_tx(f"@{target.chain_id}"),
                                                                    self.gas_price)
        sub.ep = target
        return sub

    def submit_and_wait(self, field_: str, msg, target: ChainEndpoint | None = None) -> Submitted:
        """Submit msg and wait for its block (client updates, timeouts, direct deliveries: the rare steps)."""
        return self._submitter(target).send_and_wait(field_, msg)

    def absorb_blocks(self) -> None:
        """Apply the outcomes of own transactions in the blocks committed since the last round."""
        top = self.ep.committed_height()
        self.own.absorb(top, self.ep.block)

    def tx_limit(self, target: ChainEndpoint) -> int:
        """max_tx_bytes of target: the config's override for the own chain, else the chain's parameter (re-read
        every TX_LIMIT_TTL_S: governance may change it)."""
        if self.max_tx_bytes_override and target.chain_id == self.chain:
            return self.max_tx_bytes_override
        cached = self._tx_limits.get(target.chain_id)
        if cached is None or self.clock() - cached[1] > TX_LIMIT_TTL_S:
            if len(self._tx_limits) >= self.limits.max_retry_entries:
                self._tx_limits.pop(next(iter(self._tx_limits)), None)
            cached = self._tx_limits[target.chain_id] = (get_max_tx_bytes(target), self.clock())
        return cached[0]

    def batches(self, target: ChainEndpoint, field_: str, empty_msg, base_bytes: int, update_bytes: int,
                entry_bytes: list[int]) -> list[int]:
        envelope = compute_envelope_bytes(self.key, target.chain_id, field_, empty_msg)
        return compute_batches(entry_bytes, base_bytes, update_bytes, self.tx_limit(target), envelope)

    def client(self, remote: str, target: ChainEndpoint | None = None):
        raw = (target or self.ep).query(keys.PREFIX + keys.client_key(remote)).value
        return decode_client_state(raw) if raw else None

    def proof_point(self, remote: str, peer: RelayPeer, target: ChainEndpoint | None = None, *,
                    latest: int = 0) -> tuple[int, LightBlock | None, int]:
        """(proof height, update to include or None, header time) for proving remote's latest state (or the one
        at header `latest`, when the caller just asked) to target."""
        target = target or self.ep
        latest = latest or peer.latest_height()
        client = self.client(remote, target)
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
                res = self.submit_and_wait("update_client", m, target)
                if res.code != 0:
                    raise RelayError(f"client update of {remote} to {step.height} refused: {res.log}", chain_id=remote)
                log.info("chain=%s light client of %s on %s bisected to height %d", self.chain, remote,
                         target.chain_id, step.height)
        return latest, lb, lb.signed_header.header.time_ns

    def route_peer(self, remote: str) -> RelayPeer:
        return self.peers(remote)

    def proofs(self, peer: RelayPeer, keys_: list[bytes], height: int, chain_id: str) -> list[Proven]:
        return get_proofs_checked(peer, keys_, height, self.limits.max_proof_keys, chain_id)

    def read_ahead(self, keys_: list[bytes], height: int) -> None:
        """Read keys' proofs at a state height into the endpoint's cache, in the background (one thread: it never
        competes with the hand-overs' pool); a failure only loses the head start."""
        with self._workers_lock:
            if self._read_ahead_pool is None:
                self._read_ahead_pool = ThreadPoolExecutor(1, thread_name_prefix="relay-read-ahead")
            pool = self._read_ahead_pool

        def read() -> None:
            try:
                self.ep.query_many(keys_, height, prove=True)
            except Exception as exc:  # noqa: BLE001 - only a head start is lost: the proofs are read when asked
                log.info("chain=%s %d proofs of height %d not read ahead: %r", self.chain, len(keys_), height, exc)

        pool.submit(read)

    def pool(self) -> ThreadPoolExecutor:
        with self._workers_lock:
            if self._handover_pool is None:
                self._handover_pool = ThreadPoolExecutor(HANDOVER_THREADS, thread_name_prefix="relay-handover")
            return self._handover_pool

    # ---- the scan (source side, for every destination) ------------------------------------------------

    def scan(self) -> None:
        """Queue the packets committed in blocks since the cursor (the outbox values, exactly).

        Reads only committed heights; the packets are rebuilt from their `send_packet` events (the outbox bytes,
        which the destination relay proves before taking them), without a state query. Pauses, without advancing the cursor, while the outbound queue holds max_outbound_packets:
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
            block = self.ep.block(h)
            sends = [ev.attrs for ev in block.events()
                     if ev.type == "send_packet" and ev.attrs.get("source") == self.chain]
            instants = compute_instant_entries(block, self.chain)
            raws = [compute_sent_packet(a) for a in sends]
            unread = [i for i, raw in enumerate(raws) if raw is None]  # an event without every field: read it
            for i, pr in zip(unread, self.ep.query_many(
                    [keys.full_outbox_key(sends[i]["destination"], int(sends[i]["sequence"])) for i in unread])):
                raws[i] = pr.value  # absent: already settled by another relay
            found = []
            for a, raw in zip(sends, raws):
                if raw is None:  # absent: already settled by another relay
                    continue
                dest, seq = a["destination"], int(a["sequence"])
                fee = decode_packet(raw).relay_fee
                if fee < self.min_relay_fee:
                    err = RelayFeeBelowMinimumError(f"packet {dest}/{seq} pays a relay fee of {fee}, below "
                                                    f"min_relay_fee {self.min_relay_fee}: left to other relays")
                    self.metrics.below_fee.inc(chain_id=self.chain, destination=dest)
                    log.info("chain=%s %s", self.chain, err.log)
                    continue
                found.append(Entry(dest, seq, raw.hex(), self.clock(), height=h))
            if found:
                log.info("chain=%s %d packets committed at height %d: %s", self.chain, len(found), h,
                         ",".join(f"{e.chain}/{e.sequence}" for e in found))
            for i in instants:
                log.info("chain=%s instant credit %s from %s at height %d followed (payer %s nonce %d, expiry %d)",
                         self.chain, i.key, i.source, h, i.payer, i.nonce, i.expiry_height)
            self.queue.record_scan(h, found, [i.to_json() for i in instants])
            for dest in sorted({e.chain for e in found}):
                self.worker("out", dest)
            for src in sorted({i.source for i in instants}):
                self.worker("in", src)
            h += 1

    # ---- delivering into a chain (the inbound workers, and the outbound ones delivering directly) --------

    def deliver_into(self, target: ChainEndpoint, src: str, source: RelayPeer, entries: list[Entry],
                     policy: Rule | None, submit_batch: Callable[[interchain_pb2.MsgRecvPackets, list[Entry]], bool],
                     check_received: bool = True) -> list[Entry]:
        """Submit src's packets of entries into target, proven by source, in batches that fit; return the entries
        that need no delivery (received already, timed out on target, refused by policy).

        Timeout and policy are decided on the proven bytes, exactly the bytes submitted, never on queued ones.
        All packets are proven at one height of src (whatever heights committed them), one GetProof per
        max_proof_keys; the first message carries the light-client update. submit_batch answers whether to go
        on with the next message (not after a refusal: the later ones depend on the first's update).
        check_received=False skips asking target which packets it received already: for a caller that knows
        nobody else delivered them (a mistake costs a tx refused with 102, never a double credit)."""
        target_height, target_time = target.latest()
        done: list[Entry] = []
        live: list[Entry] = []
        if check_received:
            received = target.query_many([keys.full_inbox_key(src, e.sequence) for e in entries])
            for e, rec in zip(entries, received):
                if rec.value is not None:
                    done.append(e)  # already received (by us before a crash, or another relay)
                else:
                    live.append(e)
        else:
            live = list(entries)
        if not live:
            return done
        cached = self.handed_over_proofs(src, live, target)
        if cached is not None:
            height, update, proofs = cached
        else:
            height, update, _ = self.proof_point(src, source, target)
            proofs = self.proofs(source, [keys.full_outbox_key(target.chain_id, e.sequence) for e in live],
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
        for n in self.batches(target, "recv_packets", empty, empty.ByteSize(), update_bytes, sizes):
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

    def handed_over_proofs(self, src: str, live: list[Entry],
                            target: ChainEndpoint) -> tuple[int, LightBlock | None, list[Proven]] | None:
        """(height, update, proofs) from the checks made when these packets were handed over, when all of them
        were proven under one root that the own chain's client holds or one update reaches; else None."""
        if target is not self.ep:
            return None
        got = [self.core.proven.get((src, e.sequence)) for e in live]
        if not got or any(g is None for g in got) or len({g[0].height for g in got}) != 1:
            return None
        root = got[0][0]
        client = self.client(src)
        if client is None:
            return None
        if client.latest_height >= root.height:
            update = None
        elif root.update is not None:
            update = root.update
        else:
            return None
        return root.height, update, [g[1] for g in got]

