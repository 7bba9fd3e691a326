"""Guarantee sign bytes and signatures: the layout is pinned, every field is bound, the domain is separate."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from distpos_abci.crypto import TX_SIGN_DOMAIN
from distpos_abci.errors import GuaranteeMismatchError
from distpos_abci.types import Amount, ChainId, Height
from distpos_abci.underwriting import compute_guarantee_sign_bytes, decode_guarantee, verify_guarantee_signature
from distpos_abci.underwriting.guarantee import GUARANTEE_SIGN_DOMAIN
from distpos_abci.bank import build_send_tx
from distpos_abci.types import Nonce
from tests.staking.helpers import CHAIN, addr, cons_key, key
from tests.underwriting.helpers import guarantee

RAW = build_send_tx(key(3), CHAIN, 7, addr(4), 100)


def test_sign_bytes_layout_is_pinned():
    g = guarantee(1, RAW, 100, addr(4), total=250, expiry=9, issued=5)
    sb = compute_guarantee_sign_bytes(g)
    assert sb.startswith(GUARANTEE_SIGN_DOMAIN) and not sb.startswith(TX_SIGN_DOMAIN)
    assert sb[len(GUARANTEE_SIGN_DOMAIN):][:5] == b"\x04e2e4"
    assert hashlib.sha256(sb).hexdigest() == hashlib.sha256(
        GUARANTEE_SIGN_DOMAIN + b"\x04e2e4" + hashlib.sha256(RAW).digest() + (100).to_bytes(8, "big")
        + (250).to_bytes(8, "big") + (9).to_bytes(8, "big") + (5).to_bytes(8, "big")
        + bytes([len(addr(4))]) + addr(4).encode() + bytes([len(str(g.underwriter))]) + str(g.underwriter).encode()
        + bytes([len(addr(3))]) + addr(3).encode() + (7).to_bytes(8, "big")
    ).hexdigest()
    assert GUARANTEE_SIGN_DOMAIN == b"distpos/guarantee/v2\x00"


@pytest.mark.parametrize("field, value", [
    ("amount", Amount(101)), ("total", Amount(251)), ("expiry_height", Height(10)), ("issued_height", Height(4)),
    ("chain_id", ChainId("a1b2")), ("tx_hash", hashlib.sha256(b"other").digest()), ("nonce", Nonce(8)),
])
def test_every_field_is_bound(field, value):
    g = guarantee(1, RAW, 100, addr(4), total=250, expiry=9, issued=5)
    assert verify_guarantee_signature(cons_key(1).pub_key, g)
    assert not verify_guarantee_signature(cons_key(1).pub_key, dataclasses.replace(g, **{field: value}))


def test_beneficiary_and_underwriter_are_bound():
    g = guarantee(1, RAW, 100, addr(4))
    other = guarantee(1, RAW, 100, addr(5))
    assert not verify_guarantee_signature(cons_key(1).pub_key, dataclasses.replace(g, beneficiary=other.beneficiary))
    assert not verify_guarantee_signature(cons_key(1).pub_key,
                                          dataclasses.replace(g, underwriter=guarantee(2, RAW, 1, addr(4)).underwriter))
    assert not verify_guarantee_signature(cons_key(2).pub_key, g)
    assert not verify_guarantee_signature(cons_key(1).pub_key, dataclasses.replace(g, payer=other.beneficiary))


def test_protobuf_round_trip():
    g = guarantee(1, RAW, 100, addr(4), total=250, expiry=9, issued=5)
    assert decode_guarantee(g.to_proto()) == g


@pytest.mark.parametrize("change", [
    {"tx_hash": b"short"}, {"amount": 0}, {"amount": 300, "total": 250}, {"signature": b"x"},
    {"issued_height": 0}, {"issued_height": 10, "expiry_height": 9}, {"beneficiary": "nonsense"}, {"payer": "nonsense"},
])
def test_invalid_guarantee_fields(change):
    m = guarantee(1, RAW, 100, addr(4), total=250, expiry=9, issued=5).to_proto()
    for k, v in change.items():
        setattr(m, k, v)
    with pytest.raises(GuaranteeMismatchError):
        decode_guarantee(m)
