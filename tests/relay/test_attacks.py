"""Issue 7 item 7, "the relay can be fed and can censor": each attack on the relay, as a test.

Feeding: forged packets handed to SubmitPacket; a decoy in the queue whose proven bytes differ. Censoring: a
destination relay that takes fewer packets than it is handed, or claims to hold them and drops them. Flooding:
over-long GetProof key lists and SubmitPacket packet lists, and a full inbound queue.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from distpos_abci.errors import (
    InboundQueueFullError,
    InvalidPacketError,
    NonCanonicalEncodingError,
    PacketTooLargeError,
    TooManyPacketsError,
    TooManyProofKeysError,
)
from distpos_abci.gen.distpos.v1 import interchain_pb2
from distpos_abci.interchain import keys
from distpos_abci.relay import LocalPeer
from distpos_abci.relay.limits import RelayLimits
from distpos_abci.relay.queue import IN, OUT, Entry
from tests.interchain.helpers import ALICE, BOB, addr

from .mock import MockEndpoint
from .test_relay import Clock, make_relayer, run


def transfer(e, a, amount: int, timeout_blocks: int = 60):
    m = interchain_pb2.MsgTransfer(from_address=str(addr(ALICE, "e2e4")), to_address=str(addr(BOB, "a1b2")),
                                   amount=amount, timeout_height=a.app.last_height + timeout_blocks)
    assert e.tx(ALICE, "transfer", m).ok


def forged_packet(seq: int, amount: int) -> bytes:
    """A well-formed packet e2e4 -> a1b2 that e2e4 never committed (or committed with other bytes)."""
    return interchain_pb2.Packet(sequence=seq, source_chain="e2e4", destination_chain="a1b2",
                                 sender=str(addr(ALICE, "e2e4")), recipient=str(addr(BOB, "a1b2")),
                                 amount=amount, timeout_height=10_000).SerializeToString()


def recv_txs(chain) -> int:
    return sum(1 for res in chain.results.values() for r in res.tx_results if r.ok
               and any(ev.type == "recv_packet" for ev in r.events))


def timeouts(chain) -> int:
    return sum(1 for res in chain.results.values() for r in res.tx_results
               for ev in r.events if ev.type == "timeout_packet")


def pair(net, clock, *, e_kw=None, a_kw=None, a_peer=None):
    tmp, e, a = net
    peers: dict = {}
    re_ = make_relayer(tmp, e, "e", peers, clock, **(e_kw or {}))
    ra = make_relayer(tmp, a, "a", peers, clock, **(a_kw or {}))
    peers["e2e4"] = LocalPeer(re_.core)
    peers["a1b2"] = (a_peer or LocalPeer)(ra.core)
    return re_, ra, peers


@pytest.fixture
def net(tmp_path):
    from tests.interchain.helpers import open_chain
    e = open_chain(tmp_path, "e2e4", {"a1b2": {}})
    a = open_chain(tmp_path, "a1b2", {"e2e4": {}})
    return tmp_path, e, a


# ---- feeding: SubmitPacket accepts only what the source chain committed --------------------------------

def test_invalid_forged_packet_is_not_queued_and_not_relayed(net):
    _, e, a = net
    clock = Clock()
    re_, ra, _ = pair(net, clock)
    e.block()
    res = ra.core.accept_packets("e2e4", [forged_packet(1, 5000)])
    assert res.accepted == 0 and res.held == () and [r.sequence for r in res.refused] == [1]
    assert res.refused[0].code == 144
    assert ra.queue.count(IN) == 0
    run(re_, ra, clock=clock)
    assert a.balance(BOB) == 1_000_000 and recv_txs(a) == 0


def test_invalid_forged_bytes_for_a_real_sequence_are_refused_and_the_real_packet_is_delivered(net):
    _, e, a = net
    clock = Clock()
    re_, ra, _ = pair(net, clock)
    transfer(e, a, 40)
    e.block()
    res = ra.core.accept_packets("e2e4", [forged_packet(1, 900_000)])  # seq 1 exists, with amount 40
    assert res.accepted == 0 and ra.queue.count(IN) == 0
    run(re_, ra, clock=clock)
    assert a.balance(BOB) == 1_000_000 + 40


def test_invalid_packets_for_another_chain_or_non_canonical_are_refused_whole(net):
    _, e, a = net
    clock = Clock()
    _, ra, _ = pair(net, clock)
    transfer(e, a, 40)
    e.block()
    real = e.view.get_outbox("a1b2", 1)
    with pytest.raises(InvalidPacketError):
        ra.core.accept_packets("c3d4", [real])  # named source is not the packet's
    with pytest.raises(NonCanonicalEncodingError):
        ra.core.accept_packets("e2e4", [real + b"\x48\x01"])  # an unknown field 9 appended
    assert ra.queue.count(IN) == 0


def test_genuine_packet_is_held_once_and_reported_again_on_resubmission(net):
    _, e, a = net
    clock = Clock()
    _, ra, _ = pair(net, clock)
    transfer(e, a, 40)
    e.block()
    real = e.view.get_outbox("a1b2", 1)
    first = ra.core.accept_packets("e2e4", [real])
    again = ra.core.accept_packets("e2e4", [real])
    assert (first.accepted, first.held) == (1, (1,)) and (again.accepted, again.held) == (0, (1,))
    assert ra.queue.count(IN) == 1


def test_invalid_decoy_in_the_queue_is_judged_on_the_proven_bytes(net):
    """Policy-passing queued bytes, different proven bytes: the policy sees what would be submitted."""
    _, e, a = net
    clock = Clock()
    re_, ra, _ = pair(net, clock, a_kw={"policy": lambda p: p.amount < 100 or "too big for this operator"})
    transfer(e, a, 500, timeout_blocks=6)
    e.block()
    ra.queue.put(IN, Entry("e2e4", 1, forged_packet(1, 1).hex(), clock()))  # the decoy: amount 1
    ra.deliver_inbound()
    assert a.balance(BOB) == 1_000_000 and recv_txs(a) == 0
    assert ra.queue.count(IN) == 0  # dropped: refused by policy on the proven bytes
    run(re_, ra, rounds=10, clock=clock)
    assert a.balance(BOB) == 1_000_000 and e.balance(ALICE) == 1_000_000  # timed out, refunded


# ---- censoring: what a destination relay does not take is re-sent, or delivered by the source ----------

class DroppingPeer(LocalPeer):
    """A destination relay that takes only some packets: `drops` sequences are not queued, `times` times each.

    With `lie`, it claims to hold what it dropped (so only the missing receipt reveals it)."""

    drops: set[int] = set()
    times: int = 1
    lie: bool = False

    def __init__(self, core) -> None:
        super().__init__(core)
        self.dropped: dict[int, int] = {}

    def submit_packets(self, source, packets):
        from distpos_abci.interchain import decode_packet
        kept, gone = [], []
        for raw in packets:
            seq = decode_packet(raw).sequence
            if seq in self.drops and self.dropped.get(seq, 0) < self.times:
                self.dropped[seq] = self.dropped.get(seq, 0) + 1
                gone.append(seq)
            else:
                kept.append(raw)
        res = self.core.accept_packets(source, kept)
        return replace(res, held=tuple(sorted(res.held + tuple(gone)))) if self.lie else res


def test_destination_relay_taking_fewer_packets_gets_the_rest_resent(net):
    _, e, a = net
    clock = Clock()

    class Once(DroppingPeer):
        drops, times = {2}, 1

    re_, ra, peers = pair(net, clock, a_peer=Once)
    for amount in (1, 2, 3):
        transfer(e, a, amount)
    run(re_, ra, rounds=8, clock=clock)
    assert peers["a1b2"].dropped == {2: 1}
    assert a.balance(BOB) == 1_000_000 + 6
    assert timeouts(e) == 0 and e.view.list_outbox("a1b2") == []


def test_destination_relay_claiming_and_dropping_is_bypassed_by_the_source_relay(net):
    """The censoring relay always drops seq 2 and lies about it: the source relay re-sends after
    resend_after, then delivers it itself through the destination's node; nothing times out."""
    _, e, a = net
    clock = Clock()

    class Censor(DroppingPeer):
        drops, times, lie = {2}, 10**9, True

    limits = RelayLimits(resend_after_s=3.0, direct_after_attempts=2)
    re_, ra, peers = pair(net, clock, a_peer=Censor,
                          e_kw={"limits": limits, "direct": lambda c: MockEndpoint(a) if c == "a1b2" else None})
    for amount in (1, 2, 3):
        transfer(e, a, amount, timeout_blocks=40)
    run(re_, ra, rounds=12, clock=clock)
    assert peers["a1b2"].dropped[2] >= 1
    assert a.balance(BOB) == 1_000_000 + 6
    assert timeouts(e) == 0 and e.view.list_outbox("a1b2") == [] and re_.queue.count(OUT) == 0


def test_destination_relay_down_then_source_delivers_directly(net):
    _, e, a = net
    clock = Clock()

    class Down(LocalPeer):
        def submit_packets(self, source, packets):
            from distpos_abci.errors import PeerUnreachableError
            raise PeerUnreachableError("relay of a1b2 is down", chain_id="a1b2")

    limits = RelayLimits(direct_after_attempts=2)
    re_, ra, peers = pair(net, clock, a_peer=Down,
                          e_kw={"limits": limits, "direct": lambda c: MockEndpoint(a)})
    transfer(e, a, 7, timeout_blocks=40)
    for _ in range(10):
        run(re_, rounds=1, clock=clock)
        a.block()
    assert a.balance(BOB) == 1_000_000 + 7 and timeouts(e) == 0


# ---- flooding: every request and queue is bounded, refusals change nothing ------------------------------

def test_invalid_overlong_getproof_key_list_is_refused(net):
    _, e, a = net
    clock = Clock()
    re_, _, _ = pair(net, clock, e_kw={"limits": RelayLimits(max_proof_keys=4)})
    key = keys.full_outbox_key("a1b2", 1)
    assert len(re_.core.get_proofs([key] * 4, 0)) == 4
    with pytest.raises(TooManyProofKeysError) as info:
        re_.core.get_proofs([key] * 5, 0)
    assert info.value.code == 146 and info.value.grpc_status == "INVALID_ARGUMENT"


def test_invalid_overlong_or_oversized_submit_is_refused(net):
    _, e, a = net
    clock = Clock()
    _, ra, _ = pair(net, clock, a_kw={"limits": RelayLimits(max_request_packets=2)})
    for amount in (1, 2, 3):
        transfer(e, a, amount)
    e.block()
    raws = [e.view.get_outbox("a1b2", s) for s in (1, 2, 3)]
    with pytest.raises(TooManyPacketsError):
        ra.core.accept_packets("e2e4", raws)
    with pytest.raises(PacketTooLargeError):
        ra.core.accept_packets("e2e4", [b"\x0a" + b"\xff" * 5000])
    assert ra.queue.count(IN) == 0


def test_invalid_full_inbound_queue_refuses_and_changes_nothing(net):
    _, e, a = net
    clock = Clock()
    _, ra, _ = pair(net, clock, a_kw={"limits": RelayLimits(max_inbound_packets=2)})
    for amount in (1, 2, 3):
        transfer(e, a, amount)
    e.block()
    raws = [e.view.get_outbox("a1b2", s) for s in (1, 2, 3)]
    with pytest.raises(InboundQueueFullError) as info:
        ra.core.accept_packets("e2e4", raws)
    assert info.value.code == 145 and info.value.grpc_status == "RESOURCE_EXHAUSTED"
    assert ra.queue.count(IN) == 0
    assert ra.core.accept_packets("e2e4", raws[:2]).accepted == 2
    with pytest.raises(InboundQueueFullError):
        ra.core.accept_packets("e2e4", raws[2:])
    assert ra.core.accept_packets("e2e4", raws[:2]).held == (1, 2)  # what it holds is still reported
    assert sorted(x.sequence for x in ra.queue.entries(IN)) == [1, 2]


def test_full_outbound_queue_pauses_the_scan_and_loses_nothing(net):
    _, e, a = net
    clock = Clock()
    re_, ra, _ = pair(net, clock, e_kw={"limits": RelayLimits(max_outbound_packets=1)})
    for amount in (1, 2, 3):
        transfer(e, a, amount)
    re_.scan()
    assert re_.queue.count(OUT) == 1
    run(re_, ra, rounds=14, clock=clock)
    assert a.balance(BOB) == 1_000_000 + 6 and e.view.list_outbox("a1b2") == []


def test_retry_map_is_bounded(net):
    _, e, a = net
    clock = Clock()
    re_, _, _ = pair(net, clock, e_kw={"limits": RelayLimits(max_retry_entries=3)})
    for i in range(10):
        re_.failed("push", f"c{i}", "push:test")
    assert len(re_._retry) == 3
