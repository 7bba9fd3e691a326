"""The relay worker: watch the own chain's outbox, hand packets to destination relays, deliver packets
received from source relays into the own chain, settle own packets with acks or timeouts, keep light
clients fresh. One `step()` does one round of each; `run()` loops.

Each relay submits transactions to its own chain only, signed with its own key:
  source relay       scan -> push packets to the destination relay -> later: MsgAcknowledge / MsgTimeout
  destination relay  queue packets pushed to it -> MsgRecvPackets (with the light-client update)
Proofs and headers of the other chain come from the other chain's relay (GetProof, GetHeaders).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from ..auth.keeper import AuthRecord
from ..auth.keys import full_account_key
from ..address import compute_account_id
from ..crypto import KeyPair
from ..errors import DistposError, InvalidPacketError, NoRouteError, RelayError
from ..gen.distpos.v1 import interchain_pb2
from ..interchain import decode_packet, keys
from ..interchain.keeper import is_timed_out
from ..interchain.records import decode_client_state, decode_consensus_state, decode_route
from ..lightclient.types import LightBlock, light_block_to_proto
from ..lightclient.verifier import compute_update_path
from ..metrics import Registry
from ..tx import build_tx
from .backoff import exponential_backoff
from .endpoint import ChainEndpoint, Proven, Submitted
from .policy import Rule, allow_all, compute_policy_refusal
from .queue import IN, NEW, OUT, SUBMITTED, Entry, RelayQueue  # noqa: F401 (SUBMITTED: see queue.py)

log = logging.getLogger("distpos.relay")

SCAN_BLOCKS_PER_STEP = 200
TX_OVERHEAD = 600  # bytes of the Tx/TxBody envelope around a message, with room to spare
DUPLICATE_CODE = 102  # ReplayedPacketError: someone delivered it first


class RelayPeer(Protocol):
    """Another chain's relay, as this relay calls it."""

    def submit_packets(self, source: str, packets: list[bytes]) -> int: ...
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

    def error(self, kind: str) -> None:
        self.errors.inc(chain_id=self.chain_id, kind=kind)


class RelayCore:
    """What this relay serves to other relays (the gRPC servicer is a thin wrapper around it)."""

    def __init__(self, endpoint: ChainEndpoint, queue: RelayQueue, clock: Callable[[], float] = time.time) -> None:
        self.endpoint, self.queue, self.clock = endpoint, queue, clock
        self.delivered = 0

    def accept_packets(self, source: str, raws: list[bytes]) -> int:
        """Queue packets a source relay hands over (idempotent); raise InvalidPacketError on a bad one."""
        accepted = 0
        for raw in raws:
            p = decode_packet(raw)
            if p.source_chain != source or p.destination_chain != self.endpoint.chain_id:
                raise InvalidPacketError(f"packet {p.source_chain}->{p.destination_chain} is not for {self.endpoint.chain_id}")
            if self.queue.put(IN, Entry(source, p.sequence, raw.hex(), self.clock()), only_new=True):
                accepted += 1
                log.info("chain=%s inbound packet queued source=%s seq=%d", self.endpoint.chain_id, source, p.sequence)
        return accepted

    def get_proofs(self, keys_: list[bytes], height: int) -> list[Proven]:
        return [self.endpoint.query(k, height, prove=True) for k in keys_]

    def light_block(self, height: int) -> LightBlock:
        return self.endpoint.light_block(height or self.endpoint.latest()[0])

    def latest_height(self) -> int:
        return self.endpoint.latest()[0]


class LocalPeer:
    """A RelayPeer calling another relay's core in-process (tests)."""

    def __init__(self, core: RelayCore) -> None:
        self.core = core

    def submit_packets(self, source: str, packets: list[bytes]) -> int:
        return self.core.accept_packets(source, packets)

    def get_proofs(self, keys_: list[bytes], height: int) -> list[Proven]:
        return self.core.get_proofs(keys_, height)

    def light_block(self, height: int) -> LightBlock:
        return self.core.light_block(height)

    def latest_height(self) -> int:
        return self.core.latest_height()


class Relayer:
    """The worker of one chain's relay."""

    def __init__(self, endpoint: ChainEndpoint, queue: RelayQueue, key: KeyPair,
                 peers: Callable[[str], RelayPeer], metrics: RelayMetrics | None = None, *,
                 max_tx_bytes: int = 8192, settle_interval_s: float = 2.0, client_refresh_pct: int = 50,
                 clients: tuple[str, ...] = (), policy: Rule = allow_all,
                 clock: Callable[[], float] = time.time) -> None:
        self.ep, self.queue, self.key, self.peers = endpoint, queue, key, peers
        self.chain = endpoint.chain_id
        self.core = RelayCore(endpoint, queue, clock)
        self.metrics = metrics or RelayMetrics(Registry(), self.chain, queue)
        self.max_tx_bytes, self.settle_interval_s = max_tx_bytes, settle_interval_s
        self.client_refresh_pct, self.clients, self.policy, self.clock = client_refresh_pct, clients, policy, clock
        self._last_settle = 0.0
        self._retry: dict[tuple[str, str], tuple[int, float]] = {}  # (what, chain) -> (attempts, next try)

    # ---- the loop -------------------------------------------------------------------------------------

    def step(self) -> None:
        """One round: scan, push, deliver inbound, settle (every settle interval), refresh clients."""
        for name, fn in (("scan", self.scan), ("push", self.push_outbound), ("deliver", self.deliver_inbound)):
            self._guard(name, fn)
        if self.clock() - self._last_settle >= self.settle_interval_s:
            self._last_settle = self.clock()
            self._guard("settle", self.settle_outbound)
            self._guard("refresh", self.refresh_clients)

    def run(self, poll_interval_s: float, stop: Callable[[], bool] = lambda: False) -> None:
        log.info("chain=%s relay worker started; %d outbound, %d inbound pending", self.chain,
                 self.queue.count(OUT), self.queue.count(IN))
        while not stop():
            self.step()
            time.sleep(poll_interval_s)

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
        attempts = self._retry.get((what, chain), (0, 0.0))[0] + 1
        delay = exponential_backoff(attempts)
        self._retry[(what, chain)] = (attempts, self.clock() + delay)
        self.metrics.error(kind)
        log.warning("chain=%s %s to/from %s failed (%s); retry %d in %.1fs", self.chain, what, chain, kind, attempts, delay)

    def _succeeded(self, what: str, chain: str) -> None:
        self._retry.pop((what, chain), None)

    # ---- own chain -----------------------------------------------------------------------------------

    def _nonce(self) -> int:
        raw = self.ep.query(full_account_key(compute_account_id(self.key.pub_key))).value
        return AuthRecord.decode(raw).nonce

    def _submit(self, field_: str, msg) -> Submitted:
        tx = build_tx(self.key, self.chain, self._nonce(), field_, msg)
        res = self.ep.submit(tx)
        self.metrics.txs.inc(chain_id=self.chain, msg=field_, result="ok" if res.code == 0 else f"{res.codespace}:{res.code}")
        return res

    def _client(self, remote: str):
        raw = self.ep.query(keys.PREFIX + keys.client_key(remote)).value
        return decode_client_state(raw) if raw else None

    def _proof_point(self, remote: str, peer: RelayPeer) -> tuple[int, LightBlock | None, int]:
        """(proof height, update to include or None, header time) for proving remote's latest state."""
        latest = peer.latest_height()
        client = self._client(remote)
        if client is not None and client.latest_height >= latest:
            cons = decode_consensus_state(self.ep.query(keys.PREFIX + keys.consensus_key(remote, client.latest_height)).value)
            return client.latest_height, None, cons.time_ns
        lb = peer.light_block(latest)
        if client is not None:
            # Checked here first with the same pure light client the chain runs: a bad header costs no tx, and
            # when the remote validator set rotated too far for one skip, the bisection's intermediate headers
            # are submitted first.
            _, now = self.ep.latest()
            path = compute_update_path(client, lb, peer.light_block, now)
            for step in path[:-1]:
                m = interchain_pb2.MsgUpdateClient(chain_id=remote)
                light_block_to_proto(step, m.update)
                res = self._submit("update_client", m)
                if res.code != 0:
                    raise RelayError(f"client update of {remote} to {step.height} refused: {res.log}", chain_id=remote)
                log.info("chain=%s light client of %s bisected to height %d", self.chain, remote, step.height)
        return latest, lb, lb.signed_header.header.time_ns

    def route_peer(self, remote: str) -> RelayPeer:
        return self.peers(remote)

    # ---- source side ---------------------------------------------------------------------------------

    def scan(self) -> None:
        """Queue the packets committed in blocks since the cursor (the outbox values, exactly)."""
        latest, _ = self.ep.latest()
        h = self.queue.get_cursor() + 1
        end = min(latest, h + SCAN_BLOCKS_PER_STEP - 1)
        while h <= end:
            found = []
            for ev in self.ep.block_events(h):
                if ev.type != "send_packet" or ev.attrs.get("source") != self.chain:
                    continue
                dest, seq = ev.attrs["destination"], int(ev.attrs["sequence"])
                raw = self.ep.query(keys.full_outbox_key(dest, seq)).value
                if raw is not None:  # absent: already settled by another relay
                    found.append(Entry(dest, seq, raw.hex(), self.clock()))
                    log.info("chain=%s packet committed dest=%s seq=%d height=%d", self.chain, dest, seq, h)
            self.queue.record_scan(h, found)
            h += 1

    def push_outbound(self) -> None:
        """Hand new packets to their destination's relay (looked up in the routing table)."""
        by_dest: dict[str, list[Entry]] = {}
        for e in self.queue.entries(OUT):
            if e.state == NEW:
                by_dest.setdefault(e.chain, []).append(e)
        for dest, entries in by_dest.items():
            if not self._due("push", dest):
                continue
            try:
                self.route_peer(dest).submit_packets(self.chain, [e.packet for e in entries])
            except DistposError as exc:
                self._failed("push", dest, f"push:{exc.codespace}:{exc.code}")
                continue
            self._succeeded("push", dest)
            for e in entries:
                e.state = SUBMITTED
                self.queue.put(OUT, e)
                log.info("chain=%s packet handed to relay of %s seq=%d", self.chain, dest, e.sequence)

    def settle_outbound(self) -> None:
        """Acknowledge (or time out) own packets whose fate is proven on their destination."""
        by_dest: dict[str, list[Entry]] = {}
        for e in self.queue.entries(OUT):
            # NEW entries too: a packet never handed over (destination relay down) still times out and is refunded
            by_dest.setdefault(e.chain, []).append(e)
        for dest, entries in by_dest.items():
            if self._due("settle", dest):
                try:
                    self._settle_dest(dest, entries)
                    self._succeeded("settle", dest)
                except DistposError as exc:
                    self._failed("settle", dest, f"settle:{exc.codespace}:{exc.code}")

    def _drop_settled(self, dest: str, entries: list[Entry]) -> list[Entry]:
        live = []
        for e in entries:
            if self.ep.query(keys.full_outbox_key(dest, e.sequence)).value is None:
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
        proofs = peer.get_proofs([keys.full_inbox_key(self.chain, e.sequence) for e in entries], height - 1)
        acks = interchain_pb2.MsgAcknowledge(destination_chain=dest, proof_height=height)
        acked: list[Entry] = []
        timeouts: list[tuple[Entry, Proven]] = []
        for e, pr in zip(entries, proofs):
            if pr.proof is None:
                continue
            if pr.value is not None:
                if len(acks.acks) < 8:
                    acks.acks.add(packet=e.packet, ack=pr.value, proof=pr.proof.to_proto())
                    acked.append(e)
            elif is_timed_out(decode_packet(e.packet), height, header_time):
                timeouts.append((e, pr))
        if acked:
            if update is not None:
                light_block_to_proto(update, acks.update)
            res = self._submit("acknowledge", acks)
            if res.code not in (0,):
                raise RelayError(f"acknowledge to {dest} refused: {res.log}", chain_id=dest)
            update = None
            for e in acked:
                self._finish(e, "acked")
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

    def _finish(self, e: Entry, outcome: str) -> None:
        self.queue.delete(OUT, e.chain, e.sequence)
        self.metrics.settled.inc(chain_id=self.chain, outcome=outcome)
        self.metrics.latency.observe(max(0.0, self.clock() - e.first_seen), chain_id=self.chain, destination=e.chain)
        log.info("chain=%s packet settled dest=%s seq=%d outcome=%s latency=%.2fs", self.chain, e.chain, e.sequence,
                 outcome, self.clock() - e.first_seen)

    # ---- destination side ----------------------------------------------------------------------------

    def deliver_inbound(self) -> None:
        """Submit queued inbound packets to the own chain, with the source's header, in as few txs as fit."""
        by_src: dict[str, list[Entry]] = {}
        for e in self.queue.entries(IN):
            by_src.setdefault(e.chain, []).append(e)
        for src, entries in by_src.items():
            if self._due("deliver", src):
                try:
                    self._deliver_src(src, entries)
                    self._succeeded("deliver", src)
                except DistposError as exc:
                    self._failed("deliver", src, f"deliver:{exc.codespace}:{exc.code}")

    def _deliver_src(self, src: str, entries: list[Entry]) -> None:
        own_height, own_time = self.ep.latest()
        live = []
        for e in entries:
            packet = decode_packet(e.packet)
            if self.ep.query(keys.full_inbox_key(src, e.sequence)).value is not None:
                self.queue.delete(IN, src, e.sequence)  # already received (by us before a crash, or another relay)
                continue
            if is_timed_out(packet, own_height + 1, own_time):
                self.queue.delete(IN, src, e.sequence)
                log.info("chain=%s packet from %s seq=%d timed out here; its source will refund it", self.chain, src,
                         e.sequence)
                continue
            refusal = compute_policy_refusal(self.policy, packet)
            if refusal is not None:
                self.queue.delete(IN, src, e.sequence)
                self.metrics.error("policy")
                log.info("chain=%s packet from %s seq=%d refused by relay policy: %s", self.chain, src, e.sequence, refusal)
                continue
            live.append(e)
        if not live:
            return
        peer = self.route_peer(src)
        height, update, _ = self._proof_point(src, peer)
        proofs = peer.get_proofs([keys.full_outbox_key(self.chain, e.sequence) for e in live], height - 1)
        batch = interchain_pb2.MsgRecvPackets(source_chain=src, proof_height=height)
        if update is not None:
            light_block_to_proto(update, batch.update)
        in_batch: list[Entry] = []
        for e, pr in zip(live, proofs):
            if pr.value is None or pr.proof is None:
                continue  # not committed at that height yet: next round
            batch.packets.add(packet=pr.value, proof=pr.proof.to_proto())
            if in_batch and (batch.ByteSize() > self.max_tx_bytes - TX_OVERHEAD or len(batch.packets) > 16):
                del batch.packets[-1]
                self._submit_recv(src, batch, in_batch)
                batch = interchain_pb2.MsgRecvPackets(source_chain=src, proof_height=height)
                in_batch = []
                batch.packets.add(packet=pr.value, proof=pr.proof.to_proto())
            in_batch.append(e)
        if in_batch:
            self._submit_recv(src, batch, in_batch)

    def _submit_recv(self, src: str, batch, entries: list[Entry]) -> None:
        res = self._submit("recv_packets", batch)
        seqs = ",".join(str(e.sequence) for e in entries)
        if res.code == 0:
            for e in entries:
                self.queue.delete(IN, src, e.sequence)
                self.core.delivered += 1
            log.info("chain=%s received packets from %s seq=%s at height %d", self.chain, src, seqs, res.height)
            return
        if res.code == DUPLICATE_CODE:  # someone was faster with one of them: the next round filters
            log.info("chain=%s packets from %s seq=%s: duplicate, rechecking", self.chain, src, seqs)
            return
        raise RelayError(f"recv of {src} seq={seqs} refused: {res.log}", chain_id=src)

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
