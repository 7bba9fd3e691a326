"""Gov transitions as vectors: attacks first, then the tally threshold, jailing, vote changes, deposits,
all-or-nothing execution and parameter changes. Powers (tests/gov/helpers.py): validators 1, 2, 5 have 2,
validators 3, 4 have 1; total 8."""

from __future__ import annotations

import json

import pytest

from distpos_abci.address import parse_address
from distpos_abci.bank import BankKeeper
from distpos_abci.errors import (
    DepositTooLowError,
    InvalidParamsError,
    InvalidProposalError,
    InvalidVoteError,
    NotAValidatorError,
    NotGovAuthorityError,
    SignerMismatchError,
    TooManyProposalsError,
    UnknownProposalError,
    VotingClosedError,
)
from distpos_abci.gen.distpos.v1 import gov_pb2, tx_pb2
from distpos_abci.gov import build_proposal_message
from distpos_abci.gov.keeper import FAILED, PASSED, REJECTED, VOTING
from distpos_abci.gov.keys import DEPOSIT_POOL
from distpos_abci.interchain import module as interchain_module
from distpos_abci.interchain.keeper import InterchainKeeper
from distpos_abci.staking import StakingKeeper
from distpos_abci.underwriting import UnderwritingKeeper
from tests.gov.helpers import (
    CHAIN,
    GovChain,
    addr,
    codes,
    gov_address,
    gov_genesis,
    operator,
    params_change,
    set_route_msg,
)


@pytest.fixture
def chain(harness):
    harness.app.init_chain(CHAIN, gov_genesis())
    c = GovChain(harness)
    c.block()
    return c


def submitted(chain: GovChain, *messages, proposer: int = 6, deposit: int = 100) -> int:
    """Submit a proposal in its own block and return its id."""
    result = chain.block(chain.propose(proposer, list(messages), deposit))
    assert codes(result) == [0], result.tx_results[0].log
    return max(p.id for p in chain.keeper().get_proposals())


def staking_params(chain: GovChain):
    return StakingKeeper(chain.app.state, CHAIN).get_params()


def check_refused(chain: GovChain, raw: bytes, err) -> None:
    """Refused in CheckTx and in a block with err's code and codespace."""
    checked = chain.app.check_tx(raw)
    assert (checked.code, checked.codespace) == (err.code, err.codespace), checked.log
    result = chain.block(raw).tx_results[0]
    assert (result.code, result.codespace) == (err.code, err.codespace), result.log


# ---- attacks ------------------------------------------------------------------------------------------------

def test_invalid_vote_from_an_account_that_is_no_validator_is_refused(chain):
    pid = submitted(chain, params_change("staking", jail_blocks=7))
    check_refused(chain, chain.vote(6, pid), NotAValidatorError)
    assert chain.keeper().get_votes(pid) == []


def test_invalid_proposal_whose_message_authority_is_not_the_gov_account_is_refused(chain):
    own = build_proposal_message("set_route", set_route_msg(addr(6)))
    check_refused(chain, chain.propose(6, [own]), NotGovAuthorityError)
    params = gov_pb2.MsgUpdateParams(authority=addr(6), module="staking", params_json='{"jail_blocks":7}')
    check_refused(chain, chain.propose(6, [build_proposal_message("update_params", params)]), NotGovAuthorityError)
    assert list(chain.keeper().get_proposals()) == []
    assert BankKeeper(chain.app.state).get_balance(DEPOSIT_POOL) == 0


@pytest.mark.parametrize("message", [
    gov_pb2.ProposalMessage(type="send", value=tx_pb2.MsgSend(from_address="x", to_address="y", amount=1)
                            .SerializeToString()),  # not a governance message
    gov_pb2.ProposalMessage(type="no_such_msg", value=b""),
    gov_pb2.ProposalMessage(type="chain_id", value=b""),  # a TxBody field, but not a message
    gov_pb2.ProposalMessage(type="vote", value=gov_pb2.MsgVote(voter="x", proposal_id=1, option=1)
                            .SerializeToString()),  # the authority never votes
    gov_pb2.ProposalMessage(type="update_params", value=b"\xff\xff"),  # does not decode
    gov_pb2.ProposalMessage(type="update_params", value=b"\x12\x00"),  # explicit default: not canonical
])
def test_invalid_proposal_message_is_refused_at_once(chain, message):
    check_refused(chain, chain.propose(6, [message]), InvalidProposalError)


def test_invalid_param_change_is_refused_at_submission(chain):
    for change in (params_change("staking", jail_blocks=0), params_change("staking", no_such_key=1),
                   params_change("bank", x=1), params_change("underwriting", claim_window_blocks=100)):
        check_refused(chain, chain.propose(6, [change]), InvalidParamsError)


def test_invalid_update_params_sent_directly_is_refused(chain):
    mine = gov_pb2.MsgUpdateParams(authority=addr(6), module="staking", params_json='{"jail_blocks":7}')
    check_refused(chain, chain.tx(6, "update_params", mine), NotGovAuthorityError)
    theirs = gov_pb2.MsgUpdateParams(authority=gov_address(), module="staking", params_json='{"jail_blocks":7}')
    check_refused(chain, chain.tx(6, "update_params", theirs), SignerMismatchError)
    assert staking_params(chain).jail_blocks == 5


def test_invalid_votes_and_closed_proposals(chain):
    check_refused(chain, chain.vote(1, 99), UnknownProposalError)
    check_refused(chain, chain.tx(1, "vote", gov_pb2.MsgVote(voter=addr(1), proposal_id=1, option=9)),
                  InvalidVoteError)
    check_refused(chain, chain.tx(2, "vote", gov_pb2.MsgVote(voter=addr(1), proposal_id=1, option=1)),
                  SignerMismatchError)
    pid = submitted(chain, params_change("staking", jail_blocks=7))
    for _ in range(5):
        chain.block()
    assert chain.proposal(pid).status == REJECTED
    check_refused(chain, chain.vote(1, pid), VotingClosedError)


def test_deposit_too_low_and_too_many_active_proposals(chain):
    check_refused(chain, chain.propose(6, [params_change("staking", jail_blocks=7)], deposit=99), DepositTooLowError)
    submitted(chain, params_change("staking", jail_blocks=7))
    submitted(chain, params_change("staking", jail_blocks=8))
    check_refused(chain, chain.propose(7, [params_change("staking", jail_blocks=9)]), TooManyProposalsError)


# ---- the threshold ----------------------------------------------------------------------------------------

def test_yes_power_of_exactly_two_thirds_does_not_pass_and_just_above_does(harness):
    # Validators 1, 2, 3 with powers 2, 2, 2: total 6; 4 is exactly 2/3.
    harness.app.init_chain(CHAIN, gov_genesis({1: 200, 2: 200, 3: 200}))
    chain = GovChain(harness)
    chain.block()
    pid = submitted(chain, params_change("staking", jail_blocks=7))
    result = chain.block(chain.vote(1, pid), chain.vote(2, pid))
    assert codes(result) == [0, 0]
    assert chain.proposal(pid).status == VOTING
    assert (chain.keeper().get_tally(pid).yes, chain.keeper().get_tally(pid).total) == (4, 6)
    result = chain.block(chain.vote(3, pid))
    assert [e.type for e in result.events if e.type.startswith("proposal")] == ["proposal_passed"]
    p = chain.proposal(pid)
    assert (p.status, p.final_tally.yes, p.final_tally.total) == (PASSED, 6, 6)
    assert staking_params(chain).jail_blocks == 7


def test_a_jailed_validators_vote_does_not_count(chain):
    # Counting validator 5 (power 2) after its jailing would give 6 of 8 (> 2/3); without it, 4 of 6 (= 2/3).
    pid = submitted(chain, params_change("staking", jail_blocks=7))
    chain.block(chain.vote(5, pid))
    chain.block(chain.vote(1, pid), chain.vote(2, pid), evidence=(5,))
    assert StakingKeeper(chain.app.state, CHAIN).get_validator(operator(5).account).is_jailed
    tally = chain.keeper().get_tally(pid)
    assert (tally.yes, tally.total) == (4, 6)
    assert chain.proposal(pid).status == VOTING
    check_refused(chain, chain.vote(5, pid), NotAValidatorError)  # and it cannot vote again while jailed
    chain.block(chain.vote(3, pid))
    assert chain.proposal(pid).status == PASSED


def test_a_vote_may_be_changed_during_the_period(chain):
    pid = submitted(chain, params_change("staking", jail_blocks=7))
    chain.block(chain.vote(1, pid, "yes"), chain.vote(2, pid, "yes"), chain.vote(5, pid, "no"))
    assert chain.proposal(pid).status == VOTING  # 4 of 8
    chain.block(chain.vote(5, pid, "abstain"))
    tally = chain.keeper().get_tally(pid)
    assert (tally.yes, tally.no, tally.abstain) == (4, 0, 2)
    chain.block(chain.vote(5, pid, "yes"))  # 6 of 8 > 2/3
    assert chain.proposal(pid).status == PASSED
    assert [(str(v.voter), v.option) for v in chain.keeper().get_votes(pid)] == sorted(
        [(addr(1), 1), (addr(2), 1), (addr(5), 1)], key=lambda v: operator_account(v[0]))


def operator_account(address: str) -> bytes:
    return parse_address(address).account


# ---- deposits -----------------------------------------------------------------------------------------------

def test_deposit_is_locked_then_refunded_exactly_and_supply_is_conserved(chain):
    bank = lambda: BankKeeper(chain.app.state)  # noqa: E731
    supply, before = bank().get_supply(), bank().get_balance(operator(6).account)
    passed = submitted(chain, params_change("staking", jail_blocks=7), deposit=250)
    rejected = submitted(chain, params_change("staking", jail_blocks=8), proposer=6, deposit=300)
    assert bank().get_balance(operator(6).account) == before - 550
    assert bank().get_balance(DEPOSIT_POOL) == 550
    chain.block(chain.vote(1, passed), chain.vote(2, passed), chain.vote(5, passed))
    assert chain.proposal(passed).status == PASSED
    assert bank().get_balance(operator(6).account) == before - 300
    for _ in range(5):
        chain.block()
    assert chain.proposal(rejected).status == REJECTED
    assert bank().get_balance(operator(6).account) == before
    assert bank().get_balance(DEPOSIT_POOL) == 0
    assert bank().get_supply() == supply


# ---- execution ---------------------------------------------------------------------------------------------

def test_execution_failure_changes_nothing_but_the_proposal_status(chain):
    # Each change is valid alone; together max_guarantee_blocks + claim_window_blocks (4 + 6) > unbonding (9).
    pid = submitted(chain, params_change("staking", unbonding_blocks=9),
                    params_change("underwriting", claim_window_blocks=6))
    untouched = (b"staking/", b"underwriting/", b"params/", b"interchain/")
    before = {prefix: dict(chain.app.state.iter_prefix(prefix)) for prefix in untouched}
    staking, underwriting = staking_params(chain), UnderwritingKeeper(chain.app.state, CHAIN).get_params()
    result = chain.block(chain.vote(1, pid), chain.vote(2, pid), chain.vote(5, pid))
    assert [e.type for e in result.events if e.type.startswith(("proposal", "params"))] == ["proposal_failed"]
    p = chain.proposal(pid)
    assert (p.status, p.failure_code, p.failure_codespace) == (FAILED, InvalidParamsError.code, "gov")
    assert staking_params(chain) == staking
    assert UnderwritingKeeper(chain.app.state, CHAIN).get_params() == underwriting
    assert {prefix: dict(chain.app.state.iter_prefix(prefix)) for prefix in untouched} == before
    assert chain.keeper().get_active_ids() == []


def test_passed_proposal_changing_staking_params_takes_effect(chain):
    pid = submitted(chain, params_change("staking", jail_blocks=30, downtime_window=12))
    result = chain.block(chain.vote(1, pid), chain.vote(2, pid), chain.vote(5, pid))
    types = [e.type for e in result.events]
    assert types.index("proposal_passed") < types.index("params_updated")
    params = staking_params(chain)
    assert (params.jail_blocks, params.downtime_window, params.unbonding_blocks) == (30, 12, 10)
    chain.block(evidence=(4,))  # a jail now lasts the new term
    v = StakingKeeper(chain.app.state, CHAIN).get_validator(operator(4).account)
    assert v.jailed_until == chain.app.last_height + 30


def test_passed_proposal_changing_chain_and_gov_params_takes_effect_after_commit(chain, harness):
    pid = submitted(chain, params_change("chain", max_tx_bytes=4096), params_change("gov", voting_period_blocks=9))
    chain.block(chain.vote(1, pid), chain.vote(2, pid), chain.vote(5, pid))
    assert chain.app.params.max_tx_bytes == 4096
    assert chain.keeper().get_params().voting_period_blocks == 9
    assert harness.reopen().params.max_tx_bytes == 4096


def test_passed_proposal_runs_another_modules_message_as_the_authority(harness):
    state = json.loads(gov_genesis())
    if "admin" in interchain_module.GENESIS_KEYS:  # until interchain checks GOV_AUTHORITY itself
        state["interchain"] = {"admin": gov_address()}
    harness.app.init_chain(CHAIN, json.dumps(state).encode())
    chain = GovChain(harness)
    chain.block()
    pid = submitted(chain, build_proposal_message("set_route", set_route_msg(gov_address())))
    result = chain.block(chain.vote(1, pid), chain.vote(2, pid), chain.vote(5, pid))
    assert chain.proposal(pid).status == PASSED, [e for e in result.events if e.type == "proposal_failed"]
    assert InterchainKeeper(chain.app.state, CHAIN).get_route("b7c1").relay_grpc == "127.0.0.1:9091"
