"""Underwriting on chain, as vectors: guarantees settle by what the payer's nonce did, payouts come from the
payer's collateral first, each share settles once, bad guarantees each get their code.

The `test_attack_*` tests are the attacks of issue 7 written as attacks; each paid the beneficiary twice or drained
a validator's stake on the code before this design.
"""

from __future__ import annotations

import dataclasses

import pytest

from distpos_abci.address import Address
from distpos_abci.bank import BankKeeper, build_send_tx
from distpos_abci.errors import (
    BadNonceError,
    ClaimWindowClosedError,
    CollateralLockedError,
    ExpiredGuaranteeError,
    ForgedGuaranteeError,
    GuaranteeLifetimeError,
    GuaranteeMismatchError,
    InvalidEvidenceError,
    NotClaimableError,
    ReplayedGuaranteeError,
    UnknownValidatorError,
)
from distpos_abci.staking import StakingKeeper
from distpos_abci.tx import compute_tx_hash
from distpos_abci.underwriting import (
    COLLATERAL_POOL,
    PAID,
    RELEASED,
    UnderwritingKeeper,
    build_capacity_evidence_tx,
    build_claim_tx,
    build_collateral_tx,
    build_underwritten_tx,
)
from tests.staking.helpers import CHAIN, Chain, addr, codes, key, staking_genesis
from tests.underwriting.helpers import guarantee, operator

CARRIER = key(9)  # any account may carry guarantees: it needs no balance
PAYER = 3


@pytest.fixture
def chain(harness):
    """Validators 1 (stake 1000) and 2 (stake 500); client 3 holds 3000 and locks 1000 with validator 1;
    height 2 after the deposit."""
    harness.app.init_chain(CHAIN, staking_genesis({3: 3000}, {1: 1000, 2: 500}))
    c = Chain(harness)
    c.block()
    c.payer_nonce = 0
    c.signed = {}
    assert codes(c.block(deposit(c, 1, 1000))) == [0]
    c.carrier_nonce = 0
    return c


def deposit(chain, validator, amount, action="deposit"):
    raw = build_collateral_tx(key(PAYER), CHAIN, chain.payer_nonce, action, str(operator(validator)), amount)
    chain.payer_nonce += 1
    return raw


def send(chain, to, amount, memo="", nonce=None):
    raw = build_send_tx(key(PAYER), CHAIN, chain.payer_nonce if nonce is None else nonce, addr(to), amount, memo)
    chain.signed[compute_tx_hash(raw)] = raw
    return raw


def carry(chain, raw, gs):
    tx = build_underwritten_tx(CARRIER, CHAIN, chain.carrier_nonce, raw, gs)
    chain.carrier_nonce += 1
    return tx


def claim(chain, gs, raw=None):
    """A claim of gs over the payment they cover (found by hash among the sends this test signed)."""
    tx = build_claim_tx(CARRIER, CHAIN, chain.carrier_nonce, gs, raw if raw is not None else chain.signed[gs[0].tx_hash])
    chain.carrier_nonce += 1
    return tx


def bal(chain, i):
    return chain.app.query_account(addr(i)).balance


def stake(chain, i):
    return StakingKeeper(chain.app.state, CHAIN).get_validator(operator(i).account)


def collateral(chain, validator):
    return UnderwritingKeeper(chain.app.state, CHAIN).get_collateral(key_account(PAYER), operator(validator).account)


def key_account(i):
    return Address.from_pub_key(CHAIN, key(i).pub_key).account


def shares(chain, nonce):
    return UnderwritingKeeper(chain.app.state, CHAIN).get_settlements(key_account(PAYER), nonce)


def client_wealth(chain, *accounts):
    """What the client's accounts hold together, its collateral included."""
    ledger = UnderwritingKeeper(chain.app.state, CHAIN)
    locked = sum(ledger.get_collateral(key_account(a), operator(v).account).seizable for a in accounts for v in (1, 2))
    return sum(bal(chain, a) for a in accounts) + locked


def supply(chain):
    return chain.app.query_status().total_supply


# ---- release and payout by the nonce -------------------------------------------------------------------


def test_carried_tx_executes_and_releases(chain):
    raw = send(chain, 4, 100)
    res = chain.block(carry(chain, raw, [guarantee(1, raw, 100, addr(4))]))
    assert codes(res) == [0]
    types = [e.type for e in res.tx_results[0].events]
    assert types == ["tx", "underwritten_tx", "tx", "transfer", "guarantee_release"]
    assert (bal(chain, 3), bal(chain, 4)) == (1900, 100)
    assert stake(chain, 1).bonded == 1000 and collateral(chain, 1).locked == 1000
    assert [s.outcome for s in shares(chain, 1)] == [RELEASED]


def test_double_spend_pays_beneficiary_from_collateral_once(chain):
    raw = send(chain, 4, 100)
    spend = send(chain, 5, 1000)  # same nonce: the double spend
    g = [guarantee(1, raw, 100, addr(4))]
    before = supply(chain)
    res = chain.block(spend, carry(chain, raw, g))
    assert codes(res) == [0, 0]
    assert (bal(chain, 3), bal(chain, 4), bal(chain, 5)) == (1000, 100, 1000)
    assert collateral(chain, 1).locked == 900 and stake(chain, 1).bonded == 1000  # the payer pays, not the stake
    (s,) = shares(chain, 1)
    assert (s.outcome, s.amount, s.from_collateral, s.from_stake) == (PAID, 100, 100, 0)
    assert supply(chain) == before
    # Neither a second carrier nor a claim pays again.
    assert codes(chain.block(carry(chain, raw, g))) == [ReplayedGuaranteeError.code]
    assert codes(chain.block(claim(chain, g))) == [ReplayedGuaranteeError.code]
    assert bal(chain, 4) == 100


def test_payout_beyond_collateral_comes_from_the_underwriters_stake(chain):
    raw = send(chain, 4, 1500)
    spend = send(chain, 5, 10)
    g = [guarantee(1, raw, 1500, addr(4))]
    res = chain.block(spend, carry(chain, raw, g))
    assert codes(res) == [0, 0]
    assert bal(chain, 4) == 1500 and collateral(chain, 1).seizable == 0
    assert stake(chain, 1).bonded == 500  # the 500 of credit the validator extended at its own risk
    (s,) = shares(chain, 1)
    assert (s.from_collateral, s.from_stake) == (1000, 500)


def test_co_underwritten_shares_each_pay_from_their_own_collateral_then_stake(chain):
    chain.block(deposit(chain, 2, 300))
    raw = send(chain, 4, 1200)
    spend = send(chain, 5, 1)
    gs = [guarantee(1, raw, 800, addr(4), total=1200, expiry=6, issued=3), guarantee(2, raw, 400, addr(4), total=1200, expiry=6, issued=3)]
    res = chain.block(spend, carry(chain, raw, gs))
    assert codes(res) == [0, 0]
    assert bal(chain, 4) == 1200
    by = {s.underwriter: s for s in shares(chain, 2)}
    assert (by[str(operator(1))].from_collateral, by[str(operator(1))].from_stake) == (800, 0)
    assert (by[str(operator(2))].from_collateral, by[str(operator(2))].from_stake) == (300, 100)
    assert (stake(chain, 1).bonded, stake(chain, 2).bonded) == (1000, 400)


# ---- the attacks of issue 7 -------------------------------------------------------------------------------


def test_attack_memo_retry_pays_once(chain):
    """Re-signed retry with another memo: the retry executes, then the guarantee of the original must release
    (on the old code the carrier paid again: 600 for 300)."""
    raw = send(chain, 4, 300, memo="first")
    retry = send(chain, 4, 300, memo="second")
    g = [guarantee(1, raw, 300, addr(4))]
    assert codes(chain.block(retry)) == [0]
    res = chain.block(carry(chain, raw, g))
    assert codes(res) == [0]
    assert bal(chain, 4) == 300 and [s.outcome for s in shares(chain, 1)] == [RELEASED]
    for _ in range(4):
        chain.block()
    assert codes(chain.block(claim(chain, [guarantee(2, raw, 300, addr(4))]))) == [NotClaimableError.code]
    assert bal(chain, 4) == 300


def test_attack_claim_after_the_payment_executed_under_other_bytes(chain):
    """The send executes under other bytes of the same nonce; after expiry a claim must not pay again."""
    raw = send(chain, 4, 1000)
    other = send(chain, 4, 1000, memo="x")
    g = [guarantee(1, raw, 1000, addr(4), expiry=4)]
    chain.block(other)
    while chain.app.last_height < 5:
        chain.block()
    assert codes(chain.block(claim(chain, g))) == [NotClaimableError.code]
    assert bal(chain, 4) == 1000 and collateral(chain, 1).locked == 1000


def test_attack_withholding_payer_cannot_profit(chain):
    """client_carries: the payer never broadcasts the guaranteed send and claims after expiry for its own account
    (on the old code the claim paid from stake and the nonce stayed usable, so the payer could repeat for free)."""
    wealth = client_wealth(chain, PAYER, 4)
    raw = send(chain, 4, 700)
    g = [guarantee(1, raw, 700, addr(4), expiry=4)]
    while chain.app.last_height < 4:
        chain.block()
    res = chain.block(claim(chain, g))
    assert codes(res) == [0]
    assert "nonce_retired" in [e.type for e in res.tx_results[0].events]
    assert bal(chain, 4) == 700 and stake(chain, 1).bonded == 1000  # paid from the payer's own collateral
    assert client_wealth(chain, PAYER, 4) == wealth  # nobody profits from a payout
    # The guaranteed bytes can never execute now: the nonce is retired.
    assert chain.app.check_tx(raw).code == BadNonceError.code
    assert codes(chain.block(raw)) == [BadNonceError.code]
    assert bal(chain, 4) == 700


def test_attack_partial_payment_pays_only_the_shortfall(chain):
    """The nonce pays the beneficiary less than guaranteed: the guarantee makes up the difference, no more."""
    raw = send(chain, 4, 900)
    short = send(chain, 4, 200)
    g = [guarantee(1, raw, 900, addr(4))]
    res = chain.block(short, carry(chain, raw, g))
    assert codes(res) == [0, 0]
    assert bal(chain, 4) == 900 and collateral(chain, 1).locked == 300


def test_attack_several_validators_asked_at_once(chain):
    """The payer gets a full guarantee of one nonce from two validators and double-spends: both pay, each from
    the collateral held for it, so the payer loses what it promised twice and no stake is touched."""
    chain.block(deposit(chain, 2, 500))
    wealth = client_wealth(chain, PAYER, 4, 5)
    raw = send(chain, 4, 500)
    spend = send(chain, 5, 500)
    g1, g2 = [guarantee(1, raw, 500, addr(4), expiry=6, issued=3)], [guarantee(2, raw, 500, addr(4), expiry=6, issued=3)]
    res = chain.block(spend, carry(chain, raw, g1), claim(chain, g2))
    assert codes(res) == [0, 0, 0]
    assert (stake(chain, 1).bonded, stake(chain, 2).bonded) == (1000, 500)
    assert client_wealth(chain, PAYER, 4, 5) == wealth


# ---- claims ----------------------------------------------------------------------------------------------


def test_claim_after_expiry_pays_once_and_window_closes(chain):
    raw = send(chain, 4, 100)  # never broadcast
    g = [guarantee(1, raw, 100, addr(4), expiry=3)]
    assert codes(chain.block(claim(chain, g))) == [NotClaimableError.code]  # height 3: may still execute
    assert codes(chain.block(claim(chain, g))) == [0]  # height 4 > expiry
    assert bal(chain, 4) == 100 and collateral(chain, 1).locked == 900
    assert codes(chain.block(claim(chain, g))) == [ReplayedGuaranteeError.code]


def test_claim_window_closes(chain):
    raw = send(chain, 4, 100)
    g = [guarantee(1, raw, 100, addr(4), expiry=2)]
    while chain.app.last_height < 7:  # claims open through height 2 + 5
        chain.block()
    assert codes(chain.block(claim(chain, g))) == [ClaimWindowClosedError.code]


def test_claim_pays_at_once_when_the_tx_failed_on_its_own(chain):
    raw = send(chain, 4, 5000)  # insufficient funds: included, fails, nonce used, nothing paid
    chain.block(raw)
    g = [guarantee(1, raw, 5000, addr(4), expiry=6, issued=3)]
    res = chain.block(claim(chain, g))
    # Collateral 1000, then the whole stake of 1000: short of the promise, everything that was there.
    assert codes(res) == [0]
    assert bal(chain, 4) == 2000 and stake(chain, 1).backing == 0


def test_claim_of_an_unused_future_nonce_waits(chain):
    raw = send(chain, 4, 100, nonce=5)  # nonce 1 is next: this one cannot run yet
    g = [guarantee(1, raw, 100, addr(4), expiry=4)]
    assert codes(chain.block(carry(chain, raw, g))) == [NotClaimableError.code]
    while chain.app.last_height < 4:
        chain.block()
    assert codes(chain.block(claim(chain, g))) == [0]
    assert chain.app.query_account(addr(3)).nonce == 6  # retired: nonces up to 5 can never run


# ---- collateral -----------------------------------------------------------------------------------------


def test_collateral_lifecycle_keeps_supply_and_waits_for_claims(chain):
    before = supply(chain)
    assert BankKeeper(chain.app.state).get_balance(COLLATERAL_POOL) == 1000
    raw = send(chain, 4, 600)
    g = [guarantee(1, raw, 600, addr(4), expiry=4)]
    res = chain.block(deposit(chain, 1, 1000, "unlock"))  # height 3: unlock everything right after the guarantee
    assert codes(res) == [0]
    c = collateral(chain, 1)
    assert (c.locked, c.unlocking) == (0, 1000) and c.unlock_height == 3 + 80
    assert codes(chain.block(deposit(chain, 1, 0, "withdraw"))) == [CollateralLockedError.code]
    chain.block()
    # The guarantee signed before the unlock is still paid from the unlocking collateral.
    assert codes(chain.block(claim(chain, g))) == [0]
    assert bal(chain, 4) == 600 and collateral(chain, 1).unlocking == 400 and stake(chain, 1).bonded == 1000
    while chain.app.last_height < 82:
        chain.block()
    assert codes(chain.block(deposit(chain, 1, 0, "withdraw"))) == [0]  # height 83
    assert collateral(chain, 1).seizable == 0 and BankKeeper(chain.app.state).get_balance(COLLATERAL_POOL) == 0
    assert supply(chain) == before


def test_invalid_collateral_messages(chain):
    assert codes(chain.block(deposit(chain, 1, 5000))) == [20]  # bank: insufficient funds
    assert codes(chain.block(deposit(chain, 7, 10))) == [UnknownValidatorError.code]
    assert codes(chain.block(deposit(chain, 1, 1001, "unlock"))) == [CollateralLockedError.code]
    assert codes(chain.block(deposit(chain, 2, 0, "withdraw"))) == [CollateralLockedError.code]
    assert collateral(chain, 1).locked == 1000


# ---- malformed guarantees ---------------------------------------------------------------------------------


@pytest.mark.parametrize("make, err", [
    (lambda raw: [dataclasses.replace(guarantee(1, raw, 100, addr(4)), expiry_height=4)], ForgedGuaranteeError),
    (lambda raw: [dataclasses.replace(guarantee(1, raw, 100, addr(4)), nonce=7)], ForgedGuaranteeError),
    (lambda raw: [guarantee(1, raw, 100, addr(4), signer=2)], ForgedGuaranteeError),
    (lambda raw: [guarantee(1, raw, 100, addr(4), chain="a1b2")], GuaranteeMismatchError),
    (lambda raw: [guarantee(1, raw, 100, addr(5))], GuaranteeMismatchError),
    (lambda raw: [guarantee(1, raw, 60, addr(4), total=100)], GuaranteeMismatchError),
    (lambda raw: [guarantee(1, raw, 50, addr(4), total=100), guarantee(1, raw, 50, addr(4), total=100)],
     GuaranteeMismatchError),
    (lambda raw: [guarantee(1, build_send_tx(key(3), CHAIN, 2, addr(4), 100), 100, addr(4))], GuaranteeMismatchError),
    (lambda raw: [guarantee(1, raw, 100, addr(4), expiry=2)], ExpiredGuaranteeError),
    (lambda raw: [guarantee(1, raw, 100, addr(4), expiry=9, issued=1)], GuaranteeLifetimeError),
    (lambda raw: [guarantee(1, raw, 1001, addr(4), total=1001)], GuaranteeMismatchError),
    (lambda raw: [guarantee(7, raw, 100, addr(4))], UnknownValidatorError),
])
def test_invalid_guarantees_are_rejected_with_their_code(chain, make, err):
    raw = send(chain, 4, 100)
    before = (bal(chain, 3), bal(chain, 4), stake(chain, 1).bonded, collateral(chain, 1))
    res = chain.block(carry(chain, raw, make(raw)))  # height 3
    assert codes(res) == [err.code]
    assert (bal(chain, 3), bal(chain, 4), stake(chain, 1).bonded, collateral(chain, 1)) == before
    assert shares(chain, 1) == []


# ---- capacity evidence ----------------------------------------------------------------------------------


def test_capacity_evidence_slashes_over_signing_beyond_collateral(chain):
    a = send(chain, 4, 300)
    b = send(chain, 5, 300, nonce=2)
    ga, gb = guarantee(2, a, 300, addr(4)), guarantee(2, b, 300, addr(5))  # validator 2: no collateral, stake 500
    res = chain.block(build_capacity_evidence_tx(CARRIER, CHAIN, 0, [ga, gb]))
    assert codes(res) == [0]
    v = stake(chain, 2)
    assert v.is_jailed and v.bonded == 450
    assert codes(chain.block(build_capacity_evidence_tx(CARRIER, CHAIN, 1, [ga, gb]))) == [InvalidEvidenceError.code]


def test_guarantees_within_collateral_are_not_evidence(chain):
    a = send(chain, 4, 700)
    b = send(chain, 5, 700, nonce=2)
    # Validator 1 promised 1400 with stake 1000, but 1000 of it is the payer's collateral: 400 uncovered.
    res = chain.block(build_capacity_evidence_tx(CARRIER, CHAIN, 0, [guarantee(1, a, 700, addr(4)),
                                                                      guarantee(1, b, 700, addr(5))]))
    assert codes(res) == [InvalidEvidenceError.code] and not stake(chain, 1).is_jailed


@pytest.mark.parametrize("make", [
    lambda a, b: [guarantee(2, a, 300, addr(4), expiry=2), guarantee(2, b, 300, addr(5), issued=3, expiry=5)],
    lambda a, b: [guarantee(2, a, 300, addr(4)), guarantee(1, b, 300, addr(5))],
    lambda a, b: [guarantee(2, a, 300, addr(4)), guarantee(2, a, 300, addr(4))],
    lambda a, b: [guarantee(2, a, 300, addr(4)), guarantee(2, b, 300, addr(5), signer=1)],
])
def test_invalid_capacity_evidence(chain, make):
    a = send(chain, 4, 300)
    b = send(chain, 5, 300, nonce=2)
    res = chain.block(build_capacity_evidence_tx(CARRIER, CHAIN, 0, make(a, b)))
    assert codes(res)[0] in (InvalidEvidenceError.code, ForgedGuaranteeError.code)
    assert not stake(chain, 2).is_jailed and not stake(chain, 1).is_jailed


def test_check_tx_of_a_carrier_mirrors_delivery(chain):
    raw = send(chain, 4, 100)
    assert chain.app.check_tx(carry(chain, raw, [guarantee(1, raw, 100, addr(4))])).code == 0
    assert chain.app.check_tx(send(chain, 4, 100)).code == BadNonceError.code  # nonce used by the carrier


def test_attack_underwriter_forges_a_guarantee_against_the_payers_collateral(chain):
    """An underwriter holds the payer's collateral. It signs a guarantee the payer never asked for, naming a
    friend as beneficiary of a nonce the payer already used, and claims it: on the code before claims carried the
    payer-signed payment, the friend was paid from the payer's collateral."""
    paid = send(chain, 4, 500)
    assert codes(chain.block(paid)) == [0]
    friend = 6
    forged_payment = build_send_tx(key(friend), CHAIN, 1, addr(friend), 900)  # not the payer's signature
    g = dataclasses.replace(guarantee(1, paid, 900, addr(friend), total=900, expiry=4), signature=b"")
    from distpos_abci.underwriting import sign_guarantee
    from tests.staking.helpers import cons_key
    g = sign_guarantee(cons_key(1), g)  # the underwriter's own, valid signature over a payment nobody signed
    while chain.app.last_height < 5:
        chain.block()
    for shown in (paid, forged_payment):  # the payer's real payment (to 4), or a payment the payer did not sign
        res = chain.block(claim(chain, [g], shown))
        assert codes(res) == [GuaranteeMismatchError.code]
    assert collateral(chain, 1).locked == 1000 and bal(chain, friend) == 0


# ---- what a nonce paid expires (issue 8) ------------------------------------------------------------------
# UW_PARAMS: max_guarantee_blocks 4, claim_window_blocks 5: auth keeps a payment record 4 + 5 + 2 = 11 blocks.


def payment(chain, nonce):
    from distpos_abci.auth import AuthKeeper
    return AuthKeeper(chain.app.state).get_payment(key_account(PAYER), nonce)


def test_attack_claim_after_the_payment_record_expired_never_pays_twice(chain):
    """The payer's payment of 100 to 4 executed long ago. A validator holding the payer's collateral (or the
    beneficiary's friend among validators) signs a fresh guarantee of those very bytes and the beneficiary claims,
    or a carrier carries them: with the record of what the nonce paid gone, the chain would read "paid nothing" and
    pay the beneficiary a second time from the payer's collateral. It refuses (underwriting:235) instead."""
    from distpos_abci.errors import PaymentRecordExpiredError

    raw = send(chain, 4, 100)
    assert codes(chain.block(raw)) == [0]  # height 3, nonce 1
    paid_at = chain.app.last_height
    while chain.app.last_height < paid_at + 10:
        chain.block()
    assert payment(chain, 1) is not None  # still inside every window that could settle it
    chain.block()  # height paid_at + 11: the end of this block deletes it
    assert payment(chain, 1) is None
    h = chain.app.last_height
    fresh = [guarantee(1, raw, 100, addr(4), issued=h - 1, expiry=h + 2)]
    assert codes(chain.block(claim(chain, fresh))) == [PaymentRecordExpiredError.code]
    assert codes(chain.block(carry(chain, raw, fresh))) == [PaymentRecordExpiredError.code]
    assert bal(chain, 4) == 100 and collateral(chain, 1).locked == 1000
    assert shares(chain, 1) == []


def test_payment_records_outlive_the_last_claim_of_a_guarantee(chain):
    """A guarantee issued the block before its nonce ran, claimed at the last height of its claim window, still
    reads what the nonce paid: a double spend pays the shortfall, a full payment is not claimable."""
    raw = send(chain, 4, 100)
    double = send(chain, 5, 100)  # same nonce 1, to someone else
    h = chain.app.last_height
    g = [guarantee(1, raw, 100, addr(4), issued=h, expiry=h + 4)]
    assert codes(chain.block(double)) == [0]
    other = send(chain, 4, 50, nonce=2)
    og = [guarantee(1, other, 50, addr(4), issued=h, expiry=h + 4)]
    assert codes(chain.block(other)) == [0]
    while chain.app.last_height < h + 4 + 5 - 1:
        chain.block()
    res = chain.block(claim(chain, g), claim(chain, og))  # height h + 9 = expiry + claim_window_blocks
    assert codes(res) == [0, NotClaimableError.code]
    assert bal(chain, 4) == 150 and collateral(chain, 1).locked == 900


def test_a_lapsed_nonce_without_a_record_still_settles_every_share(chain):
    """A retired nonce never had a payment record: absent but final (above the floor), so the second
    validator's guarantee of it pays from the collateral held for that validator, as before expiry existed."""
    assert codes(chain.block(deposit(chain, 2, 500))) == [0]
    raw = send(chain, 4, 100)  # nonce 2, never broadcast
    h = chain.app.last_height
    g1 = [guarantee(1, raw, 100, addr(4), issued=h, expiry=h + 1)]
    g2 = [guarantee(2, raw, 100, addr(4), issued=h, expiry=h + 1)]
    chain.block()
    chain.block()
    assert codes(chain.block(claim(chain, g1))) == [0]
    assert codes(chain.block(claim(chain, g2))) == [0]
    assert bal(chain, 4) == 200 and collateral(chain, 1).locked == 900 and collateral(chain, 2).locked == 400
