"""The pair workers of a relay: one per (source, destination) pair its chain takes part in, each with its own
thread, wake-up event, back-off state and transactions in flight (Hermes's packet workers). The supervisor
(`relayer.py`) creates them, wakes them, and owns what they share: the chain endpoint (with its caching and
metrics wrappers), the durable queue, the submitter of the own chain and the routing table.

  OutboundWorker(own -> dest)   hand own packets to dest's relay (or deliver them directly), then settle them
                                on the own chain with acks or timeouts proven on dest
  InboundWorker(source -> own)  deliver the packets source's relay handed over into the own chain, and keep the
                                own chain's light client of source fresh

A worker's round never blocks another pair: a slow or unreachable remote chain only delays its own pair.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import DistposError, HandoffRefusedError, RelayError
from ..gen.distpos.v1 import interchain_pb2
from ..interchain import decode_packet, keys
from ..interchain.forwarding import is_final_ack_bytes
from ..interchain.keeper import is_timed_out
from ..lightclient.types import LightBlock, light_block_to_proto
from .backoff import compute_handover_delay, exponential_backoff, is_direct_due
from .core import DUPLICATE_CODE, LocalPeer
from .endpoint import ChainEndpoint, Proven, TxOutcome
from .instant import InstantFollower
from .limits import compute_chunks
from .queue import IN, OUT, SUBMITTED, Entry
from .submitter import is_bad_nonce

if TYPE_CHECKING:  # the supervisor creates the workers; only its shape is needed here
    from .relayer import Relayer

log = logging.getLogger("distpos.relay")

SETTLE_PROOF_CHUNKS = 4  # a settle round proves at most this many GetProof requests' worth of packets
REMOTE_POLL_S = 0.1  # while acks are owed, how often the destination's height is looked at
HEADER_POLL_S = 0.05  # while own packets wait for the next header, how often the own node's height is looked at
WAKE_SLICE_S = 0.05  # the longest a worker sleeps between looks (stop flag, heights it waits for)


class PairWorker:
    """One pair's loop: a round when woken (a block of the own chain, packets handed over, a remote block the
    pair waits for), at the latest every poll interval."""

    kind = ""

    def __init__(self, sup: "Relayer", remote: str) -> None:
        self.sup, self.remote, self.chain = sup, remote, sup.chain
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None
        self.rounds = 0

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.remote}"

    def round(self) -> None:
        raise NotImplementedError

    def look(self) -> bool:
        """Between wake-ups, every WAKE_SLICE_S: True when something the pair waits for happened (a height on
        this or the remote chain), so its round runs now."""
        return False

    def start(self, poll_interval_s: float, stop: Callable[[], bool]) -> None:
        """Start the worker's thread (once: a second call does nothing)."""
        if self.thread is not None:
            return
        self.thread = threading.Thread(target=self.run, args=(poll_interval_s, stop), daemon=True,
                                       name=f"relay-{self.kind}-{self.remote}")
        self.thread.start()

    def run(self, poll_interval_s: float, stop: Callable[[], bool]) -> None:
        log.info("chain=%s worker %s started", self.chain, self.name)
        while not stop():
            self.wake.clear()
            self.sup.guard(self.name, self.round)
            self.rounds += 1
            deadline = time.monotonic() + poll_interval_s
            while not stop() and time.monotonic() < deadline:
                if self.wake.wait(WAKE_SLICE_S) or self.look():
                    break


class OutboundWorker(PairWorker):
    """own chain -> dest: hand-overs, direct deliveries, acks and timeouts of the own packets to dest."""

    kind = "out"

    def __init__(self, sup: "Relayer", dest: str) -> None:
        super().__init__(sup, dest)
        self.inflight: set[int] = set()  # sequences in an ack tx not yet committed
        self.last_settle = 0.0
        self.awaiting = False  # dest holds handed-over packets: its next block may make acks provable
        self.remote_height = 0
        self.header_wait = 0  # lowest height of an own packet waiting for the header above it (0: none)
        # Ask the own chain which packets were settled already (by another relay) only at start and after a
        # settling tx of this worker failed: otherwise nobody else settles them, and a query per packet is saved.
        self.check_settled = True
        self.prefetched = 0  # highest height whose packets' proofs were read ahead (see push)
        # sequence -> dest's state height at which its receipt was proven absent (and no timeout due): proving
        # it again at that height would say the same, so a settle round skips it until dest moves on
        self.absent: dict[int, int] = {}
        self._next_remote_look = self._next_header_look = 0.0

    def round(self) -> None:
        self.sup.guard("push", self.push)
        if self.sup.clock() - self.last_settle >= self.sup.settle_interval_s:
            self.last_settle = self.sup.clock()
            self.sup.guard("settle", self.settle)
            self.sup.guard("settle", self.sup.forward_fees)

    # ---- hand-over -------------------------------------------------------------------------------------

    def push(self) -> None:
        """Hand own packets to dest's relay until they are received there.

        A packet is handed over once provable (a header above its block exists), then again after backoff when
        the relay did not take it, or after resend_after_s when it took it but the packet is still pending (it
        may have been dropped). After direct_after_attempts hand-overs this relay delivers it itself through
        dest's node (the routing entry's CometBFT RPC): a relay that drops packets delays them, it never makes
        them time out."""
        sup = self.sup
        latest = sup.provable_height()
        now = sup.clock()
        queued = sup.queue.entries(OUT, self.remote)
        waiting = [e for e in queued if e.height >= latest]
        self.header_wait = min((e.height for e in waiting), default=0)
        entries = [e for e in queued if e.height < latest and e.next_try <= now]
        if entries:
            self._hand_over_all(entries)
        self._read_proofs_ahead(waiting)  # after the hand-overs: never delays a provable packet

    def _hand_over_all(self, entries: list[Entry]) -> None:
        sup = self.sup
        limit = sup.limits.direct_after_attempts
        mine = [e for e in entries if is_direct_due(e.attempts, limit, sup.direct is not None)]
        target = sup.direct(self.remote) if mine and sup.direct is not None else None
        if target is not None:
            self._deliver_direct(target, mine)
            entries = [e for e in entries if e not in mine]
        chunks = compute_chunks(entries, sup.limits.max_request_packets)
        if len(chunks) == 1:
            self._hand_over(chunks[0])
        elif chunks:  # the destination relay checks them in parallel: a burst is handed over in one round trip
            list(sup.pool().map(self._hand_over, chunks))

    def _read_proofs_ahead(self, waiting: list[Entry]) -> None:
        """While packets wait for the header above their block, read their proofs at that block's state into
        the endpoint's cache: the destination relay asks for exactly these when the header comes (its GetProof
        at the header's height - 1), and is answered without a node query on the critical path."""
        for h in sorted({e.height for e in waiting if e.height > self.prefetched}):
            self.prefetched = h
            wanted = [keys.full_outbox_key(self.remote, e.sequence) for e in waiting if e.height == h]
            self.sup.read_ahead(wanted, h)

    def _hand_over(self, chunk: list[Entry]) -> None:
        sup, dest, now = self.sup, self.remote, self.sup.clock()
        for e in chunk:
            e.attempts += 1
        try:
            res = sup.route_peer(dest).submit_packets(self.chain, [e.packet for e in chunk])
        except DistposError as exc:
            sup.metrics.error(f"push:{exc.codespace}:{exc.code}")
            for e in chunk:
                self._reschedule(e, now + compute_handover_delay(e.attempts, False, sup.limits.resend_after_s))
            log.warning("chain=%s hand-over of %d packets to relay of %s failed (%s); seq=%s retry in %.1fs+",
                        self.chain, len(chunk), dest, exc.log, ",".join(str(e.sequence) for e in chunk),
                        exponential_backoff(min(e.attempts for e in chunk)))
            return
        held = set(res.held)
        why = {r.sequence: r for r in res.refused}
        for e in chunk:
            if e.sequence in held:
                e.state = SUBMITTED
                self._reschedule(e, now + compute_handover_delay(e.attempts, True, sup.limits.resend_after_s))
                log.info("chain=%s packet handed to relay of %s seq=%d (hand-over %d)", self.chain, dest,
                         e.sequence, e.attempts)
                continue
            r = why.get(e.sequence)
            err = HandoffRefusedError(f"relay of {dest} did not take seq={e.sequence}"
                                      + (f": relay:{r.code}: {r.reason}" if r else " (no reason given)"),
                                      chain_id=dest, sequence=e.sequence)
            sup.metrics.error(f"push:{err.codespace}:{err.code}")
            delay = compute_handover_delay(e.attempts, False, sup.limits.resend_after_s)
            self._reschedule(e, now + delay)
            log.warning("chain=%s %s; hand-over %d, next in %.1fs", self.chain, err.log, e.attempts, delay)
        self.awaiting = self.awaiting or bool(held)

    def _reschedule(self, e: Entry, at: float) -> None:
        e.next_try = at
        if self.sup.queue.get(OUT, e.chain, e.sequence) is not None:  # not settled meanwhile
            self.sup.queue.put(OUT, e)

    def _deliver_direct(self, target: ChainEndpoint, entries: list[Entry]) -> None:
        """Deliver own packets into dest through its node, as dest's relay would have (the settle step acks)."""
        sup, now = self.sup, self.sup.clock()
        for e in entries:
            e.attempts += 1
        try:
            sup.deliver_into(target, self.chain, LocalPeer(sup.core), entries, None,
                             lambda batch, es: self._submit_recv_direct(target, batch, es))
        except DistposError as exc:
            sup.metrics.error(f"direct:{exc.codespace}:{exc.code}")
            for e in entries:
                self._reschedule(e, now + compute_handover_delay(e.attempts, False, sup.limits.resend_after_s))
            log.warning("chain=%s direct delivery to %s failed: %s", self.chain, self.remote, exc.log)
            return
        for e in entries:
            e.state = SUBMITTED
            self._reschedule(e, now + compute_handover_delay(e.attempts, True, sup.limits.resend_after_s))

    def _submit_recv_direct(self, target: ChainEndpoint, batch, entries: list[Entry]) -> bool:
        res = self.sup.submit_and_wait("recv_packets", batch, target)
        seqs = ",".join(str(e.sequence) for e in entries)
        if res.code == 0:
            log.info("chain=%s delivered packets to %s directly (its relay did not) seq=%s at height %d", self.chain,
                     target.chain_id, seqs, res.height)
        elif res.code == DUPLICATE_CODE:
            self.sup.metrics.error(f"direct:{res.codespace}:{res.code}")
            log.info("chain=%s packets to %s seq=%s: received meanwhile", self.chain, target.chain_id, seqs)
        else:
            raise RelayError(f"direct recv into {target.chain_id} seq={seqs} refused: {res.log}",
                             chain_id=target.chain_id)
        return True

    # ---- settling: acks and timeouts ---------------------------------------------------------------------

    def look(self) -> bool:
        """The own node stored the header that makes waiting packets provable (polled: its block's event comes
        only after the node executed it), or dest committed a block that may make acks provable."""
        now = time.monotonic()
        if self.header_wait and now >= self._next_header_look:
            self._next_header_look = now + HEADER_POLL_S
            try:
                if self.sup.ep.latest()[0] > self.header_wait:
                    return True
            except DistposError:
                pass
        if self.awaiting and now >= self._next_remote_look:
            self._next_remote_look = now + REMOTE_POLL_S
            return self.remote_progress()
        return False

    def remote_progress(self) -> bool:
        """True when dest committed a block since the last look (its relay's Status): the acks of packets
        credited there become provable with that header, so a round (with a settle) runs at once rather than
        at this chain's next block."""
        try:
            h = self.sup.route_peer(self.remote).latest_height()
        except DistposError:
            return False
        moved = self.remote_height != 0 and h > self.remote_height
        self.remote_height = max(self.remote_height, h)
        if moved:
            self.last_settle = 0.0
        return moved

    def settle(self) -> None:
        """Acknowledge (or time out) own packets to dest whose fate is proven on dest."""
        sup = self.sup
        busy = set(self.inflight)  # before the queue: a block applied meanwhile deletes first, then clears
        entries = [e for e in sup.queue.entries(OUT, self.remote) if e.sequence not in busy]
        # NEW entries too: a packet never handed over (destination relay down) still times out and is refunded
        self.awaiting = any(e.state == SUBMITTED for e in entries)
        if not self.awaiting:
            self.remote_height = 0
        live = {e.sequence for e in entries}
        self.absent = {seq: h for seq, h in self.absent.items() if seq in live}
        if entries and sup.is_due("settle", self.remote):
            try:
                self._settle(entries)
                sup.succeeded("settle", self.remote)
            except DistposError as exc:
                sup.failed("settle", self.remote, f"settle:{exc.codespace}:{exc.code}", exc.log)

    def _drop_settled(self, entries: list[Entry]) -> list[Entry]:
        sup, live = self.sup, []
        found = sup.ep.query_many([keys.full_outbox_key(self.remote, e.sequence) for e in entries])
        for e, pr in zip(entries, found):
            if pr.value is None:
                sup.queue.delete(OUT, self.remote, e.sequence)
                sup.metrics.settled.inc(chain_id=self.chain, outcome="elsewhere")
            else:
                live.append(e)
        return live

    def _settle(self, entries: list[Entry]) -> None:
        sup, dest = self.sup, self.remote
        if self.check_settled:
            entries = self._drop_settled(entries)
            self.check_settled = False
        peer = sup.route_peer(dest)
        latest = peer.latest_height()
        # Only what dest's newest state may have changed, bounded per round (oldest first): under load the rest
        # waits a round or two.
        entries = [e for e in entries if self.absent.get(e.sequence) != latest - 1]
        entries = entries[:SETTLE_PROOF_CHUNKS * sup.limits.max_proof_keys]
        if not entries:
            return
        height, update, header_time = sup.proof_point(dest, peer, latest=latest)
        proofs = sup.proofs(peer, [keys.full_inbox_key(self.chain, e.sequence) for e in entries], height - 1, dest)
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
            else:
                self.absent[e.sequence] = height - 1
        if acked:
            update = None if self._send_acks(height, update, acked) else update
        for e, pr in timeouts:
            m = interchain_pb2.MsgTimeout(destination_chain=dest, proof_height=height, packet=e.packet,
                                          proof=pr.proof.to_proto())
            if update is not None:
                light_block_to_proto(update, m.update)
            res = sup.submit_and_wait("timeout", m)
            if res.code != 0:
                self.check_settled = True
                raise RelayError(f"timeout of {dest}/{e.sequence} refused: {res.log}", chain_id=dest,
                                 sequence=e.sequence)
            update = None
            self._finish(e, "timed_out")

    def _send_acks(self, height: int, update: LightBlock | None, acked: list[tuple[Entry, Proven]]) -> bool:
        """MsgAcknowledge for every proven ack, in messages that fit, pipelined; True when the update went out."""
        sup, dest = self.sup, self.remote
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
        for n in sup.batches(sup.ep, "acknowledge", empty, empty.ByteSize(), update_bytes, sizes):
            chunk = acked[start:start + n]
            start += n
            m = interchain_pb2.MsgAcknowledge(destination_chain=dest, proof_height=height)
            if update is not None and not sent_update:
                light_block_to_proto(update, m.update)
            for e, pr in chunk:
                m.acks.add(packet=e.packet, ack=pr.value, proof=pr.proof.to_proto())
            entries = [e for e, _ in chunk]
            seqs = {e.sequence for e in entries}
            self.inflight |= seqs  # before the send: its block may be absorbed before send() returns
            res = sup.own.send("acknowledge", m, lambda out, es=entries: self._acks_done(es, out))
            if res.code != 0:
                self.inflight -= seqs
                if is_bad_nonce(res):
                    log.info("chain=%s acks to %s wait for the nonce re-sync: %s", self.chain, dest, res.log)
                    return sent_update
                self.check_settled = True  # e.g. another relay settled one of them first
                raise RelayError(f"acknowledge to {dest} refused: {res.log}", chain_id=dest)
            sent_update = update is not None
        return sent_update

    def _acks_done(self, entries: list[Entry], out: TxOutcome | None) -> None:
        """Runs in the supervisor's thread: queue entries are deleted before they leave `inflight`, so a round
        running meanwhile (which reads `inflight` before the queue) never takes them up again."""
        if out is not None and out.code == 0:
            earned = sum(decode_packet(e.packet).relay_fee for e in entries)
            if earned:
                self.sup.earned_fees(earned)
            for e in entries:
                self._finish(e, "acked")
        elif out is not None:
            self.check_settled = True
            self.sup.metrics.error(f"settle:{out.codespace}:{out.code}")
            log.warning("chain=%s acknowledge to %s seq=%s failed in its block: %s", self.chain, self.remote,
                        ",".join(str(e.sequence) for e in entries), out.log)
        self.inflight -= {e.sequence for e in entries}

    def _finish(self, e: Entry, outcome: str) -> None:
        sup = self.sup
        sup.queue.delete(OUT, e.chain, e.sequence)
        sup.metrics.settled.inc(chain_id=self.chain, outcome=outcome)
        sup.metrics.latency.observe(max(0.0, sup.clock() - e.first_seen), chain_id=self.chain, destination=e.chain)
        log.info("chain=%s packet settled dest=%s seq=%d outcome=%s latency=%.2fs", self.chain, e.chain, e.sequence,
                 outcome, sup.clock() - e.first_seen)


class InboundWorker(PairWorker):
    """source -> own chain: deliver what source's relay handed over; keep the light client of source fresh."""

    kind = "in"

    def __init__(self, sup: "Relayer", source: str) -> None:
        super().__init__(sup, source)
        self.inflight: set[int] = set()  # sequences in a recv tx not yet committed
        self.last_refresh = 0.0
        # Ask the own chain which queued packets it received already only at start and after a sign that someone
        # else delivers too (a duplicate refusal, a failed or dropped tx): a query per packet saved otherwise.
        self.check_received = True
        self.acks_ahead: collections.deque[tuple[int, list[bytes]]] = collections.deque(maxlen=64)
        self.instant = InstantFollower(sup, source)  # the own chain's instant credits of source: claim, release
        self.last_instant = 0.0

    def round(self) -> None:
        self._read_acks_ahead()
        self.sup.guard("deliver", self.deliver)
        if self.remote in self.sup.clients and self.sup.clock() - self.last_refresh >= self.sup.settle_interval_s:
            self.last_refresh = self.sup.clock()
            self.sup.guard("refresh", self.refresh_client)
        if self.sup.clock() - self.last_instant >= self.sup.settle_interval_s:
            self.last_instant = self.sup.clock()
            self.sup.guard("instant", self.instant.round)

    def deliver(self) -> None:
        """Submit queued packets of source to the own chain, with source's header, in as few txs as fit; packets
        whose tx is in flight wait for its block."""
        sup, src = self.sup, self.remote
        busy = set(self.inflight)  # before the queue: a block applied meanwhile deletes first, then clears
        entries = [e for e in sup.queue.entries(IN, src) if e.sequence not in busy]
        if not entries or not sup.is_due("deliver", src):
            return
        try:
            self._deliver(entries)
            sup.succeeded("deliver", src)
        except DistposError as exc:
            sup.failed("deliver", src, f"deliver:{exc.codespace}:{exc.code}", exc.log)

    def _deliver(self, entries: list[Entry]) -> None:
        """Packets proven at hand-over go in groups of one root each (oldest first), the rest with a fresh proof."""
        sup, src = self.sup, self.remote
        groups: dict[int, list[Entry]] = {}
        for e in entries:
            got = sup.core.proven.get((src, e.sequence))
            groups.setdefault(got[0].height if got else 0, []).append(e)
        for height in sorted(groups, key=lambda h: (h == 0, h)):
            check, self.check_received = self.check_received, False
            try:
                dropped = sup.deliver_into(sup.ep, src, sup.route_peer(src), groups[height], sup.policy,
                                           self._submit_recv, check_received=check)
            except DistposError:
                self.check_received = True
                self._forget_proofs(groups[height])  # proven afresh on the retry
                raise
            self._forget_proofs(dropped)
            for e in dropped:
                sup.queue.delete(IN, src, e.sequence)

    def _read_acks_ahead(self) -> None:
        """Read the receipts' proofs at the state of the block that credited them into the endpoint's cache: the
        source relay asks for exactly these once the next header exists (its settle's GetProof at that header's
        height - 1), and is answered without a node query on the critical path."""
        while self.acks_ahead:
            height, keys_ = self.acks_ahead.popleft()
            self.sup.read_ahead(keys_, height)

    def _forget_proofs(self, entries: list[Entry]) -> None:
        for e in entries:
            self.sup.core.proven.pop((self.remote, e.sequence), None)

    def _submit_recv(self, batch, entries: list[Entry]) -> bool:
        """Hand one MsgRecvPackets to the mempool; its block settles the queue entries (`_recv_done`)."""
        sup, src = self.sup, self.remote
        seqs = {e.sequence for e in entries}
        text = ",".join(str(e.sequence) for e in entries)
        self.inflight |= seqs  # before the send: its block may be absorbed before send() returns
        res = sup.own.send("recv_packets", batch, lambda out: self._recv_done(entries, out))
        if res.code == 0:
            log.info("chain=%s submitted packets from %s seq=%s", self.chain, src, text)
            return True
        self.inflight -= seqs
        self.check_received = True
        if is_bad_nonce(res):  # not sent: the same packets go in the next round's tx, once
            log.info("chain=%s packets from %s seq=%s wait for the nonce re-sync: %s", self.chain, src, text, res.log)
            return False
        if res.code == DUPLICATE_CODE:  # someone was faster with one of them: the next round filters
            sup.metrics.error(f"deliver:{res.codespace}:{res.code}")
            log.info("chain=%s packets from %s seq=%s: duplicate, rechecking", self.chain, src, text)
            return False
        raise RelayError(f"recv of {src} seq={text} refused: {res.log}", chain_id=src)

    def _recv_done(self, entries: list[Entry], out: TxOutcome | None) -> None:
        """Runs in the supervisor's thread; like `_acks_done`, leaves `inflight` last."""
        sup, src = self.sup, self.remote
        seqs = ",".join(str(e.sequence) for e in entries)
        if out is None:
            self.check_received = True
            log.warning("chain=%s packets from %s seq=%s: tx dropped before a block; taken up again", self.chain,
                        src, seqs)
        elif out.code == 0:
            self._forget_proofs(entries)
            # the block being applied (the submitter marks it seen before telling the outcomes)
            self.acks_ahead.append((sup.own.seen_height, [keys.full_inbox_key(src, e.sequence) for e in entries]))
            self.wake.set()
            for e in entries:
                sup.queue.delete(IN, src, e.sequence)
                sup.core.delivered += 1
            log.info("chain=%s received packets from %s seq=%s", self.chain, src, seqs)
        elif out.code == DUPLICATE_CODE:
            self.check_received = True
            sup.metrics.error(f"deliver:{out.codespace}:{out.code}")
            log.info("chain=%s packets from %s seq=%s: duplicate in the block, rechecking", self.chain, src, seqs)
        else:
            self.check_received = True
            self._forget_proofs(entries)  # fetched afresh next round
            sup.metrics.error(f"deliver:{out.codespace}:{out.code}")
            log.warning("chain=%s recv of %s seq=%s failed in its block: %s", self.chain, src, seqs, out.log)
        self.inflight -= {e.sequence for e in entries}

    def refresh_client(self) -> None:
        """Update the own chain's light client of source before its trusting period runs out."""
        sup, remote = self.sup, self.remote
        client = sup.client(remote)
        if client is None:
            return
        _, now = sup.ep.latest()
        if now - client.latest_time_ns < client.trusting_period_ns * sup.client_refresh_pct // 100:
            return
        peer = sup.route_peer(remote)
        lb = peer.light_block(peer.latest_height())
        if lb.height <= client.latest_height:
            return
        m = interchain_pb2.MsgUpdateClient(chain_id=remote)
        light_block_to_proto(lb, m.update)
        res = sup.submit_and_wait("update_client", m)
        if res.code != 0:
            raise RelayError(f"client update of {remote} refused: {res.log}", chain_id=remote)
        log.info("chain=%s light client of %s refreshed to height %d", self.chain, remote, lb.height)
