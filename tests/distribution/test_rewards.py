"""The reward split: exact, by the power that signed, nothing for the absent or jailed; withdrawal; inflation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distpos_abci.address import parse_address
from distpos_abci.bank import BankKeeper, build_send_tx
from distpos_abci.distribution import (
    REWARDS_POOL,
    DistributionKeeper,
    build_withdraw_rewards_tx,
    compute_mint,
    compute_reward_split,
)
from distpos_abci.distribution.msgs import MsgWithdrawRewards
from distpos_abci.errors import InvalidParamsError, NoRewardsError, SignerMismatchError
from distpos_abci.fees import build_paid_tx
from distpos_abci.gen.distpos.v1 import tx_pb2
from distpos_abci.gov.module import GovModule
from distpos_abci.module import TxContext
from distpos_abci.staking import StakingKeeper
from distpos_abci.types import MAX_AMOUNT, AccountId
from tests.distribution.helpers import PRICE, block, fee_genesis, operator
from tests.helpers import CHAIN, AppHarness, addr, key

PAYER = 4


def make(tmp_path, inflation: int = 0) -> AppHarness:
    h = AppHarness(tmp_path / "db")
    h.app.init_chain(CHAIN, fee_genesis({1: 100_000, 2: 100_000, PAYER: 1_000_000}, inflation=inflation))
    block(h.app)
    return h


def rewards(app, *validators: int) -> list[int]:
    keeper = DistributionKeeper(app.state, CHAIN)
    return [keeper.get_rewards(operator(i)) for i in validators]


def pay(app, i: int, raw: bytes) -> bytes:
    return build_paid_tx(key(i), raw, gas_price=PRICE)


def build_fee(raw: bytes) -> int:
    return tx_pb2.TxBody.FromString(tx_pb2.Tx.FromString(raw).body).fee


def assert_pool_backs_every_claim(app) -> None:
    keeper = DistributionKeeper(app.state, CHAIN)
    owed = sum(r for _, r in keeper.iter_rewards()) + keeper.get_remainder()
    assert BankKeeper(app.state).get_balance(REWARDS_POOL) == owed


@given(st.integers(0, MAX_AMOUNT), st.lists(st.integers(0, 10**12), max_size=20))
def test_split_is_exact_and_never_pays_more_than_a_share(amount, powers):
    weights = [(AccountId(i.to_bytes(20, "big")), p) for i, p in enumerate(powers)]
    split = compute_reward_split(amount, weights)
    assert sum(s for _, s in split.shares) + split.remainder == amount
    total = sum(powers)
    for (_, share), (_, w) in zip(split.shares, [x for x in weights if x[1] > 0]):
        assert share * total <= amount * w  # never above its exact proportion
    if total and amount:
        assert split.remainder < len(split.shares)  # each share rounds down by less than one unit


@given(st.integers(0, MAX_AMOUNT), st.integers(0, MAX_AMOUNT))
def test_mint_never_overflows_the_supply(supply, inflation):
    minted = compute_mint(supply, inflation)
    assert 0 <= minted <= inflation and supply + minted <= MAX_AMOUNT


def test_absent_and_jailed_validators_earn_nothing_for_the_blocks_they_missed(tmp_path):
    h = make(tmp_path)
    app = h.app
    raw = pay(app, PAYER, build_send_tx(key(PAYER), CHAIN, 0, addr(6), 1))
    block(app, raw, signers=(1, 3))  # the fees of this block go to whoever signed it...
    block(app, signers=(1, 3))  # ...split here: validator 2 did not sign
    fee = DistributionKeeper(app.state, CHAIN).get_pool_balance()
    assert rewards(app, 1, 2, 3) == [fee * 3 // 4, 0, fee * 1 // 4]
    assert_pool_backs_every_claim(app)
    h.db.close()


def test_jailed_validator_earns_nothing_even_when_its_vote_is_counted(tmp_path):
    """CometBFT keeps a jailed validator in the commits of the next two heights: its signature pays nothing."""
    h = make(tmp_path)
    app = h.app
    for _ in range(7):  # validator 3 misses more than the downtime window allows (10 - 5): jailed
        block(app, signers=(1, 2))
    assert StakingKeeper(app.state).require_validator(operator(3)).is_jailed
    before = rewards(app, 3)
    raw = pay(app, PAYER, build_send_tx(key(PAYER), CHAIN, 0, addr(6), 1))
    block(app, raw, signers=(1, 2, 3))
    block(app, signers=(1, 2, 3))  # validator 3's vote is in the commit, but it is jailed
    assert rewards(app, 3) == before and rewards(app, 1)[0] > 0
    assert_pool_backs_every_claim(app)
    h.db.close()


def test_remainder_is_carried_not_lost(tmp_path):
    h = make(tmp_path)
    app = h.app
    raw = pay(app, PAYER, build_send_tx(key(PAYER), CHAIN, 0, addr(6), 1))
    block(app, raw)
    block(app, signers=())  # nobody signed (as at height 1): everything waits in the remainder
    keeper = DistributionKeeper(app.state, CHAIN)
    fee = keeper.get_pool_balance()
    assert keeper.get_remainder() == fee and rewards(app, 1, 2, 3) == [0, 0, 0]
    block(app, signers=(1, 2, 3))
    assert sum(rewards(app, 1, 2, 3)) + keeper.get_remainder() == fee
    assert keeper.get_remainder() < 6  # at most total power - 1 base units wait for the next block
    assert_pool_backs_every_claim(app)
    h.db.close()


def test_operator_withdraws_its_rewards_and_only_its_own(tmp_path):
    h = make(tmp_path)
    app = h.app
    block(app, pay(app, PAYER, build_send_tx(key(PAYER), CHAIN, 0, addr(6), 1)))
    block(app)
    owed = rewards(app, 1)[0]
    assert owed > 0
    supply = app.query_status().total_supply
    balance = app.query_account(addr(1)).balance
    raw = pay(app, 1, build_withdraw_rewards_tx(key(1), CHAIN, 0))
    result = block(app, raw)  # its begin_block split nothing new: the block before carried no fees
    assert result.tx_results[0].ok
    withdrawn = [e for e in result.tx_results[0].events if e.type == "withdraw_rewards"]
    assert dict(withdrawn[0].attributes)["amount"] == str(owed)
    fee = build_fee(raw)
    assert rewards(app, 1)[0] == 0 and app.query_account(addr(1)).balance == balance + owed - fee
    assert app.query_status().total_supply == supply
    again = block(app, pay(app, 2, build_withdraw_rewards_tx(key(2), CHAIN, 0)), signers=())
    assert again.tx_results[0].ok  # validator 2 had its own
    nothing = block(app, pay(app, PAYER, build_withdraw_rewards_tx(key(PAYER), CHAIN, 1)))
    assert nothing.tx_results[0].code == NoRewardsError.code  # not a validator: nothing accrued
    assert_pool_backs_every_claim(app)
    h.db.close()


def test_withdraw_for_another_operator_is_refused():
    with pytest.raises(SignerMismatchError):
        MsgWithdrawRewards(parse_address(addr(1))).validate_basic(CHAIN, operator(2))


def test_inflation_is_minted_exactly_and_shows_in_supply(tmp_path):
    h = make(tmp_path, inflation=1_000)
    app = h.app
    keeper = DistributionKeeper(app.state, CHAIN)
    supply, minted = app.query_status().total_supply, keeper.get_minted()
    for _ in range(3):
        block(app)
    assert keeper.get_minted() == minted + 3_000
    assert app.query_status().total_supply == supply + 3_000
    assert_pool_backs_every_claim(app)
    h.db.close()


def test_governance_changes_inflation_and_refuses_a_bad_value(tmp_path):
    h = make(tmp_path)
    module = next(m for m in h.app.modules if m.name == "distribution")
    hooks = next(m for m in h.app.modules if isinstance(m, GovModule)).get_params_modules()
    assert "distribution" in hooks
    ctx = TxContext(CHAIN, 2, 0, b"", b"", b"", check=False)
    module.process_params_json(h.app.check, ctx, '{"inflation_per_block": 7}')
    assert DistributionKeeper(h.app.check, CHAIN).get_params().inflation_per_block == 7
    with pytest.raises(InvalidParamsError):
        module.process_params_json(h.app.check, ctx, '{"inflation_per_block": -1}')
    h.db.close()
