"""gov keeper: proposals, deposits, votes and the tally.

A proposal passes in the first end_block at which validators holding more than 2/3 of the total bonded power
(bonded // power_reduction, 0 while jailed, counted at tally time) have a YES vote on it; it is rejected at
the end_block of its voting_end_height otherwise. Its deposit goes back to the proposer either way.
Invariant: balance(DEPOSIT_POOL) == sum of the deposits of proposals open for votes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from ..address import Address, parse_address
from ..bank import BankKeeper
from ..errors import (
    DepositTooLowError,
    DistposError,
    NotAValidatorError,
    TooManyProposalsError,
    UnknownProposalError,
    VotingClosedError,
)
from ..events import Event
from ..gen.distpos.v1 import gov_pb2
from ..staking import StakingKeeper
from ..staking.keeper import compute_power
from ..store.kv import KVReader, KVStore, PrefixStore, iter_prefix_after
from ..types import Amount, ChainId, Height
from . import keys
from .msgs import OPTION_NAMES, YES, NO, ABSTAIN
from .params import GovParams

VOTING = gov_pb2.PROPOSAL_STATUS_VOTING
PASSED = gov_pb2.PROPOSAL_STATUS_PASSED
REJECTED = gov_pb2.PROPOSAL_STATUS_REJECTED
FAILED = gov_pb2.PROPOSAL_STATUS_FAILED
STATUS_NAMES = {VOTING: "voting", PASSED: "passed", REJECTED: "rejected", FAILED: "failed"}
PROPOSAL_TX_DOMAIN = b"distpos/gov/proposal/"


@dataclass(frozen=True, slots=True)
class Tally:
    """Voting power behind each option, and the total bonded power it is measured against."""

    yes: int = 0
    no: int = 0
    abstain: int = 0
    total: int = 0

    def to_proto(self) -> gov_pb2.TallyResult:
        """The protobuf record."""
        return gov_pb2.TallyResult(yes=self.yes, no=self.no, abstain=self.abstain, total=self.total)

    @classmethod
    def from_proto(cls, m: gov_pb2.TallyResult) -> "Tally":
        """From the protobuf record."""
        return cls(m.yes, m.no, m.abstain, m.total)


@dataclass(frozen=True, slots=True)
class ProposalRecord:
    """A proposal as stored; `messages` are (TxBody field name, canonical bytes) pairs."""

    id: int
    proposer: Address
    title: str
    summary: str
    messages: tuple[tuple[str, bytes], ...]
    deposit: Amount
    status: int
    submit_height: Height
    voting_end_height: Height
    end_height: Height = Height(0)
    final_tally: Tally = Tally()
    failure_code: int = 0
    failure_codespace: str = ""

    def to_proto(self) -> gov_pb2.Proposal:
        """The protobuf record."""
        return gov_pb2.Proposal(
            id=self.id, proposer=str(self.proposer), title=self.title, summary=self.summary,
            messages=[gov_pb2.ProposalMessage(type=t, value=v) for t, v in self.messages], deposit=self.deposit,
            status=self.status, submit_height=self.submit_height, voting_end_height=self.voting_end_height,
            end_height=self.end_height, final_tally=self.final_tally.to_proto(), failure_code=self.failure_code,
            failure_codespace=self.failure_codespace)

    def encode(self) -> bytes:
        """Deterministic protobuf encoding."""
        return self.to_proto().SerializeToString(deterministic=True)

    @classmethod
    def decode(cls, raw: bytes) -> "ProposalRecord":
        """Decode a stored record."""
        m = gov_pb2.Proposal.FromString(raw)
        return cls(m.id, parse_address(m.proposer), m.title, m.summary,
                   tuple((pm.type, bytes(pm.value)) for pm in m.messages), Amount(m.deposit), m.status,
                   Height(m.submit_height), Height(m.voting_end_height), Height(m.end_height),
                   Tally.from_proto(m.final_tally), m.failure_code, m.failure_codespace)


@dataclass(frozen=True, slots=True)
class VoteRecord:
    """A validator operator's current vote on a proposal."""

    proposal_id: int
    voter: Address
    option: int
    height: Height

    def to_proto(self) -> gov_pb2.Vote:
        """The protobuf record."""
        return gov_pb2.Vote(proposal_id=self.proposal_id, voter=str(self.voter), option=self.option,
                            height=self.height)

    def encode(self) -> bytes:
        """Deterministic protobuf encoding."""
        return self.to_proto().SerializeToString(deterministic=True)

    @classmethod
    def decode(cls, raw: bytes) -> "VoteRecord":
        """Decode a stored vote."""
        m = gov_pb2.Vote.FromString(raw)
        return cls(m.proposal_id, parse_address(m.voter), m.option, Height(m.height))


# Executes a passed proposal's messages in store at the given height: all of them, or (raising the first
# failure as a DistposError) none.
Executor = Callable[[KVStore, ProposalRecord, Height], list[Event]]


# ---- pure rules -------------------------------------------------------------------------------------------

def is_passing(tally: Tally) -> bool:
    """True when YES power is strictly more than 2/3 of the total bonded power (integers, no rounding)."""
    return tally.yes * 3 > tally.total * 2


def compute_tally(votes: dict[bytes, int], powers: dict[bytes, int]) -> Tally:
    """Tally votes (voter account -> option) weighted by powers (operator account -> power; absent = 0)."""
    sums = {YES: 0, NO: 0, ABSTAIN: 0}
    for voter, option in sorted(votes.items()):
        sums[option] += powers.get(voter, 0)
    return Tally(sums[YES], sums[NO], sums[ABSTAIN], sum(powers.values()))


def compute_proposal_tx_hash(proposal_id: int) -> bytes:
    """The tx_hash a passed proposal's messages run under: unique per proposal, the same on every node."""
    return hashlib.sha256(PROPOSAL_TX_DOMAIN + proposal_id.to_bytes(8, "big")).digest()


# ---- keeper -----------------------------------------------------------------------------------------------

class GovKeeper:
    """Reads and writes the gov prefix; moves deposits only through the bank keeper, reads power from staking."""

    def __init__(self, store: KVStore | KVReader, chain_id: str) -> None:
        self.root = store
        self.store = PrefixStore(store, keys.PREFIX)  # type: ignore[arg-type]
        self.chain_id = ChainId(chain_id)

    # ---- reads

    def get_params(self) -> GovParams:
        """The stored parameters (defaults before genesis)."""
        raw = self.store.get(keys.PARAMS)
        return GovParams.from_json(json.loads(raw)) if raw else GovParams()

    def get_proposal(self, proposal_id: int) -> ProposalRecord | None:
        """A proposal by id, if any."""
        raw = self.store.get(keys.proposal_key(proposal_id))
        return ProposalRecord.decode(raw) if raw is not None else None

    def require_proposal(self, proposal_id: int) -> ProposalRecord:
        """A proposal by id; UnknownProposalError otherwise."""
        p = self.get_proposal(proposal_id)
        if p is None:
            raise UnknownProposalError(f"no proposal {proposal_id}")
        return p

    def get_proposals(self, status: int = 0, after: int | None = None) -> Iterator[ProposalRecord]:
        """Every proposal (or those with status), by id; only those with an id above `after`, if given."""
        start = None if after is None else after.to_bytes(8, "big")
        for _, raw in iter_prefix_after(self.store, keys.PROPOSAL, start):
            p = ProposalRecord.decode(raw)
            if not status or p.status == status:
                yield p

    def get_active_ids(self) -> list[int]:
        """Ids of the proposals open for votes, ascending."""
        return [int.from_bytes(k[-8:], "big") for k, _ in self.store.iter_prefix(keys.ACTIVE)]

    def get_votes(self, proposal_id: int) -> list[VoteRecord]:
        """A proposal's votes, ordered by voter account."""
        return list(self.iter_votes(proposal_id))

    def iter_votes(self, proposal_id: int, after: bytes | None = None) -> Iterator[VoteRecord]:
        """A proposal's votes, ordered by voter account; only those after voter account `after`, if given."""
        for _, raw in iter_prefix_after(self.store, keys.votes_prefix(proposal_id), after):
            yield VoteRecord.decode(raw)

    def get_powers(self) -> dict[bytes, int]:
        """Bonded power of every validator now, by operator account (0 while jailed)."""
        staking = StakingKeeper(self.root, self.chain_id)
        params = staking.get_params()
        return {v.operator.account: compute_power(v, params) for v in staking.get_validators()}

    def get_tally(self, proposal_id: int) -> Tally:
        """The tally of a proposal's votes against the current bonded power."""
        votes = {v.voter.account: v.option for v in self.get_votes(proposal_id)}
        return compute_tally(votes, self.get_powers())

    # ---- writes (apply_*: no checks)

    def apply_params(self, params: GovParams) -> None:
        """Store parameters."""
        self.store.set(keys.PARAMS, params.encode())

    def apply_proposal(self, p: ProposalRecord) -> None:
        """Store a proposal record and keep the active index in step with its status."""
        self.store.set(keys.proposal_key(p.id), p.encode())
        if p.status == VOTING:
            self.store.set(keys.active_key(p.id), b"\x01")
        else:
            self.store.delete(keys.active_key(p.id))

    def get_next_proposal_id(self) -> int:
        """The id the next submitted proposal gets (reads only)."""
        raw = self.store.get(keys.NEXT_ID)
        return int.from_bytes(raw, "big") if raw else 1

    def _next_id(self) -> int:
        raw = self.store.get(keys.NEXT_ID)
        proposal_id = int.from_bytes(raw, "big") if raw else 1
        self.store.set(keys.NEXT_ID, (proposal_id + 1).to_bytes(8, "big"))
        return proposal_id

    def _pool(self) -> Address:
        return Address(self.chain_id, keys.DEPOSIT_POOL)

    # ---- transitions (process_*: check, then write)

    def process_submit(self, proposer: Address, title: str, summary: str, messages: tuple[tuple[str, bytes], ...],
                       deposit: Amount, height: Height) -> list[Event]:
        """Lock the deposit and open a proposal for votes until height + voting_period_blocks."""
        params = self.get_params()
        if deposit < params.min_deposit:
            raise DepositTooLowError(f"deposit {deposit} is below min_deposit {params.min_deposit}")
        if len(self.get_active_ids()) >= params.max_active_proposals:
            raise TooManyProposalsError(
                f"{params.max_active_proposals} proposals are already open for votes (max_active_proposals)")
        events = BankKeeper(self.root).process_send(proposer, self._pool(), deposit)  # type: ignore[arg-type]
        p = ProposalRecord(self._next_id(), proposer, title, summary, messages, deposit, VOTING, height,
                           Height(height + params.voting_period_blocks))
        self.apply_proposal(p)
        return [*events, Event.of("proposal_submitted", proposal_id=p.id, proposer=proposer, deposit=deposit,
                                  messages=",".join(t for t, _ in messages),
                                  voting_end_height=p.voting_end_height)]

    def process_vote(self, voter: Address, proposal_id: int, option: int, height: Height) -> list[Event]:
        """Record (or replace) a bonded, non-jailed validator operator's vote on an open proposal."""
        p = self.require_proposal(proposal_id)
        if p.status != VOTING or height > p.voting_end_height:
            raise VotingClosedError(f"proposal {proposal_id} is {STATUS_NAMES.get(p.status, '?')}; voting is closed")
        if self.get_powers().get(voter.account, 0) == 0:
            raise NotAValidatorError(f"{voter} operates no bonded, non-jailed validator with voting power")
        self.store.set(keys.vote_key(proposal_id, voter.account), VoteRecord(proposal_id, voter, option, height).encode())
        return [Event.of("proposal_vote", proposal_id=proposal_id, voter=voter, option=OPTION_NAMES[option])]

    def process_end_block(self, height: Height, execute: Executor) -> list[Event]:
        """Tally every open proposal: execute those that passed, reject those whose period ended."""
        events: list[Event] = []
        for proposal_id in self.get_active_ids():
            p = self.require_proposal(proposal_id)
            tally = self.get_tally(proposal_id)
            if is_passing(tally):
                events.extend(self._process_passed(p, tally, height, execute))
            elif height >= p.voting_end_height:
                self._apply_end(p, REJECTED, tally, height)
                events.append(Event.of("proposal_rejected", proposal_id=p.id, yes_power=tally.yes,
                                       total_power=tally.total))
            else:
                continue
            events.extend(self._refund(p))
        return events

    def _process_passed(self, p: ProposalRecord, tally: Tally, height: Height, execute: Executor) -> list[Event]:
        """Run the messages (the executor writes all of them or, on the first failure, none)."""
        try:
            executed = execute(self.root, p, height)  # type: ignore[arg-type]
        except DistposError as err:
            self._apply_end(p, FAILED, tally, height, err.code, err.codespace)
            return [Event.of("proposal_failed", proposal_id=p.id, code=err.code, codespace=err.codespace)]
        self._apply_end(p, PASSED, tally, height)
        return [Event.of("proposal_passed", proposal_id=p.id, yes_power=tally.yes, total_power=tally.total),
                *executed]

    def _apply_end(self, p: ProposalRecord, status: int, tally: Tally, height: Height, code: int = 0,
                   codespace: str = "") -> None:
        self.apply_proposal(replace(p, status=status, end_height=height, final_tally=tally, failure_code=code,
                                    failure_codespace=codespace))

    def _refund(self, p: ProposalRecord) -> list[Event]:
        return BankKeeper(self.root).process_send(self._pool(), p.proposer, p.deposit)  # type: ignore[arg-type]
