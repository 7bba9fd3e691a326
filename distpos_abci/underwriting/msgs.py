"""underwriting messages: TxBody fields underwritten (30), claim (31), capacity_evidence (32),
deposit_collateral (33), unlock_collateral (34), withdraw_collateral (35), set_premium (36)."""

from __future__ import annotations

from dataclasses import dataclass

from ..address import Address, parse_address
from ..crypto import KeyPair
from ..errors import (
    GuaranteeMismatchError,
    InvalidAddressError,
    InvalidAmountError,
    InvalidEvidenceError,
    InvalidPremiumError,
)
from ..gen.distpos.v1 import underwriting_pb2
from ..tx import build_tx, validate_signer
from ..types import AccountId, Amount
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
    """Claim the payout of a payment's guarantees; the beneficiary is paid, whoever submits it. `tx` is the
    payment as the payer signed it: the payer's consent, checked like a carrier's."""

    guarantees: tuple[Guarantee, ...]
    tx: bytes

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """Anyone may claim on the beneficiary's behalf."""


@dataclass(frozen=True, slots=True)
class MsgCapacityEvidence:
    """Guarantees of one underwriter, overlapping in time, summing beyond its backing stake."""

    guarantees: tuple[Guarantee, ...]

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """Anyone may report."""


@dataclass(frozen=True, slots=True)
class MsgDepositCollateral:
    """Lock amount of the payer's balance as collateral for guarantees the underwriter signs for it."""

    payer: Address
    underwriter: Address
    amount: Amount

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """The payer signs; the underwriter is an account of this chain."""
        validate_signer(self.payer, chain_id, signer, "deposit collateral: payer")
        _local(self.underwriter, chain_id, "deposit collateral: underwriter")


@dataclass(frozen=True, slots=True)
class MsgUnlockCollateral:
    """Start unlocking amount of the payer's collateral held for the underwriter."""

    payer: Address
    underwriter: Address
    amount: Amount

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """The payer signs."""
        validate_signer(self.payer, chain_id, signer, "unlock collateral: payer")
        _local(self.underwriter, chain_id, "unlock collateral: underwriter")


@dataclass(frozen=True, slots=True)
class MsgWithdrawCollateral:
    """Return the payer's unlocked collateral held for the underwriter."""

    payer: Address
    underwriter: Address

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """The payer signs."""
        validate_signer(self.payer, chain_id, signer, "withdraw collateral: payer")
        _local(self.underwriter, chain_id, "withdraw collateral: underwriter")


@dataclass(frozen=True, slots=True)
class MsgSetPremium:
    """A validator announces its premium: rate_ppm of the guaranteed amount, at least minimum per guarantee."""

    validator: Address
    rate_ppm: int
    minimum: Amount

    def validate_basic(self, chain_id: str, signer: AccountId) -> None:
        """The validator's operator signs; the rate is at most 100%."""
        validate_signer(self.validator, chain_id, signer, "set premium: validator")
        if self.rate_ppm > 1_000_000:
            raise InvalidPremiumError(f"set premium: rate {self.rate_ppm} ppm exceeds 1000000 (100%)")


def _local(address: Address, chain_id: str, what: str) -> None:
    if address.chain_id != chain_id:
        raise InvalidAddressError(f"{what} {address} is not an account of {chain_id}")


def _parse(text: str, what: str) -> Address:
    try:
        return parse_address(text)
    except InvalidAddressError as exc:
        raise InvalidAddressError(f"{what}: {exc.message}") from None


def _positive(amount: int, what: str) -> Amount:
    if amount <= 0:
        raise InvalidAmountError(f"{what}: amount must be a positive integer")
    return Amount(amount)


def decode_deposit_collateral(m: underwriting_pb2.MsgDepositCollateral) -> MsgDepositCollateral:
    """Typed MsgDepositCollateral."""
    return MsgDepositCollateral(_parse(m.payer, "deposit collateral"), _parse(m.underwriter, "deposit collateral"),
                                _positive(m.amount, "deposit collateral"))


def decode_unlock_collateral(m: underwriting_pb2.MsgUnlockCollateral) -> MsgUnlockCollateral:
    """Typed MsgUnlockCollateral."""
    return MsgUnlockCollateral(_parse(m.payer, "unlock collateral"), _parse(m.underwriter, "unlock collateral"),
                               _positive(m.amount, "unlock collateral"))


def decode_withdraw_collateral(m: underwriting_pb2.MsgWithdrawCollateral) -> MsgWithdrawCollateral:
    """Typed MsgWithdrawCollateral."""
    return MsgWithdrawCollateral(_parse(m.payer, "withdraw collateral"), _parse(m.underwriter, "withdraw collateral"))


def decode_set_premium(m: underwriting_pb2.MsgSetPremium) -> MsgSetPremium:
    """Typed MsgSetPremium."""
    return MsgSetPremium(_parse(m.validator, "set premium"), m.rate_ppm, Amount(m.minimum))


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
    if not m.tx:
        raise GuaranteeMismatchError("claim: carries no transaction (the payer-signed payment the guarantees cover)")
    return MsgClaim(_guarantees(m.guarantees, "claim"), m.tx)


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


def build_claim_tx(key: KeyPair, chain_id: str, nonce: int, guarantees: list[Guarantee] | tuple[Guarantee, ...],
                   guaranteed_tx: bytes) -> bytes:
    """Encode and sign a claim of guarantees over guaranteed_tx (the payment as the payer signed it)."""
    msg = underwriting_pb2.MsgClaim(guarantees=[g.to_proto() for g in guarantees], tx=guaranteed_tx)
    return build_tx(key, chain_id, nonce, "claim", msg)


def build_capacity_evidence_tx(key: KeyPair, chain_id: str, nonce: int, guarantees: list[Guarantee]) -> bytes:
    """Encode and sign capacity evidence."""
    msg = underwriting_pb2.MsgCapacityEvidence(guarantees=[g.to_proto() for g in guarantees])
    return build_tx(key, chain_id, nonce, "capacity_evidence", msg)


def build_collateral_tx(key: KeyPair, chain_id: str, nonce: int, action: str, underwriter: str,
                        amount: int = 0) -> bytes:
    """Encode and sign a deposit, unlock or withdrawal of key's collateral for underwriter."""
    payer = str(Address.from_pub_key(chain_id, key.pub_key))
    if action == "deposit":
        return build_tx(key, chain_id, nonce, "deposit_collateral", underwriting_pb2.MsgDepositCollateral(
            payer=payer, underwriter=underwriter, amount=amount))
    if action == "unlock":
        return build_tx(key, chain_id, nonce, "unlock_collateral", underwriting_pb2.MsgUnlockCollateral(
            payer=payer, underwriter=underwriter, amount=amount))
    if action == "withdraw":
        return build_tx(key, chain_id, nonce, "withdraw_collateral", underwriting_pb2.MsgWithdrawCollateral(
            payer=payer, underwriter=underwriter))
    raise ValueError(f"unknown collateral action {action!r}")


def build_set_premium_tx(key: KeyPair, chain_id: str, nonce: int, rate_ppm: int, minimum: int) -> bytes:
    """Encode and sign key's validator's premium announcement."""
    validator = str(Address.from_pub_key(chain_id, key.pub_key))
    return build_tx(key, chain_id, nonce, "set_premium", underwriting_pb2.MsgSetPremium(
        validator=validator, rate_ppm=rate_ppm, minimum=minimum))
