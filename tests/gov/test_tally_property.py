"""Property: over random validator sets, jailings and votes, a proposal passes iff yes power * 3 > total * 2."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distpos_abci.address import Address
from distpos_abci.bank import BankKeeper
from distpos_abci.gov import GovKeeper, GovParams, compute_tally, is_passing
from distpos_abci.gov import keys
from distpos_abci.gov.keeper import PASSED, VOTING, VoteRecord
from distpos_abci.gov.msgs import ABSTAIN, NO, YES
from distpos_abci.staking import StakingKeeper, StakingParams, ValidatorRecord
from distpos_abci.store.kv import CacheKV
from distpos_abci.types import Amount, Height

CHAIN = "e2e4"


class Empty:
    def get(self, key: bytes) -> None:
        return None

    def iter_prefix(self, prefix: bytes):
        return iter(())


validators = st.lists(
    st.tuples(st.integers(0, 50), st.booleans(), st.sampled_from([0, YES, NO, ABSTAIN])),  # power, jailed, vote
    min_size=1, max_size=12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(validators)
def test_passes_iff_yes_power_times_3_exceeds_total_times_2(vals):
    store = CacheKV(Empty())
    staking = StakingKeeper(store, CHAIN)
    staking.apply_params(StakingParams(power_reduction=1, min_self_stake=1))
    votes, yes, total = {}, 0, 0
    for i, (power, jailed, option) in enumerate(vals):
        operator = Address(CHAIN, bytes([i + 1]) * 20)
        staking.apply_validator(ValidatorRecord(operator, bytes([i + 1]) * 32, Amount(power),
                                                jailed_until=Height(99 if jailed else 0)))
        if option:
            votes[operator.account] = option
        effective = 0 if jailed else power
        total += effective
        yes += effective if option == YES else 0
    gov = GovKeeper(store, CHAIN)
    gov.apply_params(GovParams(voting_period_blocks=10))
    proposer = Address(CHAIN, b"\xee" * 20)
    BankKeeper(store).process_mint(proposer.account, Amount(1000))
    gov.process_submit(proposer, "t", "", (("update_params", b""),), Amount(1000), Height(1))
    for account, option in sorted(votes.items()):  # written directly: a jailed or powerless voter's old vote
        store.set(keys.PREFIX + keys.vote_key(1, account),
                  VoteRecord(1, Address(CHAIN, account), option, Height(1)).encode())
    tally = gov.get_tally(1)
    assert (tally.yes, tally.total) == (yes, total)
    assert is_passing(tally) == (yes * 3 > total * 2)
    assert is_passing(compute_tally(votes, gov.get_powers())) == is_passing(tally)
    gov.process_end_block(Height(2), lambda s, p, h: [])
    assert gov.require_proposal(1).status == (PASSED if yes * 3 > total * 2 else VOTING)
