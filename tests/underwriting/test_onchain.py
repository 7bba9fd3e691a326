"""Underwriting on chain, as vectors: carriers release or pay, claims pay once, bad guarantees each get their code."""

from __future__ import annotations

import dataclasses

import pytest

from distpos_abci.bank import build_send_tx
from distpos_abci.errors import (
    DuplicateTxError,
    LapsedTxError,
    ClaimWindowClosedError,
    ExpiredGuaranteeError,
    ForgedGuaranteeError,
    GuaranteeLifetimeError,
    GuaranteeMismatchError,
    InvalidEvidenceError,
    NotClaimableError,
    OverCapacityGuaranteeError,
    ReplayedGuaranteeError,
    UnknownValidatorError,
)
from distpos_abci.staking import StakingKeeper, build_unbond_tx
from distpos_abci.tx import compute_tx_hash
from distpos_abci.underwriting import (
    PAID,
    RELEASED,
    UnderwritingKeeper,
    build_capacity_evidence_tx,
    build_claim_tx,
    build_underwritten_tx,
)
from tests.staking.helpers import CHAIN, Chain, addr, codes, key, staking_genesis
from tests.underwriting.helpers import guarantee, operator

CARRIER = key(9)  # any account may carry guarantees: it needs no balance


@pytest.fixture
def chain(harness):
    """Validators 1 (stake 1000) and 2 (stake 500); client 3 holds 1000; height 1."""
    harness.app.init_chain(CHAIN, staking_genesis({3: 1000}, {1: 1000, 2: 500}))
    c = Chain(harness)
    c.block()
    c.carrier_nonce = 0
    return c


def carry(chain, raw, gs):
    tx = build_underwritten_tx(CARRIER, CHAIN, chain.carrier_nonce, raw, gs)
    chain.carrier_nonce += 1
    return tx


def bal(chain, i):
    return chain.app.query_account(addr(i)).balance


def stake(chain, i):
    return StakingKeeper(chain.app.state, CHAIN).get_validator(operator(i).account)


def settlement(chain, raw):
    return UnderwritingKeeper(chain.app.state, CHAIN).get_settlement(compute_tx_hash(raw))


def test_carried_tx_executes_and_releases(chain):
    raw = build_send_tx(key(3), CHAIN, 0, addr(4), 100)
    res = chain.block(carry(chain, raw, [guarantee(1, raw, 100, addr(4))]))
    assert codes(res) == [0]
    types = [e.type for e in res.tx_results[0].events]
    assert types == ["tx", "underwritten_tx", "tx", "transfer", "guarantee_release"]
    assert (bal(chain, 3), bal(chain, 4)) == (900, 100)
    assert stake(chain, 1).bonded == 1000
    assert settlement(chain, raw).outcome == RELEASED


def test_double_spend_pays_beneficiary_from_stake_once(chain):
    raw = build_send_tx(key(3), CHAIN, 0, addr(4), 100)
    spend = build_send_tx(key(3), CHAIN, 0, addr(5), 1000)  # same nonce: the double spend
    g = [guarantee(1, raw, 100, addr(4))]
    supply = chain.app.query_status().total_supply
    res = chain.block(spend, carry(chain, raw, g))
    assert codes(res) == [0, 0]
    assert "payout" in [e.type for e in res.tx_results[1].events]
    assert (bal(chain, 3), bal(chain, 4), bal(chain, 5)) == (0, 100, 1000)
    assert stake(chain, 1).bonded == 900 and stake(chain, 1).slashed == 100
    assert settlement(chain, raw).outcome == PAID and settlement(chain, raw).amount == 100
    assert chain.app.query_status().total_supply == supply
    # Neither a second carrier nor a claim pays again.
    assert codes(chain.block(carry(chain, raw, g))) == [ReplayedGuaranteeError.code]
    assert codes(chain.block(build_claim_tx(CARRIER, CHAIN, chain.carrier_nonce, g))) == [ReplayedGuaranteeError.code]
    assert bal(chain, 4) == 100


def test_co_underwritten_failure_pays_each_share(chain):
    raw = build_send_tx(key(3), CHAIN, 0, addr(4), 1200)  # more than the client has: fails
    gs = [guarantee(1, raw, 800, addr(4), total=1200), guarantee(2, raw, 400, addr(4), total=1200)]
    res = chain.block(carry(chain, raw, gs))
    assert codes(res) == [0]
    assert bal(chain, 4) == 1200 and bal(chain, 3) == 1000
    assert (stake(chain, 1).bonded, stake(chain, 2).bonded) == (200, 100)


def test_unbonding_stake_still_pays(chain):
    chain.block(build_unbond_tx(key(1), CHAIN, 0, 1000))
    raw = build_send_tx(key(3), CHAIN, 0, addr(4), 5000)
    res = chain.block(carry(chain, raw, [guarantee(1, raw, 300, addr(4), total=300, expiry=6, issued=2)]))
    # The send pays 5000 but the guarantee covers 300: a mismatch, nothing happens.
    assert codes(res) == [GuaranteeMismatchError.code]
    raw = build_send_tx(key(3), CHAIN, 0, addr(4), 1001)
    res = chain.block(carry(chain, raw, [guarantee(1, raw, 1001, addr(4), expiry=6, issued=2)]))
    assert codes(res) == [OverCapacityGuaranteeError.code]
    raw = build_send_tx(key(3), CHAIN, 0, addr(4), 2000)
    res = chain.block(carry(chain, raw, [guarantee(1, raw, 2000 - 1000, addr(4), total=2000, expiry=6, issued=2),
                                          guarantee(2, raw, 1000, addr(4), total=2000, expiry=6, issued=2)]))
    assert codes(res) == [OverCapacityGuaranteeError.code]  # validator 2 has only 500
    raw = build_send_tx(key(3), CHAIN, 0, addr(4), 1100)
    res = chain.block(carry(chain, raw, [guarantee(1, raw, 1000, addr(4), total=1100, expiry=7, issued=3),
                                          guarantee(2, raw, 100, addr(4), total=1100, expiry=7, issued=3)]))
    assert codes(res) == [0]
    v = stake(chain, 1)
    assert (v.bonded, v.unbonding) == (0, 0) and bal(chain, 4) == 1100


@pytest.mark.parametrize("make, err", [
    (lambda raw: [dataclasses.replace(guarantee(1, raw, 100, addr(4)), expiry_height=4)], ForgedGuaranteeError),
    (lambda raw: [guarantee(1, raw, 100, addr(4), signer=2)], ForgedGuaranteeError),
    (lambda raw: [guarantee(1, raw, 100, addr(4), chain="a1b2")], GuaranteeMismatchError),
    (lambda raw: [guarantee(1, raw, 100, addr(5))], GuaranteeMismatchError),
    (lambda raw: [guarantee(1, raw, 60, addr(4), total=100)], GuaranteeMismatchError),
    (lambda raw: [guarantee(1, raw, 50, addr(4), total=100), guarantee(1, raw, 50, addr(4), total=100)],
     GuaranteeMismatchError),
    (lambda raw: [guarantee(1, build_send_tx(key(3), CHAIN, 1, addr(4), 100), 100, addr(4))], GuaranteeMismatchError),
    (lambda raw: [guarantee(1, raw, 100, addr(4), expiry=1)], ExpiredGuaranteeError),
    (lambda raw: [guarantee(1, raw, 100, addr(4), expiry=9, issued=1)], GuaranteeLifetimeError),
    (lambda raw: [guarantee(1, raw, 1001, addr(4), total=1001)], GuaranteeMismatchError),
    (lambda raw: [guarantee(7, raw, 100, addr(4))], UnknownValidatorError),
])
def test_invalid_guarantees_are_rejected_with_their_code(chain, make, err):
    raw = build_send_tx(key(3), CHAIN, 0, addr(4), 100)
    before = (bal(chain, 3), bal(chain, 4), stake(chain, 1).bonded)
    res = chain.block(carry(chain, raw, make(raw)))  # height 2
    assert codes(res) == [err.code]
    assert (bal(chain, 3), bal(chain, 4), stake(chain, 1).bonded) == before
    assert settlement(chain, raw) is None


def test_invalid_over_capacity_share(chain):
    raw = build_send_tx(key(3), CHAIN, 0, addr(4), 900)
    res = chain.block(carry(chain, raw, [guarantee(2, raw, 900, addr(4))]))
    assert codes(res) == [OverCapacityGuaranteeError.code]


def test_claim_after_expiry_pays_once_and_window_closes(chain):
    raw = build_send_tx(key(3), CHAIN, 0, addr(4), 100)  # never broadcast
    g = [guarantee(1, raw, 100, addr(4), expiry=3)]
    n = 0
    assert codes(chain.block(build_claim_tx(CARRIER, CHAIN, n, g))) == [NotClaimableError.code]  # height 2
    chain.block()  # 3
    assert codes(chain.block(build_claim_tx(CARRIER, CHAIN, n + 1, g))) == [0]  # height 4 > expiry
    assert bal(chain, 4) == 100 and stake(chain, 1).bonded == 900
    assert codes(chain.block(build_claim_tx(CARRIER, CHAIN, n + 2, g))) == [ReplayedGuaranteeError.code]
    late = [guarantee(2, raw, 100, addr(4), expiry=3)]  # another underwriter's guarantee of the same tx
    assert codes(chain.block(build_claim_tx(CARRIER, CHAIN, n + 3, late))) == [ReplayedGuaranteeError.code]
    # The client, paid out already, now broadcasts the original send: its receipt says it lapsed, so it never runs.
    assert chain.app.check_tx(raw).code == DuplicateTxError.code
    assert codes(chain.block(raw)) == [DuplicateTxError.code]
    assert bal(chain, 4) == 100
    assert chain.app.query_tx(compute_tx_hash(raw)).receipt.code == LapsedTxError.code


def test_claim_window_closes(chain):
    raw = build_send_tx(key(3), CHAIN, 0, addr(4), 100)
    g = [guarantee(1, raw, 100, addr(4), expiry=2)]
    while chain.app.last_height < 7:  # claims open through height 2 + 5
        chain.block()
    assert codes(chain.block(build_claim_tx(CARRIER, CHAIN, 0, g))) == [ClaimWindowClosedError.code]


def test_claim_pays_at_once_when_the_tx_failed_on_its_own(chain):
    raw = build_send_tx(key(3), CHAIN, 0, addr(4), 5000)  # insufficient funds: included, fails
    chain.block(raw)
    g = [guarantee(1, raw, 5000, addr(4), expiry=5)]
    res = chain.block(build_claim_tx(CARRIER, CHAIN, 0, g))
    # A claim pays what the underwriter still has at stake: here all of it, short of the promise.
    assert codes(res) == [0]
    assert bal(chain, 4) == 1000 and settlement(chain, raw).amount == 1000 and stake(chain, 1).backing == 0


def test_claim_on_failed_tx_within_stake(chain):
    raw = build_send_tx(key(3), CHAIN, 0, addr(4), 1500)
    chain.block(raw)
    g = [guarantee(1, raw, 1000, addr(4), total=1500), guarantee(2, raw, 500, addr(4), total=1500)]
    assert codes(chain.block(build_claim_tx(CARRIER, CHAIN, 0, g))) == [0]
    assert bal(chain, 4) == 1500


def test_claim_refused_when_tx_executed(chain):
    raw = build_send_tx(key(3), CHAIN, 0, addr(4), 100)
    chain.block(raw)
    g = [guarantee(1, raw, 100, addr(4), expiry=2)]
    chain.block(), chain.block()
    assert codes(chain.block(build_claim_tx(CARRIER, CHAIN, 0, g))) == [NotClaimableError.code]
    chain.carrier_nonce = 1
    # A carrier arriving after the tx executed on its own just releases.
    assert codes(chain.block(carry(chain, raw, [guarantee(1, raw, 100, addr(4), expiry=6, issued=2)]))) == [0]
    assert settlement(chain, raw).outcome == RELEASED and bal(chain, 4) == 100


def test_capacity_evidence_slashes_over_signing(chain):
    a = build_send_tx(key(3), CHAIN, 0, addr(4), 300)
    b = build_send_tx(key(3), CHAIN, 1, addr(5), 300)
    ga, gb = guarantee(2, a, 300, addr(4)), guarantee(2, b, 300, addr(5))
    res = chain.block(build_capacity_evidence_tx(CARRIER, CHAIN, 0, [ga, gb]))
    assert codes(res) == [0]
    v = stake(chain, 2)
    assert v.is_jailed and v.bonded == 450
    assert codes(chain.block(build_capacity_evidence_tx(CARRIER, CHAIN, 1, [ga, gb]))) == [InvalidEvidenceError.code]


@pytest.mark.parametrize("make", [
    lambda a, b: [guarantee(1, a, 300, addr(4)), guarantee(1, b, 300, addr(5))],  # within 1000
    lambda a, b: [guarantee(2, a, 300, addr(4), expiry=2), guarantee(2, b, 300, addr(5), issued=3, expiry=5)],
    lambda a, b: [guarantee(2, a, 300, addr(4)), guarantee(1, b, 300, addr(5))],
    lambda a, b: [guarantee(2, a, 300, addr(4)), guarantee(2, a, 300, addr(4))],
    lambda a, b: [guarantee(2, a, 300, addr(4)), guarantee(2, b, 300, addr(5), signer=1)],
])
def test_invalid_capacity_evidence(chain, make):
    a = build_send_tx(key(3), CHAIN, 0, addr(4), 300)
    b = build_send_tx(key(3), CHAIN, 1, addr(5), 300)
    res = chain.block(build_capacity_evidence_tx(CARRIER, CHAIN, 0, make(a, b)))
    assert codes(res)[0] in (InvalidEvidenceError.code, ForgedGuaranteeError.code)
    assert not stake(chain, 2).is_jailed and not stake(chain, 1).is_jailed


def test_check_tx_of_a_carrier_mirrors_delivery(chain):
    raw = build_send_tx(key(3), CHAIN, 0, addr(4), 100)
    assert chain.app.check_tx(carry(chain, raw, [guarantee(1, raw, 100, addr(4))])).code == 0
    assert chain.app.check_tx(build_send_tx(key(3), CHAIN, 0, addr(4), 100)).code == 11  # nonce used by the carrier

