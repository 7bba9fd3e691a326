"""Bounded "seen" records: the destination marks every ordinarily paid packet (so a later instant credit of the
same transfer is refused), and drops the mark once the packet's timeout passed, in EndBlock, in due order and
with bounded work per block. After that a credit of the transfer is still refused: by its timeout (222)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from distpos_abci.app import DistposApp, default_modules
from distpos_abci.interchain import keys
from distpos_abci.interchain.instant import compute_packet_instant_key
from distpos_abci.interchain.records import Packet
from distpos_abci.module import Module
from distpos_abci.store.db import Database
from distpos_abci.store.state import StateStore
from distpos_abci.types import Amount, ChainId, Height
from distpos_abci.interchain.instant import CREDITED, SEEN, InstantCredit
from distpos_abci.interchain.keeper import InterchainKeeper, InterchainView
from distpos_abci.interchain.msgs import build_instant_transfer_tx
from distpos_abci.store.kv import CacheKV
from tests.interchain.helpers import ALICE, BOB, NS, RELAYER, T0, Chain, GovStub, addr, recv_msg
from tests.interchain.instant_helpers import (
    DST, SRC, credit_msg, guarantees, instant_key, instant_tx, open_pair, source_genesis,
)
from tests.interchain.test_instant import snapshot


def seen_queue(dst) -> list[bytes]:
    """Every entry of both expiry queues (keys within the interchain prefix)."""
    store = InterchainView(dst.app.state, DST).store
    return [k for prefix in (keys.SEEN_EXPIRY_TIME, keys.SEEN_EXPIRY_HEIGHT) for k, _ in store.iter_prefix(prefix)]


def record(dst, raw):
    return InterchainView(dst.app.state, DST).get_instant_credit(SRC, instant_key(raw))


def pay_ordinarily(src, dst, raw) -> None:
    """The payer's instant transfer reaches the destination as a proven packet before any credit: paid, SEEN."""
    assert src.block(raw).tx_results[0].ok
    result = dst.tx(RELAYER, "recv_packets", recv_msg(src, [1], DST))
    assert result.ok, result.log
    assert record(dst, raw).status == SEEN


def test_invalid_credit_after_the_seen_record_expired_is_refused_by_the_timeout(tmp_path):
    """Attack: wait until the seen record is gone, then ask for an instant credit of the transfer already paid.
    Refused (222: past the timeout), nothing moves; the record and its queue entry are gone."""
    src, dst = open_pair(tmp_path)
    timeout = dst.app.last_height + 4
    raw = instant_tx(src, 800, timeout_height=timeout)
    gs = guarantees(raw, {0: 800}, expiry=src.app.last_height + 6)
    pay_ordinarily(src, dst, raw)
    assert len(seen_queue(dst)) == 1
    while dst.app.last_height < timeout - 1:
        dst.block()
        assert record(dst, raw) is not None  # kept while a credit could still be given
    dst.block()  # the block at the timeout height: its EndBlock drops the record
    assert record(dst, raw) is None and seen_queue(dst) == []
    before = snapshot(src, dst)
    result = dst.tx(RELAYER, "instant_credit", credit_msg(gs, raw))
    assert (result.code, result.codespace) == (222, "interchain"), result.log
    assert snapshot(src, dst) == before


def test_seen_record_with_a_timeout_time_expires_at_that_time(tmp_path):
    src, dst = open_pair(tmp_path)
    due_height = dst.app.last_height + 5
    raw = build_instant_transfer_tx(ALICE, SRC, src.nonce(ALICE), str(addr(BOB, DST)), 300,
                                    timeout_time_ns=T0 + due_height * NS)
    pay_ordinarily(src, dst, raw)
    while dst.app.last_height < due_height - 1:
        dst.block()
        assert record(dst, raw) is not None
    dst.block()  # block time == the timeout time
    assert record(dst, raw) is None and seen_queue(dst) == []


def test_seen_expiry_is_bounded_per_block_and_in_due_order(tmp_path):
    """Three due records and a budget of 2: the two due first go in this block, the third in the next; a record
    not yet due stays; a record that is no longer SEEN (an instant credit) is never deleted by the queue."""
    src, dst = open_pair(tmp_path)
    store = CacheKV(dst.app.state)
    keeper = InterchainKeeper(store, DST)
    k = [bytes([i]) * 32 for i in range(5)]
    for i, due in enumerate((30, 10, 20, 99)):
        keeper.store.set(keys.instant_credit_key(SRC, k[i]), InstantCredit(SEEN).encode())
        keeper.store.set(keys.seen_expiry_key(False, due, SRC, k[i]), b"")
    keeper.store.set(keys.instant_credit_key(SRC, k[4]), InstantCredit(CREDITED, amount=5).encode())
    keeper.store.set(keys.seen_expiry_key(True, 5, SRC, k[4]), b"")
    events = keeper.process_seen_expiry(50, 10, budget=2)
    assert [e.type for e in events] == ["instant_seen_expired"]
    assert [keeper.get_instant_credit(SRC, x) is None for x in k] == [False, True, True, False, False]
    keeper.process_seen_expiry(51, 11, budget=2)
    assert [keeper.get_instant_credit(SRC, x) is None for x in k] == [True, True, True, False, False]
    assert keeper.get_instant_credit(SRC, k[4]).status == CREDITED  # only its queue entry went
    assert [x for x, _ in keeper.store.iter_prefix(keys.SEEN_EXPIRY_TIME)] == []
    assert len(list(keeper.store.iter_prefix(keys.SEEN_EXPIRY_HEIGHT))) == 1


@given(st.booleans(), st.integers(0, 2**64 - 1), st.from_regex(r"[a-z0-9]{1,16}", fullmatch=True),
       st.binary(min_size=32, max_size=32), st.integers(0, 2**64 - 1))
def test_seen_expiry_key_round_trips_and_orders_by_due(by_time, due, source, key, other_due):
    prefix = keys.SEEN_EXPIRY_TIME if by_time else keys.SEEN_EXPIRY_HEIGHT
    full = keys.seen_expiry_key(by_time, due, source, key)
    assert full.startswith(prefix) and keys.split_seen_expiry_key(full[len(prefix):]) == (due, source, key)
    other = keys.seen_expiry_key(by_time, other_due, source, key)
    if due < other_due:
        assert full < other  # key order is due order: EndBlock stops at the first entry not yet due


class Inject(Module):
    """A test-only module writing raw bytes into the state at the next block's start: a source whose outbox holds
    a packet with no timeout at all (the current process_send always sets one)."""

    name = "inject"

    def __init__(self) -> None:
        self.writes: list[tuple[bytes, bytes]] = []

    def begin_block(self, store, block) -> list:
        for k, v in self.writes:
            store.set(k, v)
        self.writes.clear()
        return []


def test_packet_without_any_timeout_leaves_no_seen_record(tmp_path):
    """It can never match an instant key (an instant transfer always has a timeout), and a record for it could
    never expire: none is written; the packet still pays."""
    inject = Inject()
    src = Chain(SRC, DistposApp(StateStore(Database(tmp_path / SRC)), default_modules() + [GovStub(SRC), inject]))
    src.app.init_chain(SRC, source_genesis())
    src.block()
    _, dst = open_pair(tmp_path / "pair")
    packet = Packet(1, ChainId(SRC), ChainId(DST), addr(ALICE, SRC), addr(BOB, DST), Amount(250), Height(0), 0)
    inject.writes.append((keys.full_outbox_key(DST, 1), packet.encode()))
    src.block()
    bob0 = dst.balance(BOB)
    result = dst.tx(RELAYER, "recv_packets", recv_msg(src, [1], DST))
    assert result.ok, result.log
    assert dst.balance(BOB) == bob0 + 250
    assert InterchainView(dst.app.state, DST).get_instant_credit(SRC, compute_packet_instant_key(packet)) is None
    assert seen_queue(dst) == []
    assert "instant_seen_expired" not in {e.type for e in dst.results[dst.app.last_height].events}  # never written
