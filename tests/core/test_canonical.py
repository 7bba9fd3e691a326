"""One signed body, one transaction: attacks on the encoding (issue 7, items 1 and 3)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distpos_abci.app import default_modules
from distpos_abci.bank import build_send_tx
from distpos_abci.codec import decode_canonical
from distpos_abci.errors import DistposError, MalformedTxError, NonCanonicalEncodingError
from distpos_abci.gen.distpos.v1 import tx_pb2
from distpos_abci.tx import compute_sign_bytes, decode_tx

from tests.helpers import CHAIN, addr, key

DECODERS = {k: v for m in default_modules() for k, v in m.decoders.items()}


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number: int, wire: int, payload: bytes) -> bytes:
    return _varint(number << 3 | wire) + payload


def _len(number: int, data: bytes) -> bytes:
    return _field(number, 2, _varint(len(data)) + data)


def _signed(body: bytes) -> bytes:
    """A Tx around body, correctly signed by key 1, in canonical outer form."""
    return tx_pb2.Tx(body=body, signature=key(1).sign(compute_sign_bytes(body))).SerializeToString(deterministic=True)


def _send_body(amount_varint: bytes, *, reorder: bool = False, extra: bytes = b"") -> bytes:
    send = _len(1, addr(1).encode()) + _len(2, addr(2).encode()) + _field(3, 0, amount_varint)
    head = [_len(1, CHAIN.encode()), _len(2, key(1).pub_key)]
    if reorder:
        head.reverse()
    return b"".join(head) + _len(10, send) + extra


def test_canonical_body_is_accepted():
    raw = _signed(_send_body(_varint(1000)))
    assert raw == build_send_tx(key(1), CHAIN, 0, addr(2), 1000)
    assert decode_tx(raw, DECODERS).msg.amount == 1000


@pytest.mark.parametrize("body", [
    _send_body(_varint(1000), reorder=True),                      # fields in another order
    _send_body(_varint(1000), extra=_field(99, 0, _varint(7))),   # unknown field appended
    _send_body(b"\xe8\x87\x00"),                                  # non-minimal varint for 1000
    _send_body(_varint(1000)) + _field(3, 0, _varint(0)),         # explicit default nonce
], ids=["reordered", "unknown-field", "non-minimal-varint", "explicit-default"])
def test_attack_reencoded_send_is_refused(body):
    """The double-payment attack: one signed send re-encoded gets a new hash. Each variant is refused."""
    with pytest.raises(NonCanonicalEncodingError) as exc:
        decode_tx(_signed(body), DECODERS)
    assert exc.value.code == 13 and exc.value.codespace == "tx"


def test_attack_outer_tx_reencoded_is_refused():
    raw = build_send_tx(key(1), CHAIN, 0, addr(2), 1000)
    m = tx_pb2.Tx.FromString(raw)
    swapped = _len(2, m.signature) + _len(1, m.body)
    with pytest.raises(NonCanonicalEncodingError):
        decode_tx(swapped, DECODERS)
    with pytest.raises(NonCanonicalEncodingError):
        decode_tx(raw + _field(7, 0, _varint(1)), DECODERS)


def test_attack_overflowing_amount_is_refused():
    """An amount of 2^64+5 must not execute as 5: a 10-byte varint above 2^64 is refused, as Go refuses it."""
    raw = _signed(_send_body(_varint(2**64 + 5)))
    with pytest.raises((NonCanonicalEncodingError, MalformedTxError)):
        decode_tx(raw, DECODERS)


def test_error_text_is_the_projects_own():
    with pytest.raises(MalformedTxError) as exc:
        decode_canonical(tx_pb2.Tx, b"\xff\xff\xff", "transaction")
    assert exc.value.message == "transaction: not a valid protobuf encoding"


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.integers(0, 2**64 - 1), st.integers(1, 2**64 - 1), st.text(max_size=20), st.data())
def test_every_mutation_is_rejected_or_identical(nonce, amount, memo, data):
    """Any single-byte change, insertion, deletion or truncation of a valid transaction is refused, or
    decodes to the same canonical bytes (then it *is* the original)."""
    raw = build_send_tx(key(1), CHAIN, nonce, addr(2), amount, memo)
    i = data.draw(st.integers(0, len(raw) - 1))
    kind = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
    b = data.draw(st.integers(0, 255))
    mutated = {
        "flip": raw[:i] + bytes([b]) + raw[i + 1:],
        "insert": raw[:i] + bytes([b]) + raw[i:],
        "delete": raw[:i] + raw[i + 1:],
        "truncate": raw[:i],
    }[kind]
    try:
        tx = decode_tx(mutated, DECODERS)
    except DistposError:
        return
    assert mutated == raw or tx.raw == mutated and tx_pb2.Tx.FromString(mutated).SerializeToString(
        deterministic=True) == mutated
