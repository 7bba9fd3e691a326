"""Store layout of the gov area. The keeper is the only code that touches it."""

from ..authority import compute_module_account
from ..types import AccountId

PREFIX = b"gov/"  # owned by gov
PARAMS = b"params"  # canonical JSON of GovParams
NEXT_ID = b"next_id"  # u64: id of the next proposal (ids start at 1)
PROPOSAL = b"prop/"  # prop/<id u64> -> distpos.v1.Proposal
ACTIVE = b"active/"  # active/<id u64> -> 0x01 while the proposal is open for votes (tallied every end_block)
VOTE = b"vote/"  # vote/<id u64><voter account 20> -> distpos.v1.Vote

# The module account holding every locked deposit: balance == sum of the deposits of active proposals.
# It is not the governance authority, so no proposal can spend the deposits.
DEPOSIT_POOL: AccountId = compute_module_account("gov/deposits")


def proposal_key(proposal_id: int) -> bytes:
    """Key (within PREFIX) of a proposal record."""
    return PROPOSAL + proposal_id.to_bytes(8, "big")


def active_key(proposal_id: int) -> bytes:
    """Key (within PREFIX) marking a proposal as open for votes."""
    return ACTIVE + proposal_id.to_bytes(8, "big")


def votes_prefix(proposal_id: int) -> bytes:
    """Prefix (within PREFIX) of a proposal's votes, ordered by voter account."""
    return VOTE + proposal_id.to_bytes(8, "big")


def vote_key(proposal_id: int, voter: bytes) -> bytes:
    """Key (within PREFIX) of one validator operator's vote."""
    return votes_prefix(proposal_id) + voter
