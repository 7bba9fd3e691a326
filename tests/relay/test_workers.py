"""Issue 9: the relay as a supervisor and one worker per (source, destination) pair. Workers run in their own
threads (a pair whose remote relay hangs does not hold up another pair), share one submitter whose nonces stay
in order under concurrent sends, and the scan rebuilds the outbox bytes from the send_packet events."""

from __future__ import annotations

import threading
import time

from distpos_abci.errors import PeerUnreachableError
from distpos_abci.gen.distpos.v1 import interchain_pb2
from distpos_abci.interchain import keys
from distpos_abci.metrics import Registry
from distpos_abci.relay import LocalPeer, Relayer
from distpos_abci.relay import relayer as relayer_module
from distpos_abci.relay.events import compute_sent_packet
from distpos_abci.relay.queue import IN, OUT, RelayQueue
from distpos_abci.relay.relayer import RelayMetrics
from distpos_abci.relay.submitter import Submitter, is_bad_nonce
from distpos_abci.relay.workers import InboundWorker, OutboundWorker
from tests.interchain.helpers import ALICE, BOB, RELAYER, addr, open_chain, send_msg

from .mock import MockEndpoint
from .test_relay import Clock, make_relayer

DEADLINE_S = 30.0


class LockedEndpoint:
    """A mock endpoint callable from several threads: one call at a time, as a node serializes its app."""

    def __init__(self, inner: MockEndpoint) -> None:
        self.inner, self.chain_id, self.lock = inner, inner.chain_id, threading.RLock()

    def __getattr__(self, name: str):
        fn = getattr(self.inner, name)
        if not callable(fn):
            return fn

        def call(*args, **kw):
            with self.lock:
                return fn(*args, **kw)
        return call

    def wait_block(self, above: int, timeout: float) -> bool:
        time.sleep(min(timeout, 0.01))
        return self.committed_height() > above


class HangingPeer:
    """A destination relay that never answers a hand-over until released."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()

    def submit_packets(self, source, packets):
        self.entered.set()
        self.release.wait(DEADLINE_S)
        raise PeerUnreachableError("relay of c3d4 timed out", chain_id="c3d4")

    def latest_height(self) -> int:
        raise PeerUnreachableError("relay of c3d4 does not answer", chain_id="c3d4")


def wait_for(pred, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def transfer_to(e, dest: str, amount: int, relay_fee: int = 0) -> None:
    m = interchain_pb2.MsgTransfer(from_address=str(addr(ALICE, "e2e4")), to_address=str(addr(BOB, dest)),
                                   amount=amount, timeout_height=10_000, relay_fee=relay_fee)
    assert e.tx(ALICE, "transfer", m).ok


def test_scan_rebuilds_the_outbox_bytes_from_the_send_packet_events(tmp_path, monkeypatch):
    e = open_chain(tmp_path, "e2e4", {"a1b2": {}})
    peers: dict = {}
    re_ = make_relayer(tmp_path, e, "e", peers, Clock())
    transfer_to(e, "a1b2", 5)
    transfer_to(e, "a1b2", 6, relay_fee=2)
    re_.scan()
    got = {x.sequence: x.packet for x in re_.queue.entries(OUT)}
    assert got == {s: e.app.state.get(keys.full_outbox_key("a1b2", s)) for s in (1, 2)}  # byte for byte
    assert compute_sent_packet({"sequence": "1", "source": "e2e4"}) is None  # an incomplete event
    event = dict(next(ev for ev in re_.ep.block(e.app.last_height).events() if ev.type == "send_packet").attrs)
    assert compute_sent_packet(event) is not None
    assert compute_sent_packet({**event, "path": "e2e4->a1b2->c3d4"}) is None  # multi-hop: read from the outbox
    # an event without every field: the scan reads the outbox instead, with the same result
    re2 = make_relayer(tmp_path, e, "e2", peers, Clock())
    monkeypatch.setattr(relayer_module, "compute_sent_packet", lambda attrs: None)
    re2.scan()
    assert {x.sequence: x.packet for x in re2.queue.entries(OUT)} == got


def test_one_worker_per_pair_from_the_queue_the_clients_and_hand_overs(tmp_path):
    e = open_chain(tmp_path, "e2e4", {"a1b2": {}, "c3d4": {}})
    a = open_chain(tmp_path, "a1b2", {"e2e4": {}})
    peers: dict = {}
    clock = Clock()
    re_ = make_relayer(tmp_path, e, "e", peers, clock, clients=("c3d4",))
    ra = make_relayer(tmp_path, a, "a", peers, clock)
    peers["e2e4"], peers["a1b2"] = LocalPeer(re_.core), LocalPeer(ra.core)
    transfer_to(e, "a1b2", 7)
    transfer_to(e, "c3d4", 8)
    a.block()
    e.block()
    re_.scan()  # a worker per destination of the packets found
    assert sorted(re_.workers) == [("out", "a1b2"), ("out", "c3d4")]
    re_.discover()  # and one per chain in `clients` (its light client is kept fresh)
    assert sorted(re_.workers) == [("in", "c3d4"), ("out", "a1b2"), ("out", "c3d4")]
    assert isinstance(re_.workers[("out", "a1b2")], OutboundWorker)
    assert isinstance(re_.workers[("in", "c3d4")], InboundWorker)
    assert ra.workers == {}
    re_.worker("out", "a1b2").push()  # the hand-over creates a1b2's worker for e2e4 and wakes it
    assert ra.queue.count(IN) == 1 and ra.workers[("in", "e2e4")].wake.is_set()


def test_a_hanging_destination_relay_holds_up_only_its_own_pair(tmp_path):
    """e2e4's relay runs (supervisor and worker threads). c3d4's relay takes a hand-over and never answers;
    the worker for e2e4 -> a1b2 still hands its packet over, and a1b2's relay delivers it."""
    e = open_chain(tmp_path, "e2e4", {"a1b2": {}, "c3d4": {}})
    a = open_chain(tmp_path, "a1b2", {"e2e4": {}})
    hanging = HangingPeer()
    peers: dict = {"c3d4": hanging}
    ep_e, ep_a = LockedEndpoint(MockEndpoint(e)), LockedEndpoint(MockEndpoint(a))
    qe, qa = RelayQueue(str(tmp_path / "q-e")), RelayQueue(str(tmp_path / "q-a"))
    re_ = Relayer(ep_e, qe, RELAYER, lambda c: peers[c], RelayMetrics(Registry(), "e2e4", qe), settle_interval_s=0,
                  clients=("a1b2",))
    ra = Relayer(ep_a, qa, RELAYER, lambda c: peers[c], RelayMetrics(Registry(), "a1b2", qa), settle_interval_s=0)
    peers["e2e4"], peers["a1b2"] = LocalPeer(re_.core), LocalPeer(ra.core)
    transfer_to(e, "c3d4", 8)
    transfer_to(e, "a1b2", 7)
    a.block()
    e.block()  # both packets provable
    stop = threading.Event()
    runner = threading.Thread(target=re_.run, args=(0.05, stop.is_set), daemon=True)
    runner.start()
    try:
        wait_for(hanging.entered.is_set, "the hand-over to c3d4")
        wait_for(lambda: qa.count(IN) == 1, "the hand-over to a1b2 while c3d4's hangs")
        assert re_.workers[("out", "c3d4")].thread.is_alive()  # still inside its hand-over
        # one thread per pair, also for the pair known before the loop started (a1b2 in `clients`)
        names = sorted(t.name for t in threading.enumerate() if t.name.startswith(("relay-in-", "relay-out-")))
        assert names == ["relay-in-a1b2", "relay-out-a1b2", "relay-out-c3d4"], names
    finally:
        hanging.release.set()
        stop.set()
        runner.join(DEADLINE_S)
    assert not runner.is_alive()
    ra.step()  # a1b2's relay delivers it
    ra.ep.inner.c.block()
    ra.step()
    assert a.balance(BOB) == 1_000_000 + 7 and qa.count(IN) == 0


def test_concurrent_sends_from_several_workers_keep_the_nonces_in_order(tmp_path):
    """Workers share the own chain's submitter: every concurrent send passes CheckTx (no auth:11), each with
    its own nonce, broadcast in nonce order."""
    a = open_chain(tmp_path, "a1b2", {"e2e4": {}})
    assert a.tx(ALICE, "send", send_msg(ALICE, "a1b2", addr(RELAYER, "a1b2"), 100)).ok  # the relay pays 40 x 1
    ep = LockedEndpoint(MockEndpoint(a, hold=True))
    sub = Submitter(ep, RELAYER)
    results = []

    def worker() -> None:
        for _ in range(10):
            results.append(sub.send("send", send_msg(RELAYER, "a1b2", addr(BOB, "a1b2"), 1)))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE_S)
    assert len(results) == 40 and not any(is_bad_nonce(r) or r.code for r in results)
    from .test_pipeline import nonces_of
    sent = ep.inner.broadcasts
    assert nonces_of(sent) == list(range(nonces_of(sent)[0], nonces_of(sent)[0] + 40)) and len(sub.inflight) == 40
    ep.commit()
    sub.absorb(ep.committed_height(), ep.block)
    assert sub.inflight == {} and a.balance(BOB) == 1_000_000 + 40


class CountingPeer(LocalPeer):
    """A LocalPeer counting the keys it is asked to prove."""

    def __init__(self, core) -> None:
        super().__init__(core)
        self.proved = 0

    def get_proofs(self, keys_, height):
        self.proved += len(keys_)
        return super().get_proofs(keys_, height)


def test_settle_proves_a_pending_packet_once_per_destination_height(tmp_path):
    """Receipts not there yet are proven absent once per state of the destination, not on every settle round
    (the localnet settles every 200 ms, several times per block): the proof would say the same."""
    e = open_chain(tmp_path, "e2e4", {"a1b2": {}})
    a = open_chain(tmp_path, "a1b2", {"e2e4": {}})
    peers: dict = {}
    clock = Clock()
    re_ = make_relayer(tmp_path, e, "e", peers, clock)
    ra = make_relayer(tmp_path, a, "a", peers, clock)
    peers["e2e4"], peers["a1b2"] = LocalPeer(re_.core), CountingPeer(ra.core)
    for amount in (1, 2, 3):
        transfer_to(e, "a1b2", amount)
    a.block()
    e.block()
    re_.scan()
    re_.push_outbound()  # handed over; a1b2's relay has not delivered them yet
    re_.settle_outbound()
    assert peers["a1b2"].proved == 3  # proven absent at a1b2's current state
    re_.settle_outbound()
    re_.settle_outbound()
    assert peers["a1b2"].proved == 3  # same state of a1b2: nothing asked again
    ra.step()  # delivered: a1b2 commits a block with the receipts
    a.block()
    re_.settle_outbound()
    assert peers["a1b2"].proved == 6  # a new state: proven again, found, acknowledged
    re_.step()
    assert re_.queue.count(OUT) == 0 and a.balance(BOB) == 1_000_000 + 6


def test_a_delivered_packet_leaves_the_queue_while_still_marked_in_flight(tmp_path):
    """The supervisor applies a block (deleting delivered packets from the queue) while the pair's worker may be
    in a round: the queue entry must be gone before the packet stops counting as in flight, or that round
    submits it again (refused as a duplicate, 102). The same order holds for acks."""
    from .test_pipeline import held_pair, queue_transfers
    e = open_chain(tmp_path, "e2e4", {"a1b2": {}})
    a = open_chain(tmp_path, "a1b2", {"e2e4": {}})
    clock = Clock()
    re_, ra = held_pair(tmp_path, e, a, clock)
    queue_transfers(re_, e, a, 3)
    ra.step()  # submitted, in the mempool
    worker = ra.worker("in", "e2e4")
    assert worker.inflight == {1, 2, 3}
    seen: list[bool] = []
    delete = ra.queue.delete
    ra.queue.delete = lambda table, chain, seq: (seen.append(seq in worker.inflight), delete(table, chain, seq))
    ra.ep.commit()
    ra.step()  # the block is applied
    assert seen == [True, True, True] and worker.inflight == set() and ra.queue.count(IN) == 0
    # acks: the source relay's entries leave its queue before they leave its worker's in-flight set
    out = re_.worker("out", "a1b2")
    seen.clear()
    delete_out = re_.queue.delete
    re_.queue.delete = lambda table, chain, seq: (seen.append(seq in out.inflight), delete_out(table, chain, seq))
    e.block()
    a.block()
    re_.settle_outbound()
    re_.step()
    assert seen == [True, True, True] and re_.queue.count(OUT) == 0
