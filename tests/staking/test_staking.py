"""Staking transitions as vectors: genesis set, create/bond/unbond/withdraw, the validator set, slashing, jailing."""

from __future__ import annotations

import pytest

from distpos_abci.bank import BankKeeper, build_send_tx
from distpos_abci.errors import (
    BadNonceError,
    GenesisError,
    InsufficientFundsError,
    InsufficientStakeError,
    InvalidStakingMsgError,
    NothingToWithdrawError,
    NotJailedError,
    SignerMismatchError,
    StillJailedError,
    UnknownValidatorError,
    ValidatorExistsError,
    ConsensusKeyInUseError,
)
from distpos_abci.staking import (
    StakingKeeper,
    build_bond_tx,
    build_create_validator_tx,
    build_unbond_tx,
    build_unjail_tx,
    build_withdraw_tx,
)
from distpos_abci.staking.keeper import compute_active_set, compute_slash_amount, is_downtime_jailable
from distpos_abci.staking.keys import BONDED_POOL
from distpos_abci.staking.params import StakingParams
from distpos_abci.tx import build_tx
from distpos_abci.gen.distpos.v1 import staking_pb2
from tests.staking.helpers import CHAIN, Chain, addr, codes, cons_key, event_types, key, staking_genesis
from distpos_abci.address import Address


def op(i: int):
    return Address.from_pub_key(CHAIN, key(i).pub_key)


@pytest.fixture
def chain(harness):
    """Validators 1 (stake 1000) and 2 (stake 500); accounts 1-3 funded; height 1."""
    _, initial = harness.app.init_chain(CHAIN, staking_genesis({1: 5000, 2: 5000, 3: 5000}, {1: 1000, 2: 500}))
    chain = Chain(harness)
    chain.initial = initial
    chain.block()
    return chain


def sk(chain) -> StakingKeeper:
    return StakingKeeper(chain.app.state, CHAIN)


def supply(chain) -> int:
    return chain.app.query_status().total_supply


def pool(chain) -> int:
    return BankKeeper(chain.app.state).get_balance(BONDED_POOL)


def test_genesis_returns_the_validator_set_and_mints_stake_into_the_pool(chain):
    assert sorted((u.pub_key, u.power) for u in chain.initial) == sorted(
        [(cons_key(1).pub_key, 10), (cons_key(2).pub_key, 5)])
    assert pool(chain) == 1500
    assert supply(chain) == 15000 + 1500
    assert sk(chain).get_power(op(1).account) == 10


def test_create_validator_moves_stake_and_adds_power(chain):
    res = chain.block(build_create_validator_tx(key(3), CHAIN, 0, cons_key(3).pub_key, 300, "127.0.0.1:9", "v3"))
    assert codes(res) == [0]
    assert [(u.pub_key, u.power) for u in res.validator_updates] == [(cons_key(3).pub_key, 3)]
    assert chain.app.query_account(addr(3)).balance == 4700
    assert pool(chain) == 1800 and supply(chain) == 16500
    types = [e.type for e in res.tx_results[0].events]
    assert types == ["tx", "create_validator", "bond"]


def test_bond_and_unbond_change_power_at_once(chain):
    res = chain.block(build_bond_tx(key(1), CHAIN, 0, 250))
    assert codes(res) == [0] and [u.power for u in res.validator_updates] == [12]
    res = chain.block(build_unbond_tx(key(1), CHAIN, 1, 1250))
    assert codes(res) == [0] and [u.power for u in res.validator_updates] == [0]
    v = sk(chain).get_validator(op(1).account)
    assert (v.bonded, v.unbonding) == (0, 1250)
    assert pool(chain) == 1750  # unbonding stake stays in the pool: slashable, backs guarantees


def test_invalid_withdraw_before_the_unbonding_time(harness):
    """Blocks alone do not mature an entry: a chain producing blocks fast (or a proposer pushing heights)
    must still wait unbonding_time_ns of consensus time, the bound other chains' trusting periods rely on."""
    params = {"unbonding_blocks": 10, "unbonding_time_ns": 25 * 1_000_000_000}
    harness.app.init_chain(CHAIN, staking_genesis({1: 5000, 2: 5000}, {1: 1000, 2: 500}, params))
    chain = Chain(harness)
    chain.block()
    chain.block(build_unbond_tx(key(2), CHAIN, 0, 200))  # height 2 at 2 s: 10 blocks -> 12, 25 s -> 27 s
    entry = sk(chain).get_unbondings(op(2).account)[0]
    assert (entry.start_height, entry.start_time_ns, entry.complete_height, entry.complete_time_ns) == \
        (2, 2 * 1_000_000_000, 12, 27 * 1_000_000_000)
    while chain.app.last_height < 11:
        chain.block()
    res = chain.block(build_withdraw_tx(key(2), CHAIN, 1))  # height 12, time 12 s: blocks passed, time not
    assert codes(res) == [NothingToWithdrawError.code]
    while chain.app.last_height < 26:
        chain.block()
    res = chain.block(build_withdraw_tx(key(2), CHAIN, 2))  # height 27, time 27 s
    assert codes(res) == [0]
    assert sk(chain).get_unbondings(op(2).account) == []


def test_invalid_zero_unbonding_time(harness):
    with pytest.raises(GenesisError, match="unbonding_time_ns"):
        harness.app.init_chain(CHAIN, staking_genesis({1: 5000}, {1: 1000}, {"unbonding_time_ns": 0}))


def test_withdraw_only_after_the_unbonding_period(chain):
    chain.block(build_unbond_tx(key(2), CHAIN, 0, 200))  # height 2, completes at 12
    res = chain.block(build_withdraw_tx(key(2), CHAIN, 1))
    assert codes(res) == [NothingToWithdrawError.code]
    while chain.app.last_height < 11:
        chain.block()
    res = chain.block(build_withdraw_tx(key(2), CHAIN, 2))  # height 12
    assert codes(res) == [0]
    assert chain.app.query_account(addr(2)).balance == 5200
    assert sk(chain).get_validator(op(2).account).unbonding == 0
    assert sk(chain).get_unbondings(op(2).account) == []
    assert supply(chain) == 16500


def test_last_validator_is_never_removed(chain):
    res = chain.block(build_unbond_tx(key(2), CHAIN, 0, 500))
    assert [u.power for u in res.validator_updates] == [0]
    res = chain.block(build_unbond_tx(key(1), CHAIN, 0, 1000))
    assert codes(res) == [0]
    assert res.validator_updates == ()
    assert "validator_set_kept" in event_types(res)
    assert sk(chain).get_power(op(1).account) == 10


def test_evidence_slashes_and_jails(chain):
    res = chain.block(evidence=(2,))
    assert {"slash", "jail", "burn", "validator_power"} <= set(event_types(res))
    v = sk(chain).get_validator(op(2).account)
    assert v.bonded == 450 and v.is_jailed and v.slashed == 50
    assert [u.power for u in res.validator_updates] == [0]
    assert supply(chain) == 16450 and pool(chain) == 1450


def test_slash_reaches_unbonding_stake(chain):
    chain.block(build_unbond_tx(key(2), CHAIN, 0, 400))  # bonded 100, unbonding 400
    chain.block(evidence=(2,))  # 10 % of 500 = 50: all from bonded
    chain.block(evidence=(2,))  # 10 % of 450 = 45: 45 from the remaining 50 bonded
    chain.block(evidence=(2,))  # 10 % of 405 = 40: 5 bonded + 35 unbonding
    v = sk(chain).get_validator(op(2).account)
    assert (v.bonded, v.unbonding, v.slashed) == (0, 365, 135)
    assert [e.amount for e in sk(chain).get_unbondings(op(2).account)] == [365]
    assert pool(chain) == 1000 + 365


def test_downtime_jails_after_too_many_missed_blocks(chain):
    # window 10, min signed 5: the 6th missed block in a window jails
    for n in range(5):
        res = chain.block(voters=(1, 2), missing=(2,))
        assert "jail" not in event_types(res)
    res = chain.block(voters=(1, 2), missing=(2,))
    assert "jail" in event_types(res)
    v = sk(chain).get_validator(op(2).account)
    assert v.is_jailed and v.bonded == 495
    assert [u.power for u in res.validator_updates] == [0]
    assert sk(chain).get_signing_info(op(2).account).jail_count == 1


def test_missed_blocks_reset_with_each_window(chain):
    for n in range(25):
        res = chain.block(voters=(1, 2), missing=(2,) if n % 2 else ())
        assert "jail" not in event_types(res)


def test_unjail_after_the_term(chain):
    chain.block(evidence=(2,))  # height 2, jailed until 7
    res = chain.block(build_unjail_tx(key(2), CHAIN, 0))
    assert codes(res) == [StillJailedError.code]
    while chain.app.last_height < 6:
        chain.block()
    res = chain.block(build_unjail_tx(key(2), CHAIN, 1))
    assert codes(res) == [0]
    assert [u.power for u in res.validator_updates] == [4]


def test_max_validators_keeps_the_largest():
    assert compute_active_set([(b"a", 5), (b"b", 7), (b"c", 5), (b"d", 0)], 2) == {b"a": 5, b"b": 7, b"c": 0, b"d": 0}


def test_pure_rules():
    assert compute_slash_amount(1001, 100_000) == 100
    p = StakingParams(downtime_window=10, min_signed_per_window=5)
    assert not is_downtime_jailable(5, p) and is_downtime_jailable(6, p)


@pytest.mark.parametrize("make_tx, err", [
    (lambda: build_create_validator_tx(key(1), CHAIN, 0, cons_key(9).pub_key, 100), ValidatorExistsError),
    (lambda: build_create_validator_tx(key(3), CHAIN, 0, cons_key(1).pub_key, 100), ConsensusKeyInUseError),
    (lambda: build_create_validator_tx(key(3), CHAIN, 0, cons_key(3).pub_key, 99), InsufficientStakeError),
    (lambda: build_create_validator_tx(key(3), CHAIN, 0, cons_key(3).pub_key, 9000), InsufficientFundsError),
    (lambda: build_create_validator_tx(key(3), CHAIN, 0, b"short", 100), InvalidStakingMsgError),
    (lambda: build_create_validator_tx(key(3), CHAIN, 0, cons_key(3).pub_key, 100, "no-port"), InvalidStakingMsgError),
    (lambda: build_bond_tx(key(3), CHAIN, 0, 10), UnknownValidatorError),
    (lambda: build_bond_tx(key(1), CHAIN, 0, 0), InvalidStakingMsgError),
    (lambda: build_unbond_tx(key(2), CHAIN, 0, 501), InsufficientStakeError),
    (lambda: build_unjail_tx(key(1), CHAIN, 0), NotJailedError),
    (lambda: build_tx(key(3), CHAIN, 0, "bond", staking_pb2.MsgBond(operator_address=addr(1), amount=5)),
     SignerMismatchError),
])
def test_invalid_staking_messages(chain, make_tx, err):
    before = (pool(chain), supply(chain))
    res = chain.block(make_tx())
    assert codes(res) == [err.code]
    assert (pool(chain), supply(chain)) == before
    assert chain.app.check_tx(make_tx()).code in (err.code, BadNonceError.code)  # the same bytes never run twice


@pytest.mark.parametrize("params", [{"power_reduction": 0}, {"slash_fraction_downtime_ppm": 1_000_001},
                                    {"downtime_window": 3, "min_signed_per_window": 4}, {"jail_blocks": 1.5},
                                    {"nonsense": 1}])
def test_invalid_genesis_params(harness, params):
    with pytest.raises(GenesisError):
        harness.app.init_chain(CHAIN, staking_genesis({1: 10}, {}, params=params))


def test_send_from_pool_is_impossible(chain):
    # Nobody holds the pool's key: a transfer "from" it can only come from the staking keeper.
    res = chain.block(build_send_tx(key(1), CHAIN, 0, str(Address(CHAIN, BONDED_POOL)), 5))
    assert codes(res) == [0] and pool(chain) == 1505
