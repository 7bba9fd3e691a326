"""underwriting messages: TxBody fields underwritten (30), claim (31), capacity_evidence (32)."""

from __future__ import annotations

from dataclasses import dataclass

from ..crypto import KeyPair
from ..errors import GuaranteeMismatchError, InvalidEvidenceError
from ..gen.distpos.v1 import underwriting_pb2
from ..tx import build_tx
from ..types import AccountId
from .guarantee import MAX_GUARANTEES_PER_TX, Guarantee, decode_guarantee


@dataclass(frozen=True, slots=True)
class MsgUnderwrittenTx:
    """A client's signed transaction carried with the guarantees covering it; any account may carry it."""

    tx: bytes
    guarantees: tuple[Guarantee, ...]

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """Nothing binds the carrier: the inner transaction and the guarantees carry their own signatures."""


@dataclass(frozen=True, slots=True)
class MsgClaim:
    """Claim the payout of a transaction's guarantees; the beneficiary is paid, whoever submits it."""

    guarantees: tuple[Guarantee, ...]

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """Anyone may claim on the beneficiary's behalf."""


@dataclass(frozen=True, slots=True)
class MsgCapacityEvidence:
    """Guarantees of one underwriter, overlapping in time, summing beyond its backing stake."""

    guarantees: tuple[Guarantee, ...]

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """Anyone may report."""


def _guarantees(items, what: str) -> tuple[Guarantee, ...]:
    if not 1 <= len(items) <= MAX_GUARANTEES_PER_TX:
        raise GuaranteeMismatchError(f"{what}: carry between 1 and {MAX_GUARANTEES_PER_TX} guarantees")
    return tuple(decode_guarantee(g) for g in items)


def decode_underwritten(m: underwriting_pb2.MsgUnderwrittenTx) -> MsgUnderwrittenTx:
    """Typed MsgUnderwrittenTx."""
    if not m.tx:
        raise GuaranteeMismatchError("underwritten: carries no transaction")
    return MsgUnderwrittenTx(m.tx, _guarantees(m.guarantees, "underwritten"))


def decode_claim(m: underwriting_pb2.MsgClaim) -> MsgClaim:
    """Typed MsgClaim."""
    return MsgClaim(_guarantees(m.guarantees, "claim"))


def decode_capacity_evidence(m: underwriting_pb2.MsgCapacityEvidence) -> MsgCapacityEvidence:
    """Typed MsgCapacityEvidence; needs at least two guarantees."""
    if len(m.guarantees) < 2:
        raise InvalidEvidenceError("capacity evidence needs at least two guarantees")
    return MsgCapacityEvidence(_guarantees(m.guarantees, "capacity evidence"))


# ---- client helpers ------------------------------------------------------------------------------------


def build_underwritten_tx(key: KeyPair, chain_id: str, nonce: int, inner_tx: bytes,
                          guarantees: list[Guarantee] | tuple[Guarantee, ...]) -> bytes:
    """Encode and sign a carrier of inner_tx with its guarantees (signed by the carrying node's key)."""
    msg = underwriting_pb2.MsgUnderwrittenTx(tx=inner_tx, guarantees=[g.to_proto() for g in guarantees])
    return build_tx(key, chain_id, nonce, "underwritten", msg)


def build_claim_tx(key: KeyPair, chain_id: str, nonce: int, guarantees: list[Guarantee] | tuple[Guarantee, ...]) -> bytes:
    """Encode and sign a claim."""
    return build_tx(key, chain_id, nonce, "claim", underwriting_pb2.MsgClaim(guarantees=[g.to_proto() for g in guarantees]))


def build_capacity_evidence_tx(key: KeyPair, chain_id: str, nonce: int, guarantees: list[Guarantee]) -> bytes:
    """Encode and sign capacity evidence."""
    msg = underwriting_pb2.MsgCapacityEvidence(guarantees=[g.to_proto() for g in guarantees])
    return build_tx(key, chain_id, nonce, "capacity_evidence", msg)
