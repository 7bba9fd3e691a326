"""Properties of the instant-credit encodings: state records round-trip through their one canonical encoding, and
the instant key changes with every packet field it covers (so one transfer cannot settle another's credit)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from distpos_abci.address import Address
from distpos_abci.errors import NonCanonicalEncodingError
from distpos_abci.interchain.instant import (
    CREDIT_STATUS,
    SEND_STATUS,
    InstantCredit,
    InstantPayout,
    InstantSend,
    compute_instant_key,
    decode_instant_credit,
    decode_instant_payout,
    decode_instant_send,
)
from distpos_abci.types import Amount, ChainId, Height, Nonce

u64 = st.integers(0, 2**64 - 1)
i63 = st.integers(0, 2**63 - 1)
accounts = st.binary(min_size=20, max_size=20)


@given(st.sampled_from(sorted(CREDIT_STATUS)), accounts, u64, accounts, u64, st.binary(max_size=32), i63, i63)
def test_instant_credit_round_trips(status, payer, nonce, recipient, amount, tx_hash, expiry, height):
    c = InstantCredit(status, str(Address(ChainId("e2e4"), payer)), Nonce(nonce), str(Address(ChainId("a1b2"), recipient)),
                      Amount(amount), tx_hash, Height(expiry), Height(height))
    raw = c.encode()
    assert decode_instant_credit(raw) == c
    try:
        decode_instant_credit(raw + b"\x08\x01")  # a repeated field: not the canonical encoding
    except NonCanonicalEncodingError:
        pass
    else:
        raise AssertionError("a non-canonical encoding was accepted")


@given(st.sampled_from(sorted(SEND_STATUS)), u64, u64, st.binary(min_size=32, max_size=32))
def test_instant_send_and_payout_round_trip(status, sequence, amount, key):
    s = InstantSend(status, ChainId("a1b2"), sequence, Amount(amount), key)
    assert decode_instant_send(s.encode()) == s
    p = InstantPayout(Amount(amount), Height(sequence % 2**63))
    assert decode_instant_payout(p.encode()) == p


@given(accounts, accounts, st.integers(1, 2**63), u64, u64, st.integers(0, 6), st.integers(1, 2**60))
def test_instant_key_covers_every_field(sender, recipient, amount, timeout_h, timeout_t, which, delta):
    fields = [ChainId("e2e4"), ChainId("a1b2"), Address(ChainId("e2e4"), sender), Address(ChainId("a1b2"), recipient),
              amount, timeout_h, timeout_t]
    key = compute_instant_key(*fields)
    assert len(key) == 32 and key == compute_instant_key(*fields)
    changed = list(fields)
    if which == 0:
        changed[0], changed[2] = ChainId("c3d4"), Address(ChainId("c3d4"), sender)
    elif which == 1:
        changed[1], changed[3] = ChainId("c3d4"), Address(ChainId("c3d4"), recipient)
    elif which == 2:
        changed[2] = Address(ChainId("e2e4"), bytes([sender[0] ^ 1]) + sender[1:])
    elif which == 3:
        changed[3] = Address(ChainId("a1b2"), bytes([recipient[0] ^ 1]) + recipient[1:])
    else:
        changed[which] = (changed[which] + delta) % 2**64 or 1
        if changed[which] == fields[which]:
            return
    assert compute_instant_key(*changed) != key
