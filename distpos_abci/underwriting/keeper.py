"""underwriting keeper: collateral, settlement of guaranteed payments by the payer's nonce, over-signing evidence.

A guaranteed payment is (payer, nonce, beneficiary, total). It is settled by what the payer's nonce did, never by
the hash of some bytes: once the nonce is consumed, the beneficiary is owed `total` minus what that nonce paid it;
once the guarantee expired with the nonce unused, the nonce is retired (it can never pay afterwards) and the whole
total is owed. What is owed is paid per share, first from the collateral the payer locked for that share's
underwriter, then from the underwriter's stake. Each share settles once: `set/<payer><nonce><underwriter>`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from ..address import Address
from ..auth import AuthKeeper
from ..authority import compute_module_account
from ..bank import BankKeeper
from ..errors import (
    ClaimWindowClosedError,
    CollateralLockedError,
    ExpiredGuaranteeError,
    ForgedGuaranteeError,
    GuaranteeLifetimeError,
    InvalidPremiumError,
    GuaranteeMismatchError,
    InvalidEvidenceError,
    NotClaimableError,
    PaymentRecordExpiredError,
    ReplayedGuaranteeError,
    UnknownValidatorError,
)
from ..events import Event
from ..gen.distpos.v1 import underwriting_pb2
from ..staking import StakingKeeper
from ..store.kv import KVReader, KVStore, PrefixStore
from ..types import AccountId, Amount, ChainId, Height, Nonce, TxHash
from . import keys
from .guarantee import Guarantee, verify_guarantee_signature
from .params import UnderwritingParams

RELEASED = 1
PAID = 2
OUTCOMES = {RELEASED: "released", PAID: "paid"}

# Every coin locked as collateral sits in this module account; Collateral records say whose it is.
# Invariant: balance(COLLATERAL_POOL) == sum over records of (locked + unlocking).
COLLATERAL_POOL: AccountId = compute_module_account("underwriting/collateral")


@dataclass(frozen=True, slots=True)
class Settlement:
    """How one underwriter's share of a guaranteed payment ended."""

    tx_hash: TxHash
    outcome: int
    height: Height
    amount: Amount
    beneficiary: str
    payer: str
    nonce: Nonce
    underwriter: str
    from_collateral: Amount
    from_stake: Amount

    def to_proto(self) -> underwriting_pb2.Settlement:
        """The protobuf record."""
        return underwriting_pb2.Settlement(
            tx_hash=self.tx_hash, outcome=self.outcome, height=self.height, amount=self.amount,
            beneficiary=self.beneficiary, payer=self.payer, nonce=self.nonce, underwriter=self.underwriter,
            from_collateral=self.from_collateral, from_stake=self.from_stake)

    @classmethod
    def decode(cls, raw: bytes) -> "Settlement":
        """Decode a stored settlement (written by this keeper only)."""
        m = underwriting_pb2.Settlement.FromString(raw)
        return cls(TxHash(m.tx_hash), m.outcome, Height(m.height), Amount(m.amount), m.beneficiary, m.payer,
                   Nonce(m.nonce), m.underwriter, Amount(m.from_collateral), Amount(m.from_stake))


@dataclass(frozen=True, slots=True)
class Collateral:
    """A payer's collateral held for one underwriter: locked backs new guarantees; unlocking is still seizable
    until unlock_height, then withdrawable."""

    locked: Amount = Amount(0)
    unlocking: Amount = Amount(0)
    unlock_height: Height = Height(0)

    @property
    def seizable(self) -> Amount:
        return Amount(self.locked + self.unlocking)

    def encode(self) -> bytes:
        """Canonical protobuf encoding."""
        return underwriting_pb2.Collateral(locked=self.locked, unlocking=self.unlocking,
                                           unlock_height=self.unlock_height).SerializeToString(deterministic=True)

    @classmethod
    def decode(cls, raw: bytes | None) -> "Collateral":
        """Decode a stored record; absent means nothing held."""
        if raw is None:
            return cls()
        m = underwriting_pb2.Collateral.FromString(raw)
        return cls(Amount(m.locked), Amount(m.unlocking), Height(m.unlock_height))


PPM = 1_000_000


@dataclass(frozen=True, slots=True)
class PremiumRate:
    """A validator's announced price for guaranteeing: rate_ppm of the guaranteed amount, at least minimum."""

    rate_ppm: int = 0
    minimum: Amount = Amount(0)

    def encode(self) -> bytes:
        """Canonical protobuf encoding."""
        return underwriting_pb2.PremiumRate(rate_ppm=self.rate_ppm, minimum=self.minimum).SerializeToString(
            deterministic=True)

    @classmethod
    def decode(cls, raw: bytes | None) -> "PremiumRate":
        """Decode a stored record (written by this keeper only); absent means free."""
        if raw is None:
            return cls()
        m = underwriting_pb2.PremiumRate.FromString(raw)
        return cls(m.rate_ppm, Amount(m.minimum))


@dataclass(frozen=True, slots=True)
class NonceOutcome:
    """What the payer's guaranteed nonce did, as far as the chain knows at a height."""

    consumed: bool
    paid: Amount  # to the beneficiary, by that nonce (0 unless consumed)
    forgotten: bool = False  # consumed so long ago that the record of what it paid may have expired


# Blocks beyond max_guarantee_blocks + claim_window_blocks that auth keeps what a nonce paid: co-underwriters may
# issue their share one block behind the coordinator.
PAYMENT_RECORD_SLACK_BLOCKS = 2


def compute_payment_retention(params: UnderwritingParams) -> int:
    """Blocks a payment record must stay readable after the block that wrote it: a guarantee is issued before
    its nonce is used, expires at most max_guarantee_blocks later, and may be claimed claim_window_blocks after."""
    return params.max_guarantee_blocks + params.claim_window_blocks + PAYMENT_RECORD_SLACK_BLOCKS


# ---- pure rules ----------------------------------------------------------------------------------------


def validate_guarantee_set(gs: tuple[Guarantee, ...], chain_id: str, params: UnderwritingParams) -> None:
    """Raise unless gs are shares of one promise on this chain: same payer, nonce, transaction, total,
    beneficiary and expiry, distinct underwriters, shares adding up to the total, lifetimes within
    max_guarantee_blocks, payer and beneficiary local."""
    first = gs[0]
    for g in gs:
        if g.chain_id != chain_id:
            raise GuaranteeMismatchError(f"guarantee is for chain {g.chain_id!r}, this is {chain_id!r}")
        if (g.payer, g.nonce, g.tx_hash, g.total, g.beneficiary, g.expiry_height) != (
                first.payer, first.nonce, first.tx_hash, first.total, first.beneficiary, first.expiry_height):
            raise GuaranteeMismatchError("guarantees disagree on payer, nonce, transaction, total, beneficiary or expiry")
        if g.expiry_height - g.issued_height > params.max_guarantee_blocks:
            raise GuaranteeLifetimeError(
                f"guarantee lives {g.expiry_height - g.issued_height} blocks, max_guarantee_blocks is "
                f"{params.max_guarantee_blocks}"
            )
    if first.payer.chain_id != chain_id or first.beneficiary.chain_id != chain_id:
        raise GuaranteeMismatchError(f"payer and beneficiary must be accounts of {chain_id}")
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


def compute_shortfall(total: int, paid: int) -> Amount:
    """What the beneficiary is still owed when the guaranteed nonce paid it `paid`."""
    return Amount(max(0, total - paid))


def compute_share_split(gs: tuple[Guarantee, ...], owed: int) -> list[tuple[Guarantee, Amount]]:
    """Split what is owed over the shares pro rata, exactly: floor shares, the remainder one unit at a time to
    the shares in underwriter order (so the split does not depend on the order the client listed them in)."""
    ordered = sorted(gs, key=lambda g: g.underwriter.account)
    total = ordered[0].total
    parts = [owed * g.amount // total for g in ordered]
    rest = owed - sum(parts)
    for i in range(len(parts)):
        if rest == 0:
            break
        if parts[i] < ordered[i].amount:
            parts[i] += 1
            rest -= 1
    return [(g, Amount(p)) for g, p in zip(ordered, parts)]


def validate_premium_rate(rate: PremiumRate) -> None:
    """Raise InvalidPremiumError unless the rate is at most 100%."""
    if not 0 <= rate.rate_ppm <= PPM:
        raise InvalidPremiumError(f"premium rate {rate.rate_ppm} ppm must be between 0 and {PPM}")


def compute_premium(rate: PremiumRate, amount: int) -> Amount:
    """What a validator asks for guaranteeing amount: rate_ppm of it rounded up, at least the minimum."""
    return Amount(max(rate.minimum, -(-amount * rate.rate_ppm // PPM)))


def compute_premium_split(gs: tuple[Guarantee, ...], premium: int) -> list[tuple[Guarantee, Amount]]:
    """Split the payer-signed premium over the shares pro rata to their amounts, exactly: floor parts, then the
    remainder (fewer units than shares) one unit each to the shares in underwriter order. Sums to premium."""
    ordered = sorted(gs, key=lambda g: g.underwriter.account)
    total = ordered[0].total
    parts = [premium * g.amount // total for g in ordered]
    rest = premium - sum(parts)
    for i in range(rest):
        parts[i] += 1
    return [(g, Amount(p)) for g, p in zip(ordered, parts)]


def compute_uncovered_exposure(gs: tuple[Guarantee, ...], collateral_of: dict[bytes, int]) -> int:
    """Sum over payers of what one underwriter's guarantees promise beyond that payer's collateral for it:
    the part only its stake backs."""
    per_payer: dict[bytes, int] = {}
    for g in gs:
        per_payer[g.payer.account] = per_payer.get(g.payer.account, 0) + g.amount
    return sum(max(0, promised - collateral_of.get(payer, 0)) for payer, promised in sorted(per_payer.items()))


# ---- keeper --------------------------------------------------------------------------------------------


class UnderwritingKeeper:
    """Reads and writes the underwriting prefix; moves coins only through the bank and staking keepers."""

    def __init__(self, store: KVStore | KVReader, chain_id: str) -> None:
        self.root = store
        self.store = PrefixStore(store, keys.PREFIX)  # type: ignore[arg-type]
        self.chain_id = ChainId(chain_id)
        self.staking = StakingKeeper(store, chain_id)

    # ---- reads

    def get_params(self) -> UnderwritingParams:
        """The stored parameters (defaults before genesis)."""
        raw = self.store.get(keys.PARAMS)
        return UnderwritingParams.from_json(json.loads(raw)) if raw else UnderwritingParams()

    def get_settlements(self, payer: AccountId, nonce: int) -> list[Settlement]:
        """The settled shares of the payer's guaranteed nonce, by underwriter."""
        prefix = keys.settlement_prefix(payer, nonce)
        return [Settlement.decode(v) for _, v in self.store.iter_prefix(prefix)]

    def get_settlement(self, payer: AccountId, nonce: int, underwriter: AccountId) -> Settlement | None:
        """One underwriter's settled share of a guaranteed payment, if it settled."""
        raw = self.store.get(keys.settlement_key(payer, nonce, underwriter))
        return Settlement.decode(raw) if raw is not None else None

    def get_collateral(self, payer: AccountId, underwriter: AccountId) -> Collateral:
        """The payer's collateral held for underwriter."""
        return Collateral.decode(self.store.get(keys.collateral_key(payer, underwriter)))

    def get_premium_rate(self, validator: AccountId) -> PremiumRate:
        """The validator's announced premium (0, 0 until it sets one)."""
        return PremiumRate.decode(self.store.get(keys.premium_key(validator)))

    def get_nonce_outcome(self, g: Guarantee) -> NonceOutcome:
        """Whether g's nonce was consumed, and what it paid g's beneficiary."""
        auth = AuthKeeper(self.root)
        if auth.get_account(g.payer.account).nonce <= g.nonce:
            return NonceOutcome(False, Amount(0))
        payment = auth.get_payment(g.payer.account, g.nonce)
        if payment is None and not auth.is_payment_record_kept(g.payer.account, g.nonce):
            return NonceOutcome(True, Amount(0), forgotten=True)
        paid = payment[1] if payment is not None and payment[0] == g.beneficiary.account else 0
        return NonceOutcome(True, Amount(paid))

    def process_payment_expiry(self, height: Height, new_payments: list[bytes]) -> int:
        """End of block: let auth forget what nonces paid once no settlement can read it (the window is read from
        the parameters now, so a governance change applies to every record not yet deleted)."""
        return AuthKeeper(self.root).process_payment_expiry(
            height, compute_payment_retention(self.get_params()), new_payments)

    # ---- checks

    def apply_params(self, params: UnderwritingParams) -> None:
        """Store parameters."""
        self.store.set(keys.PARAMS, params.encode())

    def validate_guarantees(self, gs: tuple[Guarantee, ...]) -> None:
        """Consistent, signed by registered validators, no share settled before (checks only)."""
        validate_guarantee_set(gs, self.chain_id, self.get_params())
        self._validate_signatures(gs)
        for g in gs:
            if self.get_settlement(g.payer.account, g.nonce, g.underwriter.account) is not None:
                raise ReplayedGuaranteeError(
                    f"the guarantee of {g.underwriter} for {g.payer} nonce {g.nonce} was already settled")

    def _validate_signatures(self, gs: tuple[Guarantee, ...]) -> None:
        for g in gs:
            v = self.staking.get_validator(g.underwriter.account)
            if v is None:
                raise UnknownValidatorError(f"underwriter {g.underwriter} is not a validator")
            if not verify_guarantee_signature(v.consensus_pub_key, g):
                raise ForgedGuaranteeError(f"guarantee signature does not verify for underwriter {g.underwriter}")

    def validate_carriable(self, gs: tuple[Guarantee, ...], height: Height) -> None:
        """A carrier runs the guaranteed transaction only up to the expiry height."""
        if height > gs[0].expiry_height:
            raise ExpiredGuaranteeError(f"guarantee expired at height {gs[0].expiry_height}; this is {height}")

    # ---- settlement

    def process_settlement(self, gs: tuple[Guarantee, ...], height: Height, claim: bool,
                           premium: Amount = Amount(0)) -> list[Event]:
        """Settle validated guarantees by what their nonce did: release, pay the shortfall, or (expired and
        unused) retire the nonce and pay everything; then pay each share its part of the premium the payer signed.
        A claim that would release is refused: nothing is owed."""
        g = gs[0]
        params = self.get_params()
        if claim and not is_claim_open(g, height, params):
            raise ClaimWindowClosedError(
                f"claims on {g.payer} nonce {g.nonce} closed at height {g.expiry_height + params.claim_window_blocks}")
        outcome = self.get_nonce_outcome(g)
        if outcome.forgotten:
            raise PaymentRecordExpiredError(
                f"nonce {g.nonce} of {g.payer} was used before the chain's record of what it paid expired "
                f"(kept {compute_payment_retention(params)} blocks); nothing is settled")
        events: list[Event] = []
        if not outcome.consumed:
            if height <= g.expiry_height:
                raise NotClaimableError(
                    f"nonce {g.nonce} of {g.payer} is unused and may still pay until height {g.expiry_height}")
            # Lapsed: retire the nonce so the promised payment can never also happen.
            AuthKeeper(self.root).apply_lapse(g.payer.account, g.nonce)
            events.append(Event.of("nonce_retired", payer=g.payer, nonce=g.nonce))
        owed = compute_shortfall(g.total, outcome.paid)
        if owed == 0:
            if claim:
                raise NotClaimableError(f"nonce {g.nonce} of {g.payer} paid {g.beneficiary} in full")
            events += self.apply_release(gs, height)
        else:
            reason = "nonce paid less than guaranteed" if outcome.consumed else "not paid by expiry"
            events += self.apply_payout(gs, owed, height, reason)
        return events + self.apply_premium(gs, premium)

    def apply_premium(self, gs: tuple[Guarantee, ...], premium: Amount) -> list[Event]:
        """Pay each share's underwriter its part of the premium the payer signed, once, as the shares settle,
        from the payer's balance (after any payout). Never from collateral: that backs the payer's other
        guarantees, and taking from it could leave one of them to the underwriter's stake. What the balance does
        not cover is not paid (the event says so); nothing is ever taken beyond the signed premium."""
        events: list[Event] = []
        if premium == 0:
            return events
        bank = BankKeeper(self.root)
        for g, part in compute_premium_split(gs, premium):
            paid = min(part, bank.get_balance(g.payer.account))
            if paid:
                events += bank.process_send(g.payer, g.underwriter, Amount(paid))  # type: ignore[arg-type]
            events.append(Event.of("premium_paid", payer=g.payer, nonce=g.nonce, underwriter=g.underwriter,
                                   premium=part, paid=paid, unpaid=part - paid))
        return events

    def process_set_premium(self, validator: Address, rate: PremiumRate) -> list[Event]:
        """Announce (or change) a validator's premium; its operator signs."""
        validate_premium_rate(rate)
        self.staking.require_validator(validator.account)
        self.store.set(keys.premium_key(validator.account), rate.encode())
        return [Event.of("premium_set", validator=validator, rate_ppm=rate.rate_ppm, minimum=rate.minimum)]

    def _settle(self, g: Guarantee, outcome: int, height: Height, from_collateral: int, from_stake: int) -> None:
        s = Settlement(g.tx_hash, outcome, height, Amount(from_collateral + from_stake), str(g.beneficiary),
                       str(g.payer), g.nonce, str(g.underwriter), Amount(from_collateral), Amount(from_stake))
        self.store.set(keys.settlement_key(g.payer.account, g.nonce, g.underwriter.account),
                       s.to_proto().SerializeToString(deterministic=True))

    def apply_release(self, gs: tuple[Guarantee, ...], height: Height) -> list[Event]:
        """The nonce paid the beneficiary in full: free every share (gs already validated)."""
        for g in gs:
            self._settle(g, RELEASED, height, 0, 0)
        return [Event.of("guarantee_release", payer=g.payer, nonce=g.nonce, underwriter=g.underwriter,
                         amount=g.amount) for g in sorted(gs, key=lambda g: g.underwriter.account)]

    def apply_payout(self, gs: tuple[Guarantee, ...], owed: Amount, height: Height, reason: str,
                     to: Address | None = None) -> list[Event]:
        """Pay what is owed, share by share: from the payer's collateral for that underwriter, then its stake; to
        the beneficiary, or to `to` (a cross-chain guarantee pays the destination's correspondent account)."""
        events: list[Event] = []
        total = 0
        for g, part in compute_share_split(gs, owed):
            payee = to if to is not None else g.beneficiary
            from_collateral = self._seize_collateral(g.payer, g.underwriter.account, payee, part)
            from_stake, evs = (0, []) if part == from_collateral else self.staking.process_payout(
                g.underwriter.account, Amount(part - from_collateral), payee, reason)
            events.extend(evs)
            self._settle(g, PAID, height, from_collateral, from_stake)
            total += from_collateral + from_stake
            events.append(Event.of("guarantee_share_paid", payer=g.payer, nonce=g.nonce, underwriter=g.underwriter,
                                   owed=part, from_collateral=from_collateral, from_stake=from_stake))
        events.append(Event.of("guarantee_paid", payer=gs[0].payer, nonce=gs[0].nonce,
                               beneficiary=to if to is not None else gs[0].beneficiary, amount=total, owed=owed,
                               reason=reason))
        return events

    # ---- cross-chain (instant) guarantees

    def validate_instant_underwriters(self, gs: tuple[Guarantee, ...]) -> tuple[Guarantee, ...]:
        """Cross-chain guarantees name their underwriter by its consensus (CometBFT) address, which is what the
        destination's light client knows. Raise unless each is a registered validator's and signed with its
        consensus key, and no share of the payment settled before; return the guarantees with their operators
        as underwriters (collateral and stake are held per operator)."""
        out = []
        for g in gs:
            operator = self.staking.get_operator_by_consensus(g.underwriter.account)
            v = self.staking.get_validator(operator) if operator is not None else None
            if v is None:
                raise UnknownValidatorError(f"underwriter {g.underwriter} is not a validator's consensus address")
            if not verify_guarantee_signature(v.consensus_pub_key, g):
                raise ForgedGuaranteeError(f"guarantee signature does not verify for underwriter {g.underwriter}")
            if self.get_settlement(g.payer.account, g.nonce, v.operator.account) is not None:
                raise ReplayedGuaranteeError(
                    f"the guarantee of {v.operator} for {g.payer} nonce {g.nonce} was already settled")
            out.append(replace(g, underwriter=v.operator))
        return tuple(out)

    # ---- collateral

    def _pool(self) -> Address:
        return Address(self.chain_id, COLLATERAL_POOL)

    def _set_collateral(self, payer: AccountId, underwriter: AccountId, c: Collateral) -> None:
        key = keys.collateral_key(payer, underwriter)
        if c.seizable == 0:
            self.store.delete(key)
        else:
            self.store.set(key, c.encode())

    def _seize_collateral(self, payer: Address, underwriter: AccountId, beneficiary: Address, amount: int) -> Amount:
        """Pay up to amount of the payer's collateral for underwriter to beneficiary, locked first."""
        c = self.get_collateral(payer.account, underwriter)
        take = min(amount, c.seizable)
        if take == 0:
            return Amount(0)
        from_locked = min(take, c.locked)
        self._set_collateral(payer.account, underwriter, Collateral(
            Amount(c.locked - from_locked), Amount(c.unlocking - (take - from_locked)), c.unlock_height))
        BankKeeper(self.root).process_send(self._pool(), beneficiary, Amount(take))  # type: ignore[arg-type]
        return Amount(take)

    def process_deposit_collateral(self, payer: Address, underwriter: Address, amount: Amount) -> list[Event]:
        """Lock amount of the payer's balance for guarantees underwriter signs for it."""
        self.staking.require_validator(underwriter.account)
        c = self.get_collateral(payer.account, underwriter.account)
        events = BankKeeper(self.root).process_send(payer, self._pool(), amount)  # type: ignore[arg-type]
        self._set_collateral(payer.account, underwriter.account,
                             Collateral(Amount(c.locked + amount), c.unlocking, c.unlock_height))
        return events + [Event.of("collateral_deposit", payer=payer, underwriter=underwriter, amount=amount)]

    def process_unlock_collateral(self, payer: Address, underwriter: Address, amount: Amount,
                                  height: Height) -> list[Event]:
        """Move amount from locked to unlocking; all unlocking collateral becomes withdrawable
        collateral_unlock_blocks from now (a later unlock pushes the date, never pulls it)."""
        c = self.get_collateral(payer.account, underwriter.account)
        if amount > c.locked:
            raise CollateralLockedError(f"unlock {amount}: only {c.locked} is locked for {underwriter}")
        until = Height(height + self.get_params().collateral_unlock_blocks)
        self._set_collateral(payer.account, underwriter.account,
                             Collateral(Amount(c.locked - amount), Amount(c.unlocking + amount), until))
        return [Event.of("collateral_unlock", payer=payer, underwriter=underwriter, amount=amount, until=until)]

    def process_withdraw_collateral(self, payer: Address, underwriter: Address, height: Height) -> list[Event]:
        """Return the payer's unlocking collateral once its unlock height is reached."""
        c = self.get_collateral(payer.account, underwriter.account)
        if c.unlocking == 0:
            raise CollateralLockedError(f"nothing is unlocking for {underwriter}")
        if height < c.unlock_height:
            raise CollateralLockedError(f"unlocking collateral is withdrawable from height {c.unlock_height}")
        events = BankKeeper(self.root).process_send(self._pool(), payer, c.unlocking)  # type: ignore[arg-type]
        self._set_collateral(payer.account, underwriter.account, Collateral(c.locked, Amount(0), Height(0)))
        return events + [Event.of("collateral_withdraw", payer=payer, underwriter=underwriter, amount=c.unlocking)]

    # ---- evidence

    def process_capacity_evidence(self, gs: tuple[Guarantee, ...], height: Height) -> list[Event]:
        """Slash and jail an underwriter proven to have promised, beyond its payers' collateral, more than its
        stake: guarantees all live at one height whose uncovered part exceeds its backing stake."""
        underwriter = gs[0].underwriter
        if any(g.underwriter.account != underwriter.account for g in gs):
            raise InvalidEvidenceError("evidence guarantees must all name one underwriter")
        if len({(g.payer.account, g.nonce) for g in gs}) != len(gs):
            raise InvalidEvidenceError("evidence guarantees must be for distinct payments")
        if any(g.chain_id != self.chain_id for g in gs):
            raise InvalidEvidenceError(f"evidence guarantees must be for chain {self.chain_id}")
        if not is_overlapping(gs):
            raise InvalidEvidenceError("evidence guarantees were never live at the same height")
        self._validate_signatures(gs)
        backing = self.staking.get_backing(underwriter.account)
        collateral = {g.payer.account: self.get_collateral(g.payer.account, underwriter.account).seizable for g in gs}
        uncovered = compute_uncovered_exposure(gs, collateral)
        if uncovered <= backing:
            raise InvalidEvidenceError(
                f"guarantees promise {uncovered} beyond collateral, within the underwriter's stake {backing}")
        for g in gs:
            if self.store.get(keys.evidence_key(underwriter.account, g.payer.account, g.nonce)) is not None:
                raise InvalidEvidenceError(f"guarantee for {g.payer} nonce {g.nonce} was already used as evidence")
        for g in gs:
            self.store.set(keys.evidence_key(underwriter.account, g.payer.account, g.nonce), b"\x01")
        sp = self.staking.get_params()
        events = self.staking.process_slash(underwriter.account, sp.slash_fraction_double_sign_ppm, "over_capacity",
                                            height)
        events += self.staking.process_jail(underwriter.account, Height(height + sp.jail_blocks), "over_capacity")
        return events
