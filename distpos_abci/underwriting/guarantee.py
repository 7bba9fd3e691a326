"""The Guarantee record, its domain-separated sign bytes, signing and verification. Pure: no state, no I/O.

Sign bytes (fixed layout, so no encoder ambiguity):

    "distpos/guarantee/v2" 0x00
    u8 len(chain_id) | chain_id | tx_hash (32) | u64 amount | u64 total | i64 expiry_height | i64 issued_height
    | u8 len(beneficiary) | beneficiary | u8 len(underwriter) | underwriter | u8 len(payer) | payer | u64 nonce

integers big-endian, addresses in their canonical (checksummed) text form. The domain differs from the
transaction domain ("distpos/tx/v1") and from CometBFT's vote encoding, so a consensus key signing guarantees
cannot be tricked into signing a vote or a transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..address import Address, parse_address
from ..crypto import KeyPair, verify_signature
from ..errors import GuaranteeMismatchError, InvalidAddressError
from ..gen.distpos.v1 import underwriting_pb2
from ..types import Amount, ChainId, Height, Nonce, TxHash

GUARANTEE_SIGN_DOMAIN = b"distpos/guarantee/v2\x00"
MAX_GUARANTEES_PER_TX = 16


@dataclass(frozen=True, slots=True)
class Guarantee:
    """An underwriter's signed promise that the payer's nonce pays total to beneficiary by expiry; amount is this
    underwriter's share of what the nonce does not pay."""

    tx_hash: TxHash
    amount: Amount
    total: Amount
    beneficiary: Address
    underwriter: Address
    chain_id: ChainId
    expiry_height: Height
    issued_height: Height
    payer: Address
    nonce: Nonce
    signature: bytes = b""

    def to_proto(self) -> underwriting_pb2.Guarantee:
        """The protobuf message."""
        return underwriting_pb2.Guarantee(
            tx_hash=self.tx_hash, amount=self.amount, total=self.total, beneficiary=str(self.beneficiary),
            underwriter=str(self.underwriter), chain_id=self.chain_id, expiry_height=self.expiry_height,
            issued_height=self.issued_height, signature=self.signature, payer=str(self.payer), nonce=self.nonce,
        )

    def to_json(self) -> dict:
        """A JSON-friendly dict (CLI output)."""
        return {"tx_hash": self.tx_hash.hex().upper(), "amount": str(self.amount), "total": str(self.total),
                "beneficiary": str(self.beneficiary), "underwriter": str(self.underwriter),
                "chain_id": self.chain_id, "expiry_height": self.expiry_height,
                "issued_height": self.issued_height, "payer": str(self.payer), "nonce": self.nonce,
                "signature": self.signature.hex()}


def decode_guarantee(m: underwriting_pb2.Guarantee) -> Guarantee:
    """Typed Guarantee from protobuf; raise GuaranteeMismatchError on malformed fields."""
    if len(m.tx_hash) != 32:
        raise GuaranteeMismatchError(f"guarantee tx_hash must be 32 bytes, got {len(m.tx_hash)}")
    if m.amount <= 0 or m.total < m.amount:
        raise GuaranteeMismatchError("guarantee amount must be positive and at most its total")
    if len(m.signature) != 64:
        raise GuaranteeMismatchError(f"guarantee signature must be 64 bytes, got {len(m.signature)}")
    if not 0 < m.issued_height <= m.expiry_height:
        raise GuaranteeMismatchError("guarantee heights must satisfy 0 < issued_height <= expiry_height")
    try:
        beneficiary, underwriter = parse_address(m.beneficiary), parse_address(m.underwriter)
        payer = parse_address(m.payer)
    except InvalidAddressError as exc:
        raise GuaranteeMismatchError(f"guarantee: {exc.message}") from None
    if (str(beneficiary), str(underwriter), str(payer)) != (m.beneficiary, m.underwriter, m.payer):
        # One guarantee, one encoding: the addresses are signed in their checksummed form, so only that is accepted.
        raise GuaranteeMismatchError("guarantee addresses must be in their canonical checksummed form")
    return Guarantee(TxHash(m.tx_hash), Amount(m.amount), Amount(m.total), beneficiary, underwriter,
                     ChainId(m.chain_id), Height(m.expiry_height), Height(m.issued_height), payer, Nonce(m.nonce),
                     m.signature)


def _short(text: str) -> bytes:
    raw = text.encode()
    if len(raw) > 255:
        raise GuaranteeMismatchError("guarantee field longer than 255 bytes")
    return len(raw).to_bytes(1, "big") + raw


def compute_guarantee_sign_bytes(g: Guarantee) -> bytes:
    """The bytes an underwriter signs: every field but the signature, bound to the chain and the expiry."""
    return b"".join((
        GUARANTEE_SIGN_DOMAIN,
        _short(g.chain_id),
        g.tx_hash,
        g.amount.to_bytes(8, "big"),
        g.total.to_bytes(8, "big"),
        g.expiry_height.to_bytes(8, "big", signed=True),
        g.issued_height.to_bytes(8, "big", signed=True),
        _short(str(g.beneficiary)),
        _short(str(g.underwriter)),
        _short(str(g.payer)),
        g.nonce.to_bytes(8, "big"),
    ))


def sign_guarantee(key: KeyPair, g: Guarantee) -> Guarantee:
    """g with its signature by key (the underwriter's consensus key)."""
    return replace(g, signature=key.sign(compute_guarantee_sign_bytes(g)))


def verify_guarantee_signature(consensus_pub_key: bytes, g: Guarantee) -> bool:
    """True when g's signature is consensus_pub_key's over its sign bytes; never raises."""
    try:
        message = compute_guarantee_sign_bytes(g)
    except GuaranteeMismatchError:
        return False
    return verify_signature(consensus_pub_key, message, g.signature)
