"""distribution keeper: fee collection, the per-block reward split, accrued rewards and their withdrawal.

Coins move only through the bank keeper, between three places: the payer (fees), FEE_COLLECTOR (this block's
fees) and REWARDS_POOL (accrued rewards + remainder). Inflation is the only mint and is counted in MINTED.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from ..address import Address
from ..bank import BankKeeper
from ..bank.keeper import decode_amount, encode_amount
from ..errors import InsufficientFeeFundsError, NoRewardsError
from ..events import Event
from ..module import BlockInfo
from ..staking import StakingKeeper
from ..store.kv import KVReader, KVStore, PrefixStore
from ..types import MAX_AMOUNT, AccountId, Amount, ChainId, Height
from . import keys
from .params import DistributionParams


@dataclass(frozen=True, slots=True)
class RewardSplit:
    """How one block's distributable amount was divided: shares by operator (in order) and what is left."""

    shares: tuple[tuple[AccountId, Amount], ...]
    remainder: Amount


# ---- pure rules ---------------------------------------------------------------------------------------------


def compute_reward_split(amount: int, weights: list[tuple[AccountId, int]]) -> RewardSplit:
    """Split amount in proportion to the weights (voting power that signed), rounding every share down; the
    remainder is what rounding left (all of amount when no weight is positive). Exact: sum(shares) + remainder
    == amount, and no share exceeds its exact proportion."""
    total = sum(w for _, w in weights if w > 0)
    if total == 0 or amount == 0:
        return RewardSplit((), Amount(amount))
    shares = tuple((op, Amount(amount * w // total)) for op, w in weights if w > 0)
    return RewardSplit(shares, Amount(amount - sum(s for _, s in shares)))


def compute_mint(supply: int, inflation: int) -> int:
    """What a block may mint: the inflation, capped so the supply stays a uint64."""
    return max(0, min(inflation, MAX_AMOUNT - supply))


def validate_fee_funds(balance: int, fee: int) -> None:
    """Raise InsufficientFeeFundsError unless balance pays fee."""
    if fee > balance:
        raise InsufficientFeeFundsError(f"balance {balance} cannot pay the fee {fee}")


# ---- keeper --------------------------------------------------------------------------------------------------


class DistributionKeeper:
    """Reads and writes the distribution prefix; moves coins only through the bank keeper."""

    def __init__(self, store: KVStore | KVReader, chain_id: str = "") -> None:
        self.root = store
        self.store = PrefixStore(store, keys.PREFIX)  # type: ignore[arg-type]
        self.chain_id = ChainId(chain_id)

    # ---- reads

    def get_params(self) -> DistributionParams:
        """The stored parameters (defaults before genesis)."""
        raw = self.store.get(keys.PARAMS)
        return DistributionParams.from_json(json.loads(raw)) if raw else DistributionParams()

    def get_rewards(self, operator: AccountId) -> Amount:
        """Rewards accrued by the validator operated by operator and not withdrawn."""
        return decode_amount(self.store.get(keys.rewards_key(operator)))

    def iter_rewards(self) -> Iterator[tuple[AccountId, Amount]]:
        """Every (operator, accrued rewards), ordered by operator account."""
        for key, raw in self.store.iter_prefix(keys.REWARDS):
            yield AccountId(key[len(keys.REWARDS):]), decode_amount(raw)

    def get_remainder(self) -> Amount:
        """The undistributed remainder carried to the next block."""
        return decode_amount(self.store.get(keys.REMAINDER))

    def get_minted(self) -> Amount:
        """Everything inflation minted since genesis."""
        return decode_amount(self.store.get(keys.MINTED))

    def get_collected(self) -> Amount:
        """Fees paid in the current block so far (the fee collector's balance)."""
        return BankKeeper(self.root).get_balance(keys.FEE_COLLECTOR)  # type: ignore[arg-type]

    def get_pool_balance(self) -> Amount:
        """The rewards pool account's balance."""
        return BankKeeper(self.root).get_balance(keys.REWARDS_POOL)  # type: ignore[arg-type]

    # ---- writes (apply_*: no checks)

    def apply_params(self, params: DistributionParams) -> None:
        """Store parameters."""
        self.store.set(keys.PARAMS, params.encode())

    def _set_amount(self, key: bytes, amount: int) -> None:
        if amount == 0:
            self.store.delete(key)
        else:
            self.store.set(key, encode_amount(amount))

    # ---- transitions (process_*: check, then write)

    def process_fee(self, payer: AccountId, fee: int, payer_balance: Amount | None = None) -> list[Event]:
        """Move a transaction's fee from payer into the fee collector (InsufficientFeeFundsError first, no write).
        payer_balance: the payer's balance in this store when the caller has just read it."""
        if fee == 0:
            return []
        bank = BankKeeper(self.root)  # type: ignore[arg-type]
        if payer_balance is None:
            payer_balance = bank.get_balance(payer)
        validate_fee_funds(payer_balance, fee)
        bank.process_transfer(payer, keys.FEE_COLLECTOR, Amount(fee), payer_balance)
        return [Event.of("fee", payer=Address(self.chain_id, payer), amount=fee)]

    def process_block_rewards(self, block: BlockInfo) -> list[Event]:
        """At the start of a block: move the last block's fees and this block's inflation into the pool and split
        them, with the carried remainder, among the validators that signed the last block, by the power they
        signed with. Absent (not signed), jailed and unknown validators get nothing; their part stays in the
        remainder."""
        bank = BankKeeper(self.root)  # type: ignore[arg-type]
        pool = Address(self.chain_id, keys.REWARDS_POOL)
        collected = bank.get_balance(keys.FEE_COLLECTOR)
        if collected:
            bank.process_send(Address(self.chain_id, keys.FEE_COLLECTOR), pool, collected)
        minted = compute_mint(bank.get_supply(), self.get_params().inflation_per_block)
        if minted:
            bank.process_mint(keys.REWARDS_POOL, Amount(minted))
            self._set_amount(keys.MINTED, self.get_minted() + minted)
        amount = self.get_remainder() + collected + minted
        if amount == 0:
            return []
        split = compute_reward_split(amount, self._signed_weights(block))
        for operator, share in split.shares:
            if share:
                self._set_amount(keys.rewards_key(operator), self.get_rewards(operator) + share)
        self._set_amount(keys.REMAINDER, split.remainder)
        return [Event.of("rewards", height=block.height, fees=collected, minted=minted,
                         distributed=amount - split.remainder, remainder=split.remainder,
                         validators=sum(1 for _, s in split.shares if s))]

    def _signed_weights(self, block: BlockInfo) -> list[tuple[AccountId, int]]:
        """(operator, power) of every vote of the decided last commit that signed, by a known, unjailed validator,
        ordered by operator account (one entry per operator)."""
        staking = StakingKeeper(self.root)
        weights: dict[AccountId, int] = {}
        for vote in block.votes:
            if not vote.signed or vote.power <= 0:
                continue
            operator = staking.get_operator_by_consensus(vote.address)
            if operator is None:
                continue
            v = staking.get_validator(operator)
            if v is None or v.is_jailed:
                continue
            weights[operator] = vote.power
        return sorted(weights.items())

    def process_withdraw_rewards(self, operator: Address, height: Height) -> list[Event]:
        """Pay the validator's accrued rewards from the pool to its operator."""
        amount = self.get_rewards(operator.account)
        if amount == 0:
            raise NoRewardsError(f"validator {operator} has no rewards to withdraw at height {height}")
        self.store.delete(keys.rewards_key(operator.account))
        BankKeeper(self.root).process_send(Address(self.chain_id, keys.REWARDS_POOL), operator, amount)  # type: ignore[arg-type]
        return [Event.of("withdraw_rewards", operator=operator, amount=amount)]
