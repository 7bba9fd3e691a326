"""Underwriting premiums on chain: a validator announces its price, the payer signs the premium it pays (TxBody 6),
each share's underwriter gets its pro-rata part exactly once when the shares settle, paid or not, and never more
than the payer signed.

The `test_attack_*` tests are issue 12's attacks; on the code before premiums none of them held (no premium was
paid, and a premium was not part of what the payer signed).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from distpos_abci.bank import build_send_tx
from distpos_abci.errors import (
    InvalidPremiumError,
    NotClaimableError,
    ReplayedGuaranteeError,
    SignerMismatchError,
    UnknownValidatorError,
)
from distpos_abci.gen.distpos.v1 import underwriting_pb2
from distpos_abci.tx import build_tx, compute_tx_hash
from distpos_abci.types import Amount
from distpos_abci.underwriting import (
    PremiumRate,
    UnderwritingKeeper,
    build_set_premium_tx,
    compute_premium,
    compute_premium_split,
)
from tests.staking.helpers import CHAIN, addr, codes, key
from tests.underwriting.helpers import guarantee, operator
from tests.underwriting.test_onchain import (  # noqa: F401  (the chain fixture)
    PAYER,
    bal,
    carry,
    chain,
    claim,
    client_wealth,
    collateral,
    deposit,
    stake,
    supply,
)


def psend(c, to, amount, premium=0, memo="", nonce=None):
    """The payer's send signing `premium` for its guarantees."""
    raw = build_send_tx(key(PAYER), CHAIN, c.payer_nonce if nonce is None else nonce, addr(to), amount, memo,
                        premium=premium)
    c.signed[compute_tx_hash(raw)] = raw
    return raw


def set_premium(c, validator, rate_ppm, minimum, nonce=0):
    return build_set_premium_tx(key(validator), CHAIN, nonce, rate_ppm, minimum)


def rate(c, validator):
    return UnderwritingKeeper(c.app.state, CHAIN).get_premium_rate(operator(validator).account)


def premium_events(res, i=-1):
    return [dict(e.attributes) for e in res.tx_results[i].events if e.type == "premium_paid"]


# ---- the rules, pure ----------------------------------------------------------------------------------------


def test_compute_premium_rounds_up_and_honours_the_minimum():
    assert compute_premium(PremiumRate(10_000, Amount(0)), 150) == 2  # 1.5 -> 2
    assert compute_premium(PremiumRate(10_000, Amount(5)), 150) == 5
    assert compute_premium(PremiumRate(0, Amount(0)), 10**18) == 0
    assert compute_premium(PremiumRate(1_000_000, Amount(0)), 7) == 7


@given(st.lists(st.integers(1, 10**12), min_size=1, max_size=16), st.integers(0, 10**15))
def test_premium_split_is_exact_and_pro_rata(amounts, premium):
    """Parts add up to the signed premium exactly; each part is its floor share or one more."""
    total = sum(amounts)
    raw = build_send_tx(key(PAYER), CHAIN, 0, addr(4), total)
    gs = tuple(guarantee(i + 1, raw, a, addr(4), total=total) for i, a in enumerate(amounts))
    parts = compute_premium_split(gs, premium)
    assert sum(p for _, p in parts) == premium
    for g, p in parts:
        assert premium * g.amount // total <= p <= premium * g.amount // total + 1


# ---- announcing -----------------------------------------------------------------------------------------------


def test_validator_announces_and_changes_its_premium(chain):
    assert rate(chain, 1) == PremiumRate()
    res = chain.block(set_premium(chain, 1, 20_000, 3))
    assert codes(res) == [0] and "premium_set" in [e.type for e in res.tx_results[0].events]
    assert rate(chain, 1) == PremiumRate(20_000, Amount(3))
    assert codes(chain.block(set_premium(chain, 1, 5_000, 0, nonce=1))) == [0]
    assert rate(chain, 1) == PremiumRate(5_000, Amount(0))


def test_invalid_set_premium(chain):
    assert codes(chain.block(set_premium(chain, 1, 1_000_001, 0))) == [InvalidPremiumError.code]
    assert codes(chain.block(set_premium(chain, 4, 1_000, 0))) == [UnknownValidatorError.code]  # not a validator
    # A key naming another validator: the operator must sign.
    forged = build_tx(key(2), CHAIN, 0, "set_premium", underwriting_pb2.MsgSetPremium(
        validator=str(operator(1)), rate_ppm=999_999, minimum=0))
    assert codes(chain.block(forged)) == [SignerMismatchError.code]
    assert rate(chain, 1) == PremiumRate()
    assert (InvalidPremiumError.codespace, InvalidPremiumError.code) == ("underwriting", 201)


# ---- paying ------------------------------------------------------------------------------------------------------


def test_released_guarantee_pays_its_premium(chain):
    chain.block(set_premium(chain, 1, 10_000, 2))
    before, op_before = supply(chain), bal(chain, 1)
    raw = psend(chain, 4, 100, premium=2)
    res = chain.block(carry(chain, raw, [guarantee(1, raw, 100, addr(4))]))
    assert codes(res) == [0]
    assert premium_events(res) == [{"payer": addr(PAYER), "nonce": "1", "underwriter": str(operator(1)),
                                    "premium": "2", "paid": "2", "unpaid": "0"}]
    assert (bal(chain, PAYER), bal(chain, 4), bal(chain, 1)) == (3000 - 1000 - 100 - 2, 100, op_before + 2)
    assert supply(chain) == before


def test_paid_out_guarantee_pays_its_premium_after_the_payout(chain):
    """Double spend: the beneficiary is paid from collateral, then the premium comes from the payer's balance."""
    op_before = bal(chain, 1)
    raw = psend(chain, 4, 100, premium=7)
    spend = psend(chain, 5, 1000)  # same nonce
    res = chain.block(spend, carry(chain, raw, [guarantee(1, raw, 100, addr(4))]))
    assert codes(res) == [0, 0]
    assert (bal(chain, 4), bal(chain, 5), collateral(chain, 1).locked) == (100, 1000, 900)
    assert bal(chain, 1) == op_before + 7 and bal(chain, PAYER) == 2000 - 1000 - 7


def test_co_underwriters_are_paid_pro_rata_exactly(chain):
    chain.block(deposit(chain, 2, 500))
    ops = bal(chain, 1), bal(chain, 2)
    raw = psend(chain, 4, 900, premium=10)
    gs = [guarantee(1, raw, 600, addr(4), total=900, expiry=6, issued=3),
          guarantee(2, raw, 300, addr(4), total=900, expiry=6, issued=3)]
    assert codes(chain.block(carry(chain, raw, gs))) == [0]
    # 10 * 600 / 900 = 6.67 -> 6, 10 * 300 / 900 = 3.33 -> 3; the remaining unit to the lower underwriter address.
    got = (bal(chain, 1) - ops[0], bal(chain, 2) - ops[1])
    assert sum(got) == 10 and sorted(got) in ([3, 7], [4, 6])
    first = min((1, 2), key=lambda i: operator(i).account)
    assert got[first - 1] == (7 if first == 1 else 4)


def test_premium_unpaid_beyond_the_payers_balance_never_touches_collateral(chain):
    """The payer empties its balance with the double spend: the premium is paid as far as the balance goes; the
    collateral backs the payer's other guarantees and is never taken for a premium."""
    raw = psend(chain, 4, 100, premium=50)
    spend = psend(chain, 5, 1970)  # leaves 30
    res = chain.block(spend, carry(chain, raw, [guarantee(1, raw, 100, addr(4))]))
    assert codes(res) == [0, 0]
    (ev,) = premium_events(res)
    assert (ev["paid"], ev["unpaid"]) == ("30", "20")
    assert bal(chain, PAYER) == 0 and collateral(chain, 1).locked == 900  # only the payout left the collateral


# ---- the attacks of issue 12 ------------------------------------------------------------------------------------


def test_attack_underwriter_charges_more_than_signed(chain):
    """The underwriter announces 10% and carries a payment whose payer signed 1: it gets 1. It raises its price
    to 100% before a claim on another payment: the claim still pays only the signed premium."""
    chain.block(set_premium(chain, 1, 100_000, 0))
    op_before = bal(chain, 1)
    raw = psend(chain, 4, 500, premium=1)
    assert codes(chain.block(carry(chain, raw, [guarantee(1, raw, 500, addr(4))]))) == [0]
    assert bal(chain, 1) == op_before + 1
    lapsed = psend(chain, 4, 200, premium=4, nonce=2)
    g = [guarantee(1, lapsed, 200, addr(4), expiry=4)]
    chain.block(set_premium(chain, 1, 1_000_000, 10**6, nonce=1))
    while chain.app.last_height < 4:
        chain.block()
    payer_before = bal(chain, PAYER)
    assert codes(chain.block(claim(chain, g))) == [0]
    assert bal(chain, 1) == op_before + 1 + 4
    assert bal(chain, PAYER) == payer_before - 4  # the payout came from collateral; the premium is all it paid


def test_attack_premium_paid_twice_when_settlement_is_retried(chain):
    """A carrier sent again, or a claim after the carrier: each share settles once, so its premium is paid once."""
    op_before = bal(chain, 1)
    raw = psend(chain, 4, 100, premium=5)
    g = [guarantee(1, raw, 100, addr(4))]
    res = chain.block(carry(chain, raw, g), carry(chain, raw, g))
    assert codes(res) == [0, ReplayedGuaranteeError.code]
    assert codes(chain.block(carry(chain, raw, g))) == [ReplayedGuaranteeError.code]
    while chain.app.last_height < 6:
        chain.block()
    assert codes(chain.block(claim(chain, g))) in ([ReplayedGuaranteeError.code], [NotClaimableError.code])
    assert bal(chain, 1) == op_before + 5


def test_attack_premium_makes_no_claim_profitable_for_beneficiary_and_underwriter(chain):
    """Underwriter 1 and beneficiary 4 collude (a guarantee the payer asked for, never broadcast by the
    underwriter): their claim gains them exactly what the payer signed (amount + premium), the payer loses exactly
    that, and nobody else pays anything. A withholding payer colluding with its beneficiary loses the premium."""
    raw = psend(chain, 4, 300, premium=9)
    g = [guarantee(1, raw, 300, addr(4), expiry=4)]
    colluders = bal(chain, 1) + bal(chain, 4)
    payer = client_wealth(chain, PAYER)
    total = supply(chain)
    while chain.app.last_height < 4:
        chain.block()
    assert codes(chain.block(claim(chain, g))) == [0]
    assert bal(chain, 1) + bal(chain, 4) - colluders == 300 + 9
    assert payer - client_wealth(chain, PAYER) == 300 + 9
    assert stake(chain, 1).bonded == 1000 and supply(chain) == total
    # The payer and its own beneficiary withholding together: poorer by the premium, never richer.
    wealth = client_wealth(chain, PAYER, 4)
    raw2 = psend(chain, 4, 100, premium=3, nonce=2)
    g2 = [guarantee(1, raw2, 100, addr(4), expiry=6, issued=5)]
    while chain.app.last_height < 6:
        chain.block()
    assert codes(chain.block(claim(chain, g2))) == [0]
    assert client_wealth(chain, PAYER, 4) == wealth - 3
