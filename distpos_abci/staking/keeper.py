"""staking keeper: validators, bonded stake, unbonding entries, jailing, slashing and the validator set.

Every coin bonded or unbonding sits in the BONDED_POOL account; validator records say whose it is.
Invariant: balance(BONDED_POOL) == sum over validators of (bonded + unbonding).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace

from ..address import Address, parse_address
from ..bank import BankKeeper
from ..errors import (
    ConsensusKeyInUseError,
    InsufficientStakeError,
    NothingToWithdrawError,
    NotJailedError,
    StillJailedError,
    UnknownValidatorError,
    ValidatorExistsError,
)
from ..events import Event
from ..gen.distpos.v1 import staking_pb2
from ..module import BlockInfo, ValidatorUpdate
from ..store.kv import KVReader, KVStore, PrefixStore, iter_prefix_after
from ..types import AccountId, Amount, ChainId, Height
from . import keys
from .params import PPM, StakingParams

JAILED_FOREVER = Height(2**62)


def compute_consensus_address(pub_key: bytes) -> bytes:
    """CometBFT's address of an ed25519 key: sha256(key)[:20]."""
    return hashlib.sha256(pub_key).digest()[:20]


@dataclass(frozen=True, slots=True)
class ValidatorRecord:
    """A validator as stored."""

    operator: Address
    consensus_pub_key: bytes
    bonded: Amount
    unbonding: Amount = Amount(0)
    jailed_until: Height = Height(0)  # 0 = not jailed
    endpoint: str = ""
    moniker: str = ""
    slashed: Amount = Amount(0)

    @property
    def consensus_address(self) -> bytes:
        """The CometBFT validator address."""
        return compute_consensus_address(self.consensus_pub_key)

    @property
    def is_jailed(self) -> bool:
        """True while jailed (until MsgUnjail succeeds)."""
        return self.jailed_until != 0

    @property
    def backing(self) -> Amount:
        """Stake that can be slashed and that backs guarantees: bonded plus unbonding."""
        return Amount(self.bonded + self.unbonding)

    def to_proto(self) -> staking_pb2.Validator:
        """The protobuf record."""
        return staking_pb2.Validator(
            operator_address=str(self.operator), consensus_pub_key=self.consensus_pub_key, bonded=self.bonded,
            unbonding=self.unbonding, jailed_until=self.jailed_until, endpoint=self.endpoint, moniker=self.moniker,
            slashed=self.slashed,
        )

    def encode(self) -> bytes:
        """Deterministic protobuf encoding."""
        return self.to_proto().SerializeToString(deterministic=True)

    @classmethod
    def decode(cls, raw: bytes) -> "ValidatorRecord":
        """Decode a stored record."""
        m = staking_pb2.Validator.FromString(raw)
        return cls(parse_address(m.operator_address), m.consensus_pub_key, Amount(m.bonded), Amount(m.unbonding),
                   Height(m.jailed_until), m.endpoint, m.moniker, Amount(m.slashed))


@dataclass(frozen=True, slots=True)
class UnbondingEntry:
    """Stake on its way out: slashable and backing guarantees until complete_height."""

    operator: Address
    amount: Amount
    complete_height: Height
    start_height: Height
    start_time_ns: int = 0
    complete_time_ns: int = 0

    def is_matured(self, height: int, time_ns: int) -> bool:
        """True once both the completion height and the completion (consensus) time are reached."""
        return self.complete_height <= height and self.complete_time_ns <= time_ns

    def encode(self) -> bytes:
        """Deterministic protobuf encoding."""
        return staking_pb2.UnbondingEntry(
            operator_address=str(self.operator), amount=self.amount, complete_height=self.complete_height,
            start_height=self.start_height, start_time_ns=self.start_time_ns, complete_time_ns=self.complete_time_ns,
        ).SerializeToString(deterministic=True)

    @classmethod
    def decode(cls, raw: bytes) -> "UnbondingEntry":
        """Decode a stored entry."""
        m = staking_pb2.UnbondingEntry.FromString(raw)
        return cls(parse_address(m.operator_address), Amount(m.amount), Height(m.complete_height),
                   Height(m.start_height), m.start_time_ns, m.complete_time_ns)


@dataclass(frozen=True, slots=True)
class SigningInfo:
    """Missed blocks of a validator in the current downtime window."""

    window_start: Height = Height(0)
    missed_in_window: int = 0
    jail_count: int = 0
    total_missed: int = 0

    def encode(self, operator: Address) -> bytes:
        """Deterministic protobuf encoding (the record names its operator for queries)."""
        return staking_pb2.SigningInfo(
            operator_address=str(operator), window_start=self.window_start, missed_in_window=self.missed_in_window,
            jail_count=self.jail_count, total_missed=self.total_missed,
        ).SerializeToString(deterministic=True)

    @classmethod
    def decode(cls, raw: bytes | None) -> "SigningInfo":
        """Decode a stored record; absent is a fresh one."""
        if raw is None:
            return cls()
        m = staking_pb2.SigningInfo.FromString(raw)
        return cls(Height(m.window_start), m.missed_in_window, m.jail_count, m.total_missed)


# ---- pure rules -------------------------------------------------------------------------------------


def compute_power(v: ValidatorRecord, params: StakingParams) -> int:
    """CometBFT voting power of a validator: bonded // power_reduction, 0 while jailed."""
    return 0 if v.is_jailed else v.bonded // params.power_reduction


def compute_slash_amount(backing: int, fraction_ppm: int) -> Amount:
    """The stake a slash of fraction_ppm takes (rounded down)."""
    return Amount(backing * fraction_ppm // PPM)


def compute_active_set(powers: list[tuple[bytes, int]], max_validators: int) -> dict[bytes, int]:
    """The powers CometBFT should hold: the max_validators largest (ties by operator), everyone else 0."""
    ranked = sorted((p for p in powers if p[1] > 0), key=lambda p: (-p[1], p[0]))
    active = dict(ranked[:max_validators])
    return {op: active.get(op, 0) for op, _ in powers}


def is_downtime_jailable(missed_in_window: int, params: StakingParams) -> bool:
    """True once a validator missed more blocks in its window than it may."""
    return missed_in_window > params.downtime_window - params.min_signed_per_window


def compute_unbonding_complete(height: int, params: StakingParams) -> Height:
    """First height at which stake unbonded at height can be withdrawn."""
    return Height(height + params.unbonding_blocks)


# ---- keeper ------------------------------------------------------------------------------------------


class StakingKeeper:
    """Reads and writes the staking prefix; moves coins only through the bank keeper."""

    def __init__(self, store: KVStore | KVReader, chain_id: str = "") -> None:
        self.root = store
        self.store = PrefixStore(store, keys.PREFIX)  # type: ignore[arg-type]
        self.chain_id = ChainId(chain_id)

    # ---- reads

    def get_params(self) -> StakingParams:
        """The stored parameters (defaults before genesis)."""
        raw = self.store.get(keys.PARAMS)
        return StakingParams.from_json(json.loads(raw)) if raw else StakingParams()

    def get_validator(self, operator: AccountId) -> ValidatorRecord | None:
        """The validator operated by account, if any."""
        raw = self.store.get(keys.validator_key(operator))
        return ValidatorRecord.decode(raw) if raw is not None else None

    def require_validator(self, operator: AccountId) -> ValidatorRecord:
        """The validator operated by account; UnknownValidatorError otherwise."""
        v = self.get_validator(operator)
        if v is None:
            raise UnknownValidatorError(f"no validator operated by account {operator.hex()}")
        return v

    def get_operator_by_consensus(self, cons_address: bytes) -> AccountId | None:
        """The operator whose consensus key has this CometBFT address."""
        raw = self.store.get(keys.consensus_key(cons_address))
        return AccountId(raw) if raw is not None else None

    def get_validators(self, after: AccountId | None = None) -> Iterator[ValidatorRecord]:
        """Every validator, ordered by operator account (only those after operator account `after`, if given)."""
        for _, raw in iter_prefix_after(self.store, keys.VALIDATOR, after):
            yield ValidatorRecord.decode(raw)

    def get_power(self, operator: AccountId) -> int:
        """The power last reported to CometBFT."""
        raw = self.store.get(keys.power_key(operator))
        return int.from_bytes(raw, "big") if raw else 0

    def get_unbondings(self, operator: AccountId) -> list[UnbondingEntry]:
        """The validator's unbonding entries, earliest completion first."""
        return [UnbondingEntry.decode(raw) for _, raw in self.store.iter_prefix(keys.unbonding_prefix(operator))]

    def iter_unbondings(self, operator: AccountId,
                        after: tuple[int, int] | None = None) -> Iterator[tuple[tuple[int, int], UnbondingEntry]]:
        """The validator's unbonding entries keyed by (complete height, seq), in that order; only those after
        `after`, if given."""
        start = None if after is None else after[0].to_bytes(8, "big") + after[1].to_bytes(8, "big")
        for key, raw in iter_prefix_after(self.store, keys.unbonding_prefix(operator), start):
            yield (int.from_bytes(key[-16:-8], "big"), int.from_bytes(key[-8:], "big")), UnbondingEntry.decode(raw)

    def get_signing_info(self, operator: AccountId) -> SigningInfo:
        """Downtime accounting of a validator."""
        return SigningInfo.decode(self.store.get(keys.signing_key(operator)))

    def get_backing(self, operator: AccountId) -> Amount:
        """Stake backing the validator's guarantees (bonded + unbonding); 0 for unknown operators."""
        v = self.get_validator(operator)
        return v.backing if v is not None else Amount(0)

    # ---- writes (apply_*: no checks)

    def apply_params(self, params: StakingParams) -> None:
        """Store parameters."""
        self.store.set(keys.PARAMS, params.encode())

    def apply_validator(self, v: ValidatorRecord) -> None:
        """Store a validator record and its consensus-address index."""
        self.store.set(keys.validator_key(v.operator.account), v.encode())
        self.store.set(keys.consensus_key(v.consensus_address), v.operator.account)

    def apply_power(self, operator: AccountId, power: int) -> None:
        """Record the power reported to CometBFT."""
        if power == 0:
            self.store.delete(keys.power_key(operator))
        else:
            self.store.set(keys.power_key(operator), power.to_bytes(8, "big"))

    def _next_seq(self) -> int:
        raw = self.store.get(keys.UNBONDING_SEQ)
        seq = int.from_bytes(raw, "big") if raw else 0
        self.store.set(keys.UNBONDING_SEQ, (seq + 1).to_bytes(8, "big"))
        return seq

    def _pool(self) -> Address:
        return Address(self.chain_id, keys.BONDED_POOL)

    # ---- transitions (process_*: check, then write)

    def process_create_validator(self, operator: Address, consensus_pub_key: bytes, self_stake: Amount,
                                 endpoint: str, moniker: str, *, genesis: bool = False) -> list[Event]:
        """Register a validator and move its self-stake into the pool (minted there at genesis)."""
        params = self.get_params()
        if self.get_validator(operator.account) is not None:
            raise ValidatorExistsError(f"account {operator} already operates a validator; use bond")
        if self.get_operator_by_consensus(compute_consensus_address(consensus_pub_key)) is not None:
            raise ConsensusKeyInUseError("this consensus key already belongs to a validator")
        if self_stake < params.min_self_stake:
            raise InsufficientStakeError(f"self-stake {self_stake} is below min_self_stake {params.min_self_stake}")
        bank = BankKeeper(self.root)  # type: ignore[arg-type]
        if genesis:
            bank.process_mint(keys.BONDED_POOL, self_stake)
        else:
            bank.process_send(operator, self._pool(), self_stake)
        v = ValidatorRecord(operator, consensus_pub_key, self_stake, endpoint=endpoint, moniker=moniker)
        self.apply_validator(v)
        return [Event.of("create_validator", operator=operator, consensus_address=v.consensus_address.hex().upper(),
                         endpoint=endpoint, moniker=moniker),
                Event.of("bond", operator=operator, amount=self_stake, bonded=self_stake)]

    def process_bond(self, operator: Address, amount: Amount) -> list[Event]:
        """Move amount from the operator's balance into its bonded stake."""
        v = self.require_validator(operator.account)
        BankKeeper(self.root).process_send(operator, self._pool(), amount)  # type: ignore[arg-type]
        v = replace(v, bonded=Amount(v.bonded + amount))
        self.apply_validator(v)
        return [Event.of("bond", operator=operator, amount=amount, bonded=v.bonded)]

    def process_unbond(self, operator: Address, amount: Amount, height: Height, time_ns: int) -> list[Event]:
        """Turn amount of bonded stake into an unbonding entry maturing after unbonding_blocks and
        unbonding_time_ns of consensus time (time_ns is the block's BFT time), whichever comes later."""
        v = self.require_validator(operator.account)
        if amount > v.bonded:
            raise InsufficientStakeError(f"cannot unbond {amount}: {v.bonded} bonded")
        params = self.get_params()
        complete = compute_unbonding_complete(height, params)
        entry = UnbondingEntry(operator, amount, complete, height, time_ns, time_ns + params.unbonding_time_ns)
        self.store.set(keys.unbonding_key(operator.account, complete, self._next_seq()), entry.encode())
        v = replace(v, bonded=Amount(v.bonded - amount), unbonding=Amount(v.unbonding + amount))
        self.apply_validator(v)
        return [Event.of("unbond", operator=operator, amount=amount, bonded=v.bonded, complete_height=complete,
                         complete_time_ns=entry.complete_time_ns)]

    def process_withdraw(self, operator: Address, height: Height, time_ns: int) -> list[Event]:
        """Pay every matured unbonding entry (height and consensus time both reached) back to the operator."""
        v = self.require_validator(operator.account)
        matured = [(k, e) for k, e in self._entries(operator.account) if e.is_matured(height, time_ns)]
        if not matured:
            raise NothingToWithdrawError(
                f"no unbonding entry of {operator} has matured by height {height} and block time {time_ns} ns"
            )
        total = Amount(sum(e.amount for _, e in matured))
        for k, _ in matured:
            self.store.delete(k)
        BankKeeper(self.root).process_send(self._pool(), operator, total)  # type: ignore[arg-type]
        self.apply_validator(replace(v, unbonding=Amount(v.unbonding - total)))
        return [Event.of("withdraw", operator=operator, amount=total, entries=len(matured))]

    def process_unjail(self, operator: Address, height: Height) -> list[Event]:
        """Leave jail once the term is over."""
        v = self.require_validator(operator.account)
        if not v.is_jailed:
            raise NotJailedError(f"validator {operator} is not jailed")
        if height < v.jailed_until:
            raise StillJailedError(f"validator {operator} is jailed until height {v.jailed_until}")
        self.apply_validator(replace(v, jailed_until=Height(0)))
        return [Event.of("unjail", operator=operator)]

    def _entries(self, operator: AccountId) -> list[tuple[bytes, UnbondingEntry]]:
        return [(k, UnbondingEntry.decode(raw))
                for k, raw in self.store.iter_prefix(keys.unbonding_prefix(operator))]

    def process_take_stake(self, operator: AccountId, amount: Amount) -> Amount:
        """Take up to amount of the validator's stake, bonded first, then unbonding entries earliest first.

        The coins stay in the pool; the caller burns them or pays them out. Returns what was taken.
        """
        v = self.require_validator(operator)
        want = min(amount, v.backing)
        from_bonded = min(want, v.bonded)
        rest = want - from_bonded
        from_unbonding = 0
        for k, e in self._entries(operator):
            if rest == 0:
                break
            cut = min(rest, e.amount)
            rest -= cut
            from_unbonding += cut
            if cut == e.amount:
                self.store.delete(k)
            else:
                self.store.set(k, replace(e, amount=Amount(e.amount - cut)).encode())
        taken = Amount(from_bonded + from_unbonding)
        self.apply_validator(replace(v, bonded=Amount(v.bonded - from_bonded),
                                     unbonding=Amount(v.unbonding - from_unbonding),
                                     slashed=Amount(v.slashed + taken)))
        return taken

    def process_slash(self, operator: AccountId, fraction_ppm: int, reason: str, height: Height) -> list[Event]:
        """Burn fraction_ppm of the validator's backing stake."""
        v = self.require_validator(operator)
        amount = self.process_take_stake(operator, compute_slash_amount(v.backing, fraction_ppm))
        events = [Event.of("slash", operator=v.operator, amount=amount, reason=reason, height=height)]
        if amount:
            events.extend(BankKeeper(self.root).process_burn(keys.BONDED_POOL, amount))  # type: ignore[arg-type]
        return events

    def process_payout(self, operator: AccountId, amount: Amount, beneficiary: Address, reason: str) -> tuple[Amount, list[Event]]:
        """Pay up to amount from the validator's stake to beneficiary; returns what was paid."""
        paid = self.process_take_stake(operator, amount)
        if paid:
            BankKeeper(self.root).process_send(self._pool(), beneficiary, paid)  # type: ignore[arg-type]
        v = self.require_validator(operator)
        return paid, [Event.of("payout", underwriter=v.operator, beneficiary=beneficiary, amount=paid,
                               owed=amount, reason=reason)]

    def process_jail(self, operator: AccountId, until: Height, reason: str) -> list[Event]:
        """Jail a validator until height `until` (a later term wins over an earlier one)."""
        v = self.require_validator(operator)
        until = Height(max(until, v.jailed_until))
        self.apply_validator(replace(v, jailed_until=until))
        return [Event.of("jail", operator=v.operator, until=until, reason=reason)]

    # ---- block hooks

    def process_misbehavior(self, block: BlockInfo) -> list[Event]:
        """Slash and jail every validator CometBFT reports evidence against."""
        params = self.get_params()
        events: list[Event] = []
        for m in block.misbehavior:
            operator = self.get_operator_by_consensus(m.address)
            if operator is None:
                continue
            reason = "duplicate_vote" if m.kind == 1 else "light_client_attack"
            events.extend(self.process_slash(operator, params.slash_fraction_double_sign_ppm, reason, block.height))
            events.extend(self.process_jail(operator, Height(block.height + params.jail_blocks), reason))
        return events

    def process_votes(self, block: BlockInfo) -> list[Event]:
        """Count missed blocks of the last commit; jail (and slash) validators over the downtime limit."""
        params = self.get_params()
        events: list[Event] = []
        for vote in block.votes:
            operator = self.get_operator_by_consensus(vote.address)
            if operator is None:
                continue
            v = self.require_validator(operator)
            if v.is_jailed:
                continue  # a jailed validator stays in the commit for two more heights
            info = self.get_signing_info(operator)
            if info.window_start == 0 or block.height - info.window_start >= params.downtime_window:
                info = replace(info, window_start=block.height, missed_in_window=0)
            if not vote.signed:
                info = replace(info, missed_in_window=info.missed_in_window + 1, total_missed=info.total_missed + 1)
            if is_downtime_jailable(info.missed_in_window, params):
                events.extend(self.process_slash(operator, params.slash_fraction_downtime_ppm, "downtime", block.height))
                events.extend(self.process_jail(operator, Height(block.height + params.jail_blocks), "downtime"))
                info = replace(info, window_start=Height(0), missed_in_window=0, jail_count=info.jail_count + 1)
            self.store.set(keys.signing_key(operator), info.encode(v.operator))
        return events

    def process_validator_updates(self) -> tuple[list[ValidatorUpdate], list[Event]]:
        """The power changes since the last report; never empties the set."""
        params = self.get_params()
        validators = list(self.get_validators())
        if not validators:
            return [], []
        target = compute_active_set(
            [(v.operator.account, compute_power(v, params)) for v in validators], params.max_validators
        )
        if not any(target.values()):
            # CometBFT halts with an empty set: keep the current powers until someone bonds again.
            return [], [Event.of("validator_set_kept", reason="every validator would have power 0")]
        updates, events = [], []
        for v in validators:
            new, old = target[v.operator.account], self.get_power(v.operator.account)
            if new != old:
                self.apply_power(v.operator.account, new)
                updates.append(ValidatorUpdate(v.consensus_pub_key, new))
                events.append(Event.of("validator_power", operator=v.operator, power=new, previous=old))
        return updates, events
