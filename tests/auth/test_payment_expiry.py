"""What each nonce paid (`auth/paid/…`) expires once no settlement can read it: listed per height, deleted in key
order at the end of a later block, a bounded number per block, raising the account's floor so an absent record
below it is never read as "paid nothing"."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from distpos_abci.auth import AuthKeeper
from distpos_abci.auth.keeper import EXPIRY_BASE_PER_BLOCK, compute_expiry_bar, compute_new_payments
from distpos_abci.auth.keys import PREFIX, payment_key
from distpos_abci.store.kv import CacheKV
from distpos_abci.types import AccountId, Amount

A, B, R = AccountId(b"\x0a" * 20), AccountId(b"\x0b" * 20), AccountId(b"\x0c" * 20)


class Ledger:
    """An auth keeper over an empty state, driven block by block as the app does."""

    def __init__(self, harness) -> None:
        self.store = CacheKV(harness.app.state)
        self.auth = AuthKeeper(self.store)
        self.height = 0

    def block(self, keep_blocks: int, *paid: tuple[bytes, int]) -> int:
        """One block: the given (account, nonce) pairs pay R, then the end-of-block expiry; records deleted."""
        self.height += 1
        block = CacheKV(self.store)
        for account, nonce in paid:
            AuthKeeper(block).apply_payment(AccountId(account), nonce, R, Amount(7))
        deleted = AuthKeeper(block).process_payment_expiry(self.height, keep_blocks, compute_new_payments(block.writes))
        block.write()
        return deleted

    def kept(self, account: bytes, nonce: int) -> bool:
        return self.auth.get_payment(AccountId(account), nonce) is not None


def test_new_payments_are_the_blocks_records_in_key_order():
    writes = {PREFIX + payment_key(B, 1): b"x" * 28, PREFIX + payment_key(A, 3): b"x" * 28,
              PREFIX + payment_key(A, 2): None, b"bank/bal/x": b"1"}
    assert compute_new_payments(writes) == [A + (3).to_bytes(8, "big"), B + (1).to_bytes(8, "big")]
    assert compute_expiry_bar(100, 11) == 89


def test_a_record_is_readable_for_keep_blocks_then_deleted_and_the_floor_rises(harness):
    led = Ledger(harness)
    led.block(5, (A, 0), (A, 1), (B, 4))  # height 1
    for _ in range(4):
        led.block(5)
    assert led.kept(A, 1) and led.auth.is_payment_record_kept(A, 0)  # height 5: still inside
    assert led.block(5) == 3  # height 6 = 1 + 5: the end of this block deletes them
    assert not led.kept(A, 0) and not led.kept(A, 1) and not led.kept(B, 4)
    assert led.auth.get_payment_floor(A) == 2 and led.auth.get_payment_floor(B) == 5
    assert not led.auth.is_payment_record_kept(A, 1) and led.auth.is_payment_record_kept(A, 2)
    assert list(led.store.iter_prefix(PREFIX + b"pexp/")) == []


def test_a_longer_window_from_governance_keeps_records_longer(harness):
    """The window is read at every block: lengthening it keeps every record not yet deleted for the new length."""
    led = Ledger(harness)
    led.block(5, (A, 0))  # height 1
    for _ in range(3):
        led.block(5)
    for _ in range(4):  # heights 5-8 under a window of 8: 1 + 8 = 9 is the first that may delete
        led.block(8)
    assert led.kept(A, 0)
    led.block(8)
    assert not led.kept(A, 0)


def test_a_shorter_window_deletes_sooner_and_the_floor_refuses_what_it_hides(harness):
    """Shortening the window deletes records at once; the floor marks them unknown rather than unpaid."""
    led = Ledger(harness)
    led.block(50, (A, 0))  # height 1
    led.block(50, (A, 1))  # height 2
    led.block(50)
    assert led.block(1) == 2  # height 4 with a window of 1: everything up to height 3 goes
    assert not led.auth.is_payment_record_kept(A, 0) and not led.auth.is_payment_record_kept(A, 1)
    assert led.auth.is_payment_record_kept(A, 2)


def test_expiry_work_per_block_is_bounded_and_resumes_in_key_order(harness):
    led = Ledger(harness)
    n = EXPIRY_BASE_PER_BLOCK * 2 + 100
    led.block(1, *[(bytes([i % 200 + 1]) * 20, i) for i in range(n)])  # height 1: n records
    deleted = [led.block(1) for _ in range(4)]
    assert deleted == [EXPIRY_BASE_PER_BLOCK, EXPIRY_BASE_PER_BLOCK, 100, 0]
    assert list(led.store.iter_prefix(PREFIX + b"paid/")) == []


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 12)), min_size=1, max_size=25))
def test_property_an_absent_record_above_the_floor_was_never_written(tmp_path_factory, plan):
    """Whatever the windows and payments, for every nonce: the record is present, or the floor is above it
    (unknown), or it was never written. A deleted record is never read as "paid nothing"."""
    from tests.helpers import AppHarness

    harness = AppHarness(tmp_path_factory.mktemp("db"))
    try:
        led = Ledger(harness)
        nonce = {A: 0, B: 0}
        written = set()
        for payers, window in plan:
            paid = []
            for account in (A, B)[: payers % 3]:
                paid.append((account, nonce[account]))
                written.add((account, nonce[account]))
                nonce[account] += 1 + payers % 2  # some nonces pay nothing
            led.block(window, *paid)
        for account in (A, B):
            for n in range(nonce[account] + 1):
                if not led.kept(account, n) and led.auth.is_payment_record_kept(account, n):
                    assert (account, n) not in written
    finally:
        harness.db.close()
