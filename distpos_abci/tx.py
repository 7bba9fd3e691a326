"""Transaction encoding, signing and the checks that need no state.

A `Tx` carries the exact signed `TxBody` bytes, and both must be their canonical protobuf encoding
(codec.decode_canonical): one signed body has exactly one transaction encoding, hence one hash.
Sign bytes are TX_SIGN_DOMAIN || body; the body binds the chain-id and the signer's
nonce, so a transaction cannot be replayed on another chain or twice on one chain.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any, Protocol

from google.protobuf.message import Message

from .address import Address, compute_account_id
from .codec import decode_canonical, encode_canonical
from .crypto import TX_SIGN_DOMAIN, KeyPair, verify_signature
from .errors import InvalidSignatureError, MalformedTxError, SignerMismatchError, TxTooLargeError, UnknownMessageError, WrongChainError
from .gen.distpos.v1 import tx_pb2
from .types import AccountId, Amount, ChainId, Nonce, TxHash

DEFAULT_MAX_TX_BYTES = 8192


class Msg(Protocol):
    """A typed message; each state area defines its own."""

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """Raise an InvalidInputError unless the message is consistent for this chain and signer."""


def validate_signer(address: Address, chain_id: str, signer: AccountId, what: str) -> None:
    """Raise SignerMismatchError unless address is the signer's account on this chain."""
    if address.chain_id != chain_id or address.account != signer:
        raise SignerMismatchError(f"{what}: {address} is not the signer's account on {chain_id}")


MsgDecoders = Mapping[str, Any]  # TxBody oneof field name -> callable(protobuf msg) -> Msg


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A decoded transaction whose structure is valid (signature not yet checked)."""

    raw: bytes
    hash: TxHash
    body: bytes
    signature: bytes
    chain_id: ChainId
    pub_key: bytes
    signer: AccountId
    nonce: Nonce
    memo: str
    msg: Msg
    kind: str = ""  # TxBody oneof field name of msg (the gas table's key)
    fee: int = 0  # base units the signer pays (TxBody.fee)
    premium: Amount = Amount(0)  # TxBody 6: the exact premium the signer pays for guarantees of this transaction


def compute_tx_hash(raw: bytes) -> TxHash:
    """sha256 of the raw transaction bytes (the hash CometBFT's /tx uses too)."""
    return TxHash(hashlib.sha256(raw).digest())


def compute_sign_bytes(body: bytes) -> bytes:
    """The bytes an account signs for a body."""
    return TX_SIGN_DOMAIN + body


def _decode_msg(body: tx_pb2.TxBody, decoders: MsgDecoders) -> Msg:
    kind = body.WhichOneof("msg")
    if kind is None:
        raise UnknownMessageError("transaction carries no message")
    decoder = decoders.get(kind)
    if decoder is None:
        raise UnknownMessageError(f"message type {kind!r} is not handled by this chain")
    return decoder(getattr(body, kind))


def decode_tx(raw: bytes, decoders: MsgDecoders, max_bytes: int = DEFAULT_MAX_TX_BYTES,
              tx_hash: TxHash | None = None) -> SignedTx:
    """Parse raw bytes into a SignedTx; raise a precise error for anything malformed. tx_hash: compute_tx_hash(raw)
    when the caller has it already (it is not checked: pass exactly that or nothing)."""
    if len(raw) > max_bytes:
        raise TxTooLargeError(f"transaction is {len(raw)} bytes, limit is {max_bytes}")
    tx = decode_canonical(tx_pb2.Tx, raw, "transaction")
    body = decode_canonical(tx_pb2.TxBody, tx.body, "transaction body")
    if not tx.body:
        raise MalformedTxError("transaction has an empty body")
    if len(tx.signature) != 64:
        raise MalformedTxError(f"signature must be 64 bytes, got {len(tx.signature)}")
    if len(body.signer_pub_key) != 32:
        raise MalformedTxError(f"signer public key must be 32 bytes, got {len(body.signer_pub_key)}")
    msg = _decode_msg(body, decoders)
    return SignedTx(
        raw=raw,
        hash=compute_tx_hash(raw) if tx_hash is None else tx_hash,
        body=tx.body,
        signature=tx.signature,
        chain_id=ChainId(body.chain_id),
        pub_key=body.signer_pub_key,
        signer=compute_account_id(body.signer_pub_key),
        nonce=Nonce(body.nonce),
        memo=body.memo,
        msg=msg,
        kind=body.WhichOneof("msg"),
        fee=body.fee,
        premium=Amount(body.premium),
    )


def validate_tx_stateless(tx: SignedTx, chain_id: str) -> None:
    """Raise unless tx is for chain_id, correctly signed, and its message is consistent."""
    if tx.chain_id != chain_id:
        raise WrongChainError(f"transaction is for chain {tx.chain_id!r}, this is {chain_id!r}")
    if not verify_signature(tx.pub_key, compute_sign_bytes(tx.body), tx.signature):
        raise InvalidSignatureError("signature does not verify against the signer public key")
    tx.msg.validate_basic(chain_id, tx.signer)


def build_tx(key: KeyPair, chain_id: str, nonce: int, field: str, msg: Message, memo: str = "",
             premium: int = 0, fee: int = 0) -> bytes:
    """Encode and sign a transaction carrying msg in TxBody's oneof `field` (premium: TxBody 6, what the signer
    pays for guarantees of it; fee: TxBody 5, what it pays for the transaction, see fees.build_paid_tx)."""
    body = tx_pb2.TxBody(chain_id=chain_id, signer_pub_key=key.pub_key, nonce=nonce, memo=memo, premium=premium,
                         fee=fee)
    getattr(body, field).CopyFrom(msg)
    raw_body = encode_canonical(body)
    return encode_canonical(tx_pb2.Tx(body=raw_body, signature=key.sign(compute_sign_bytes(raw_body))))
