"""Transaction encoding, signing and stateless validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distpos_abci.crypto import KeyPair
from distpos_abci.errors import (
    InvalidAddressError,
    InvalidAmountError,
    InvalidSignatureError,
    MalformedTxError,
    SignerMismatchError,
    TxTooLargeError,
    UnknownMessageError,
    WrongChainError,
)
from distpos_abci.gen.distpos.v1 import tx_pb2
from distpos_abci.bank import BankModule, MsgSend, build_send_tx
from distpos_abci.tx import compute_sign_bytes
from distpos_abci.tx import decode_tx as _decode
from distpos_abci.tx import validate_tx_stateless

from tests.helpers import CHAIN, addr, key


def decode_tx(raw: bytes):
    return _decode(raw, BankModule.decoders)


def _resign(raw: bytes, mutate, signer: KeyPair | None = None) -> bytes:
    """Decode, mutate the body, re-sign (with signer or key 1)."""
    tx = tx_pb2.Tx.FromString(raw)
    body = tx_pb2.TxBody.FromString(tx.body)
    mutate(body)
    b = body.SerializeToString()
    return tx_pb2.Tx(body=b, signature=(signer or key(1)).sign(compute_sign_bytes(b))).SerializeToString()


def test_roundtrip_and_validation():
    raw = build_send_tx(key(1), CHAIN, 7, addr(2), 42, memo="hi")
    tx = decode_tx(raw)
    validate_tx_stateless(tx, CHAIN)
    assert tx.nonce == 7 and tx.memo == "hi" and tx.chain_id == CHAIN
    assert isinstance(tx.msg, MsgSend) and tx.msg.amount == 42 and str(tx.msg.recipient) == addr(2)


@given(st.integers(0, 2**64 - 1), st.integers(1, 2**64 - 1), st.text(max_size=50))
def test_encoding_roundtrip_property(nonce, amount, memo):
    raw = build_send_tx(key(1), CHAIN, nonce, addr(2), amount, memo)
    tx = decode_tx(raw)
    validate_tx_stateless(tx, CHAIN)
    assert (tx.nonce, tx.msg.amount, tx.memo) == (nonce, amount, memo)


def test_invalid_signature_from_other_key():
    raw = _resign(build_send_tx(key(1), CHAIN, 0, addr(2), 1), lambda b: None, signer=key(3))
    with pytest.raises(InvalidSignatureError):
        validate_tx_stateless(decode_tx(raw), CHAIN)


@given(st.integers(0, 63), st.integers(1, 255))
def test_invalid_signature_any_flipped_bit(pos, xor):
    tx = tx_pb2.Tx.FromString(build_send_tx(key(1), CHAIN, 0, addr(2), 1))
    sig = bytearray(tx.signature)
    sig[pos] ^= xor
    raw = tx_pb2.Tx(body=tx.body, signature=bytes(sig)).SerializeToString()
    with pytest.raises(InvalidSignatureError):
        validate_tx_stateless(decode_tx(raw), CHAIN)


def test_invalid_tampered_body_breaks_signature():
    tx = tx_pb2.Tx.FromString(build_send_tx(key(1), CHAIN, 0, addr(2), 1))
    body = tx_pb2.TxBody.FromString(tx.body)
    body.send.amount = 1_000_000
    raw = tx_pb2.Tx(body=body.SerializeToString(), signature=tx.signature).SerializeToString()
    with pytest.raises(InvalidSignatureError):
        validate_tx_stateless(decode_tx(raw), CHAIN)


def test_invalid_wrong_chain():
    raw = build_send_tx(key(1), "a1b2", 0, addr(2, "a1b2"), 1)
    with pytest.raises(WrongChainError, match="for chain 'a1b2'"):
        validate_tx_stateless(decode_tx(raw), CHAIN)


def test_invalid_sender_not_signer():
    raw = _resign(build_send_tx(key(1), CHAIN, 0, addr(2), 1), lambda b: setattr(b.send, "from_address", addr(3)))
    with pytest.raises(SignerMismatchError):
        validate_tx_stateless(decode_tx(raw), CHAIN)


@pytest.mark.parametrize("raw", [b"\xff\xff\xff", b"\x0a\x05abc", b"garbage that is not protobuf \x00\x01"])
def test_invalid_malformed_bytes(raw):
    with pytest.raises(MalformedTxError):
        decode_tx(raw)


def test_invalid_empty_tx():
    with pytest.raises(MalformedTxError):
        decode_tx(b"")


def test_invalid_oversize():
    raw = build_send_tx(key(1), CHAIN, 0, addr(2), 1, memo="m" * 9000)
    with pytest.raises(TxTooLargeError, match="limit is 8192"):
        decode_tx(raw)


def test_invalid_zero_amount():
    raw = _resign(build_send_tx(key(1), CHAIN, 0, addr(2), 1), lambda b: setattr(b.send, "amount", 0))
    with pytest.raises(InvalidAmountError):
        decode_tx(raw)


def test_invalid_recipient_address():
    raw = _resign(build_send_tx(key(1), CHAIN, 0, addr(2), 1), lambda b: setattr(b.send, "to_address", "nope"))
    with pytest.raises(InvalidAddressError, match="send:"):
        decode_tx(raw)


def test_invalid_no_message():
    raw = _resign(build_send_tx(key(1), CHAIN, 0, addr(2), 1), lambda b: b.ClearField("send"))
    with pytest.raises(UnknownMessageError):
        decode_tx(raw)


@given(st.binary(max_size=300))
def test_decode_random_bytes_only_raises_distpos_errors(raw):
    from distpos_abci.errors import DistposError

    try:
        validate_tx_stateless(decode_tx(raw), CHAIN)
    except DistposError:
        pass
