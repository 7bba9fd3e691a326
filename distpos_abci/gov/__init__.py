"""gov: validators holding more than 2/3 of bonded power approve proposals that run as the gov authority."""

from .keeper import GovKeeper, ProposalRecord, Tally, VoteRecord, compute_tally, is_passing
from .module import GovModule
from .msgs import (
    MsgSubmitProposal,
    MsgUpdateParams,
    MsgVote,
    build_proposal_message,
    build_submit_proposal_tx,
    build_update_params_message,
    build_vote_tx,
)
from .params import GovParams

__all__ = [
    "GovKeeper", "GovModule", "GovParams", "MsgSubmitProposal", "MsgUpdateParams", "MsgVote", "ProposalRecord",
    "Tally", "VoteRecord",
    "build_proposal_message", "build_submit_proposal_tx", "build_update_params_message", "build_vote_tx",
    "compute_tally", "is_passing",
]
