"""The destination's relay claims and releases instant credits by itself (relay/instant.py), on two in-process
chains through mock endpoints: e2e4 (source, staked underwriters) and a1b2 (destination, instant limit)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from distpos_abci.gen.distpos.v1 import tx_pb2
from distpos_abci.interchain.instant import (
    CREDITED, DELIVERED, HELD, HOLD_PAID, HOLD_RETURNED, IN_FLIGHT, PAID_OUT, SETTLED, InstantSend,
)
from distpos_abci.metrics import Registry
from distpos_abci.relay import LocalPeer, Relayer
from distpos_abci.codec import encode_canonical
from distpos_abci.errors import RelayError
from distpos_abci.relay.instant import (
    CLAIM, DONE, RELEASE, WAIT, InstantEntry, compute_instant_entries, compute_instant_step,
)
from distpos_abci.relay.types import Block
from distpos_abci.relay.queue import RelayQueue
from distpos_abci.relay.relayer import RelayMetrics
from distpos_abci.tx import build_tx
from distpos_abci.types import Amount, ChainId
from tests.interchain.helpers import ALICE, CAROL, RELAYER, addr, recv_msg
from tests.interchain.instant_helpers import (
    DST, SRC, collateral, credit_msg, guarantees, instant_key, instant_tx, open_pair, outstanding,
)
from tests.interchain.test_instant import credit_record

from .mock import MockEndpoint


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def relay(tmp_path, chain, name, peers, clock, direct=None) -> Relayer:
    ep = MockEndpoint(chain)
    q = RelayQueue(str(tmp_path / f"q-{name}"))
    return Relayer(ep, q, RELAYER, lambda c: peers[c], RelayMetrics(Registry(), chain.chain_id, q),
                   settle_interval_s=0, clock=clock, direct=direct)


def setup(tmp_path, names=("a",)):
    """The pair, e2e4's relay, and a1b2's relay(s) delivering claims into e2e4 through one direct endpoint."""
    src, dst = open_pair(tmp_path)
    clock, peers = Clock(), {}
    src_direct = MockEndpoint(src)
    rs = relay(tmp_path, src, "e", peers, clock)
    rds = [relay(tmp_path, dst, n, peers, clock, direct=lambda c: src_direct if c == SRC else None) for n in names]
    peers[SRC], peers[DST] = LocalPeer(rs.core), LocalPeer(rds[0].core)
    return src, dst, rs, rds, clock, src_direct


def credit_through(r: Relayer, dst, gs, raw) -> None:
    """Someone submits the MsgInstantCredit into a1b2 (the relay reads it back from the block)."""
    res = r.ep.submit(build_tx(RELAYER, DST, dst.nonce(RELAYER), "instant_credit", credit_msg(gs, raw)))
    assert res.code == 0, res.log


def spend_nonce(src) -> None:
    """Alice uses the guaranteed nonce for something else: the instant transfer can never run."""
    res = src.block(build_tx(ALICE, SRC, src.nonce(ALICE), "send", tx_pb2.MsgSend(
        from_address=str(addr(ALICE, SRC)), to_address=str(addr(CAROL, SRC)), amount=5)))
    assert res.tx_results[0].ok


def rounds(relays, n, *chains):
    for _ in range(n):
        for c in chains:
            c.block()
        for r in relays:
            r.step()


def count(r: Relayer, step: str, result: str = "ok") -> float:
    return r.metrics.instant.values.get((DST, step, result), 0)


def sent(r: Relayer, step: str) -> float:
    """Claims or releases r submitted, whatever their result."""
    return sum(v for (_, s, _), v in r.metrics.instant.values.items() if s == step)


def test_compute_instant_step_decides_from_both_chains_state():
    key, other = b"k" * 32, b"o" * 32
    send = lambda status, k=key: InstantSend(status, ChainId(DST), 1, Amount(5), k)  # noqa: E731
    assert compute_instant_step(SETTLED, None, key, False, 99, 10) == DONE
    assert compute_instant_step(PAID_OUT, None, key, True, 99, 10) == DONE
    assert compute_instant_step(None, None, key, False, 99, 10) == DONE
    assert compute_instant_step(CREDITED, None, key, True, 5, 10) == RELEASE
    assert compute_instant_step(CREDITED, send(HELD), key, False, 5, 10) == CLAIM  # no need to wait for expiry
    assert compute_instant_step(CREDITED, send(DELIVERED), key, False, 99, 10) == WAIT
    assert compute_instant_step(CREDITED, send(IN_FLIGHT), key, False, 99, 10) == WAIT
    assert compute_instant_step(CREDITED, send(HOLD_PAID), key, False, 99, 10) == WAIT
    assert compute_instant_step(CREDITED, send(HOLD_RETURNED), key, False, 99, 10) == DONE
    assert compute_instant_step(CREDITED, None, key, False, 10, 10) == WAIT  # the nonce may still pay
    assert compute_instant_step(CREDITED, None, key, False, 11, 10) == CLAIM
    assert compute_instant_step(CREDITED, send(DELIVERED, other), key, False, 11, 10) == CLAIM  # used otherwise


def test_followed_entries_are_read_from_the_crediting_transaction(tmp_path):
    """The block's MsgInstantCredit gives the guarantees and the signed transfer; a failed tx or a block without
    the tx bytes gives nothing to follow."""
    src, dst, rs, (rd,), clock, src_direct = setup(tmp_path)
    raw = instant_tx(src, 300)
    gs = guarantees(raw, {0: 200, 3: 100}, expiry=src.app.last_height + 4)
    credit_through(rd, dst, gs, raw)
    block = rd.ep.block(dst.app.last_height)
    [e] = compute_instant_entries(block, DST)
    assert (e.source, e.key, e.tx, e.nonce, e.expiry_height, e.height) == (
        SRC, instant_key(raw).hex(), raw.hex(), 4, gs[0].expiry_height, dst.app.last_height)
    assert [bytes.fromhex(g) for g in e.guarantees] == [encode_canonical(g.to_proto()) for g in gs]
    stripped = Block(block.height, block.time_ns, tuple(replace(t, raw=b"") for t in block.txs))
    failed = Block(block.height, block.time_ns, tuple(replace(t, code=5) for t in block.txs))
    assert compute_instant_entries(stripped, DST) == [] and compute_instant_entries(failed, DST) == []


def test_failed_source_send_is_claimed_and_released_by_the_relay_once(tmp_path):
    src, dst, rs, (rd,), clock, src_direct = setup(tmp_path)
    raw = instant_tx(src, 1000)
    gs = guarantees(raw, {0: 600, 1: 400}, expiry=src.app.last_height + 4)
    credit_through(rd, dst, gs, raw)
    supplies, corr0, col0 = (src.supply(), dst.supply()), src.reserve(DST), collateral(src)
    spend_nonce(src)
    rd.step()
    assert [d["key"] for d in rd.queue.instant_records()] == [instant_key(raw).hex()]
    assert rd.queue.instant_sources() == [SRC]
    assert sent(rd, "claim") == 0  # not before the guarantee expired
    rounds([rd], 8, src, dst)
    assert src.reserve(DST) == corr0 + 1000 and collateral(src) == col0 - 1000
    assert outstanding(dst) == 0 and credit_record(dst, raw).status == PAID_OUT
    assert rd.queue.instant_records() == []
    assert (sent(rd, "claim"), count(rd, "claim"), sent(rd, "release"), count(rd, "release")) == (1, 1, 1, 1)
    assert (src.supply(), dst.supply()) == supplies
    # Nothing more happens, however long the relay runs.
    rounds([rd], 4, src, dst)
    assert src.reserve(DST) == corr0 + 1000 and sent(rd, "claim") == 1 and sent(rd, "release") == 1


def test_two_relays_claim_once_in_effect(tmp_path):
    """Two relays of a1b2 follow the same credit: the chain takes one claim and one release; the other's are
    refused as replays (225) and change nothing; both relays end with nothing pending."""
    src, dst, rs, (r1, r2), clock, src_direct = setup(tmp_path, ("a", "b"))
    raw = instant_tx(src, 700)
    gs = guarantees(raw, {2: 700}, expiry=src.app.last_height + 3)
    credit_through(r1, dst, gs, raw)
    r2.ep.raws, r2.ep.hashes = r1.ep.raws, r1.ep.hashes  # the same node's blocks
    corr0, col0 = src.reserve(DST), collateral(src)
    spend_nonce(src)
    r1.step()
    rec = InstantEntry(**r1.queue.instant_records()[0])
    rounds([r1, r2], 10, src, dst)
    assert src.reserve(DST) == corr0 + 700 and collateral(src) == col0 - 700
    assert credit_record(dst, raw).status == PAID_OUT and outstanding(dst) == 0
    assert r1.queue.instant_records() == [] and r2.queue.instant_records() == []
    # One claim and one release took effect; whatever the other relay sent was refused as a replay.
    assert count(r1, "claim") + count(r2, "claim") == 1
    assert count(r1, "release") + count(r2, "release") == 1
    # A relay acting on a stale view (it read the chains before the other's txs): refused, nothing moves.
    before = (src.reserve(DST), collateral(src), outstanding(dst), src.supply(), dst.supply())
    follower = r2.worker("in", SRC).instant
    follower._claim(rec, bytes.fromhex(rec.key), src_direct)
    follower._release(rec, bytes.fromhex(rec.key))
    assert count(r2, "claim", "interchain:225") == 1 and count(r2, "release", "interchain:225") == 1
    assert (src.reserve(DST), collateral(src), outstanding(dst), src.supply(), dst.supply()) == before


def test_relay_restarted_after_its_claim_releases_and_never_claims_twice(tmp_path):
    src, dst, rs, (rd,), clock, src_direct = setup(tmp_path)
    raw = instant_tx(src, 900)
    gs = guarantees(raw, {0: 900}, expiry=src.app.last_height + 3)
    credit_through(rd, dst, gs, raw)
    corr0 = src.reserve(DST)
    spend_nonce(src)
    rd.step()
    for _ in range(8):  # until the claim is committed; then the relay "dies" before its release

        src.block()
        dst.block()
        rd.step()
        if src.reserve(DST) == corr0 + 900:
            break
    assert src.reserve(DST) == corr0 + 900 and credit_record(dst, raw).status == CREDITED
    rd.queue.close()
    peers = {SRC: LocalPeer(rs.core)}
    rd2 = relay(tmp_path, dst, "a", peers, clock, direct=lambda c: src_direct)
    peers[DST] = LocalPeer(rd2.core)
    assert len(rd2.queue.instant_records()) == 1  # the queue survived the restart
    rounds([rd2], 6, src, dst)
    assert credit_record(dst, raw).status == PAID_OUT and outstanding(dst) == 0
    assert src.reserve(DST) == corr0 + 900
    assert sent(rd2, "claim") == 0 and count(rd2, "release") == 1 and rd2.queue.instant_records() == []


def test_credit_settled_by_its_packet_is_never_claimed(tmp_path):
    src, dst, rs, (rd,), clock, src_direct = setup(tmp_path)
    raw = instant_tx(src, 400)
    gs = guarantees(raw, {1: 400}, expiry=src.app.last_height + 3)
    credit_through(rd, dst, gs, raw)
    assert src.block(raw).tx_results[0].ok
    rd.step()
    assert len(rd.queue.instant_records()) == 1
    assert dst.tx(RELAYER, "recv_packets", recv_msg(src, [1], DST)).ok
    rounds([rd], 6, src, dst)
    assert credit_record(dst, raw).status == SETTLED and rd.queue.instant_records() == []
    assert sent(rd, "claim") == 0 and sent(rd, "release") == 0 and count(rd, "done") == 1


def test_held_transfer_is_claimed_from_its_hold_without_waiting_for_expiry(tmp_path):
    """The transfer's packet timed out on a1b2 (its amount is held on e2e4): the relay claims it at once and the
    hold, not the underwriters, pays a1b2's reserve; then it releases."""
    src, dst, rs, (rd,), clock, src_direct = setup(tmp_path)
    raw = instant_tx(src, 600, timeout_height=dst.app.last_height + 3)
    gs = guarantees(raw, {0: 600}, expiry=src.app.last_height + 40)
    credit_through(rd, dst, gs, raw)
    assert src.block(raw).tx_results[0].ok
    col0, corr0 = collateral(src), src.reserve(DST)
    rounds([rs, rd], 10, src, dst)  # e2e4's relay proves the timeout; a1b2's relay claims and releases
    assert src.reserve(DST) == corr0 + 600 and collateral(src) == col0
    assert credit_record(dst, raw).status == PAID_OUT and rd.queue.instant_records() == []
    assert src.app.last_height < gs[0].expiry_height  # long before the guarantee expired


def test_claim_the_source_finds_premature_is_refused_and_backs_off(tmp_path):
    """A claim sent on a stale view while the nonce may still pay: the source refuses it (227), nothing moves,
    and the relay backs off (a RelayError for its per-source back-off), it does not resend every round."""
    src, dst, rs, (rd,), clock, src_direct = setup(tmp_path)
    raw = instant_tx(src, 500)
    gs = guarantees(raw, {0: 500}, expiry=src.app.last_height + 30)
    credit_through(rd, dst, gs, raw)
    rd.step()
    rec = InstantEntry(**rd.queue.instant_records()[0])
    dst.block()  # the credit's block is provable from the next header on
    before = (src.reserve(DST), collateral(src), outstanding(dst), src.supply(), dst.supply())
    with pytest.raises(RelayError, match="not claimable"):
        rd.worker("in", SRC).instant._claim(rec, bytes.fromhex(rec.key), src_direct)
    assert count(rd, "claim", "interchain:227") == 1
    assert (src.reserve(DST), collateral(src), outstanding(dst), src.supply(), dst.supply()) == before
    assert len(rd.queue.instant_records()) == 1  # still followed
