"""underwriting keeper: checks guarantees against the chain, settles them exactly once, punishes over-signing.

Settlement of a guaranteed transaction is recorded under its hash the first time it happens, released (the
transaction executed) or paid (the beneficiary got the underwriters' shares from their stake); any later
carrier or claim for the same hash is a replay.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..errors import (
    ClaimWindowClosedError,
    ExpiredGuaranteeError,
    ForgedGuaranteeError,
    GuaranteeLifetimeError,
    GuaranteeMismatchError,
    InvalidEvidenceError,
    LapsedTxError,
    NotClaimableError,
    OverCapacityGuaranteeError,
    ReplayedGuaranteeError,
    UnknownValidatorError,
)
from ..events import Event
from ..gen.distpos.v1 import underwriting_pb2
from ..receipts import Receipt, ReceiptKeeper
from ..staking import StakingKeeper
from ..store.kv import KVReader, KVStore, PrefixStore
from ..types import Amount, ChainId, Height, TxHash
from . import keys
from .guarantee import Guarantee, verify_guarantee_signature
from .params import UnderwritingParams

RELEASED = 1
PAID = 2
OUTCOMES = {RELEASED: "released", PAID: "paid"}


@dataclass(frozen=True, slots=True)
class Settlement:
    """How a guaranteed transaction's guarantees ended."""

    tx_hash: TxHash
    outcome: int
    height: Height
    amount: Amount
    beneficiary: str

    def to_proto(self) -> underwriting_pb2.Settlement:
        """The protobuf record."""
        return underwriting_pb2.Settlement(tx_hash=self.tx_hash, outcome=self.outcome, height=self.height,
                                           amount=self.amount, beneficiary=self.beneficiary)

    @classmethod
    def decode(cls, raw: bytes) -> "Settlement":
        """Decode a stored settlement."""
        m = underwriting_pb2.Settlement.FromString(raw)
        return cls(TxHash(m.tx_hash), m.outcome, Height(m.height), Amount(m.amount), m.beneficiary)


# ---- pure rules ----------------------------------------------------------------------------------------


def validate_guarantee_set(gs: tuple[Guarantee, ...], chain_id: str, params: UnderwritingParams) -> None:
    """Raise unless gs are shares of one promise on this chain: same hash, total, beneficiary and expiry,
    distinct underwriters, shares adding up to the total, lifetimes within max_guarantee_blocks."""
    first = gs[0]
    for g in gs:
        if g.chain_id != chain_id:
            raise GuaranteeMismatchError(f"guarantee is for chain {g.chain_id!r}, this is {chain_id!r}")
        if (g.tx_hash, g.total, g.beneficiary, g.expiry_height) != (
                first.tx_hash, first.total, first.beneficiary, first.expiry_height):
            raise GuaranteeMismatchError("guarantees disagree on transaction, total, beneficiary or expiry")
        if g.expiry_height - g.issued_height > params.max_guarantee_blocks:
            raise GuaranteeLifetimeError(
                f"guarantee lives {g.expiry_height - g.issued_height} blocks, max_guarantee_blocks is "
                f"{params.max_guarantee_blocks}"
            )
    if len({g.underwriter.account for g in gs}) != len(gs):
        raise GuaranteeMismatchError("two guarantees from the same underwriter")
    if sum(g.amount for g in gs) != first.total:
        raise GuaranteeMismatchError(f"shares add up to {sum(g.amount for g in gs)}, not the total {first.total}")


def is_claim_open(g: Guarantee, height: int, params: UnderwritingParams) -> bool:
    """True while a claim on g is accepted (up to claim_window_blocks after expiry)."""
    return height <= g.expiry_height + params.claim_window_blocks


def is_overlapping(gs: tuple[Guarantee, ...]) -> bool:
    """True when every guarantee of gs was live at one common height."""
    return max(g.issued_height for g in gs) <= min(g.expiry_height for g in gs)


# ---- keeper --------------------------------------------------------------------------------------------


# Receipt index of a transaction settled by a claim rather than included in a block.
LAPSED_RECEIPT_INDEX = 0xFFFFFFFF


class UnderwritingKeeper:
    """Reads and writes the underwriting prefix; pays and slashes only through the staking keeper."""

    def __init__(self, store: KVStore | KVReader, chain_id: str) -> None:
        self.root = store
        self.store = PrefixStore(store, keys.PREFIX)  # type: ignore[arg-type]
        self.chain_id = ChainId(chain_id)
        self.staking = StakingKeeper(store, chain_id)

    def get_params(self) -> UnderwritingParams:
        """The stored parameters (defaults before genesis)."""
        raw = self.store.get(keys.PARAMS)
        return UnderwritingParams.from_json(json.loads(raw)) if raw else UnderwritingParams()

    def apply_params(self, params: UnderwritingParams) -> None:
        """Store parameters."""
        self.store.set(keys.PARAMS, params.encode())

    def get_settlement(self, tx_hash: bytes) -> Settlement | None:
        """The settlement of a guaranteed transaction, if it happened."""
        raw = self.store.get(keys.settlement_key(tx_hash))
        return Settlement.decode(raw) if raw is not None else None

    def validate_guarantees(self, gs: tuple[Guarantee, ...]) -> None:
        """Consistent, signed by registered validators, not settled before (checks only)."""
        validate_guarantee_set(gs, self.chain_id, self.get_params())
        self._validate_signatures(gs)
        if self.get_settlement(gs[0].tx_hash) is not None:
            raise ReplayedGuaranteeError(f"guarantees of {gs[0].tx_hash.hex()} were already settled")

    def _validate_signatures(self, gs: tuple[Guarantee, ...]) -> None:
        for g in gs:
            v = self.staking.get_validator(g.underwriter.account)
            if v is None:
                raise UnknownValidatorError(f"underwriter {g.underwriter} is not a validator")
            if not verify_guarantee_signature(v.consensus_pub_key, g):
                raise ForgedGuaranteeError(f"guarantee signature does not verify for underwriter {g.underwriter}")

    def validate_carriable(self, gs: tuple[Guarantee, ...], height: Height) -> None:
        """A carrier at height: not expired, and no share beyond its underwriter's backing stake."""
        if height > gs[0].expiry_height:
            raise ExpiredGuaranteeError(f"guarantee expired at height {gs[0].expiry_height}; this is {height}")
        for g in gs:
            backing = self.staking.get_backing(g.underwriter.account)
            if g.amount > backing:
                raise OverCapacityGuaranteeError(
                    f"underwriter {g.underwriter} guarantees {g.amount} but has {backing} at stake"
                )

    def _settle(self, gs: tuple[Guarantee, ...], outcome: int, height: Height, amount: int) -> None:
        s = Settlement(gs[0].tx_hash, outcome, height, Amount(amount), str(gs[0].beneficiary))
        self.store.set(keys.settlement_key(gs[0].tx_hash), s.to_proto().SerializeToString(deterministic=True))

    def apply_release(self, gs: tuple[Guarantee, ...], height: Height) -> list[Event]:
        """The transaction executed: free every share (gs already validated)."""
        self._settle(gs, RELEASED, height, 0)
        return [Event.of("guarantee_release", tx_hash=g.tx_hash.hex().upper(), underwriter=g.underwriter,
                         amount=g.amount) for g in gs]

    def apply_payout(self, gs: tuple[Guarantee, ...], height: Height, reason: str) -> list[Event]:
        """The transaction failed or lapsed: pay each share from its underwriter's stake (gs already validated)."""
        events: list[Event] = []
        total = 0
        for g in gs:
            paid, evs = self.staking.process_payout(g.underwriter.account, g.amount, g.beneficiary, reason)
            total += paid
            events.extend(evs)
        self._settle(gs, PAID, height, total)
        events.append(Event.of("guarantee_paid", tx_hash=gs[0].tx_hash.hex().upper(), beneficiary=gs[0].beneficiary,
                               amount=total, reason=reason))
        return events

    def process_claim(self, gs: tuple[Guarantee, ...], height: Height) -> list[Event]:
        """Pay a claim when the chain shows the transaction failed, or it was not included by expiry."""
        self.validate_guarantees(gs)
        g = gs[0]
        params = self.get_params()
        receipt = ReceiptKeeper(self.root).get(g.tx_hash)
        if receipt is not None and receipt.code == 0:
            raise NotClaimableError(f"transaction {g.tx_hash.hex()} executed at height {receipt.height}")
        if receipt is None and height <= g.expiry_height:
            raise NotClaimableError(f"transaction {g.tx_hash.hex()} may still execute until height {g.expiry_height}")
        if not is_claim_open(g, height, params):
            raise ClaimWindowClosedError(
                f"claims on {g.tx_hash.hex()} closed at height {g.expiry_height + params.claim_window_blocks}"
            )
        if receipt is None:
            # Settle the transaction itself too: its receipt makes the app refuse these bytes forever,
            # so a client cannot collect the payout and then have the original send execute as well.
            lapsed = LapsedTxError(f"not included by expiry height {g.expiry_height}; guarantees paid at {height}")
            ReceiptKeeper(self.root).apply_receipt(
                g.tx_hash, Receipt(height, LAPSED_RECEIPT_INDEX, lapsed.code, lapsed.codespace)
            )
        reason = f"failed with code {receipt.code}" if receipt is not None else "not included by expiry"
        return self.apply_payout(gs, height, reason)

    def process_capacity_evidence(self, gs: tuple[Guarantee, ...], height: Height) -> list[Event]:
        """Slash and jail an underwriter proven to have signed beyond its stake."""
        underwriter = gs[0].underwriter
        if any(g.underwriter.account != underwriter.account for g in gs):
            raise InvalidEvidenceError("evidence guarantees must all name one underwriter")
        if len({g.tx_hash for g in gs}) != len(gs):
            raise InvalidEvidenceError("evidence guarantees must be for distinct transactions")
        if any(g.chain_id != self.chain_id for g in gs):
            raise InvalidEvidenceError(f"evidence guarantees must be for chain {self.chain_id}")
        if not is_overlapping(gs):
            raise InvalidEvidenceError("evidence guarantees were never live at the same height")
        self._validate_signatures(gs)
        backing = self.staking.get_backing(underwriter.account)
        total = sum(g.amount for g in gs)
        if total <= backing:
            raise InvalidEvidenceError(f"guarantees sum to {total}, within the underwriter's stake {backing}")
        for g in gs:
            if self.store.get(keys.evidence_key(underwriter.account, g.tx_hash)) is not None:
                raise InvalidEvidenceError(f"guarantee of {g.tx_hash.hex()} was already used as evidence")
        for g in gs:
            self.store.set(keys.evidence_key(underwriter.account, g.tx_hash), b"\x01")
        sp = self.staking.get_params()
        events = self.staking.process_slash(underwriter.account, sp.slash_fraction_double_sign_ppm, "over_capacity",
                                            height)
        events += self.staking.process_jail(underwriter.account, Height(height + sp.jail_blocks), "over_capacity")
        return events

