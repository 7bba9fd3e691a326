"""One signed body, one encoding: every single-byte change, insertion and deletion of a valid transaction, and
every truncation, is refused by the stateless pipeline (decode_tx, then validate_tx_stateless), unless it
leaves the bytes exactly as they were."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from distpos_abci.errors import DistposError
from distpos_abci.tx import decode_tx, validate_tx_stateless
from fuzz import fixtures
from fuzz.targets import DECODERS

TXS = fixtures.tx_seeds()  # every message type, each signed


@st.composite
def mutations(draw) -> tuple[bytes, bytes]:
    raw = draw(st.sampled_from(TXS))
    kind = draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
    if kind == "truncate":
        return raw, raw[:draw(st.integers(0, len(raw) - 1))]
    if kind == "insert":
        pos = draw(st.integers(0, len(raw)))
        return raw, raw[:pos] + bytes([draw(st.integers(0, 255))]) + raw[pos:]
    pos = draw(st.integers(0, len(raw) - 1))
    if kind == "delete":
        return raw, raw[:pos] + raw[pos + 1:]
    return raw, raw[:pos] + bytes([draw(st.integers(0, 255))]) + raw[pos + 1:]


def is_accepted(raw: bytes) -> bool:
    try:
        validate_tx_stateless(decode_tx(raw, DECODERS), fixtures.CHAIN)
    except DistposError:
        return False
    return True


@settings(max_examples=1500, deadline=None)
@given(mutations())
def test_a_one_byte_change_of_a_signed_tx_is_refused_or_changes_nothing(case):
    original, mutated = case
    assert not is_accepted(mutated) or mutated == original, mutated.hex()


def test_every_seed_is_accepted():
    assert all(is_accepted(raw) for raw in TXS)
