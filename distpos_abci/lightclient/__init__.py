"""A pure CometBFT light client: header and validator-set hashes, vote sign bytes, commit verification."""

from .encoding import (
    compute_header_hash,
    compute_merkle_root,
    compute_validator_set_hash,
    compute_vote_sign_bytes,
)
from .types import ClientState, ConsensusState, LightBlock, SignedHeader, ValidatorSet
from .verifier import (
    compute_client_after,
    compute_evidence_hash,
    validate_conflicting_block,
    validate_light_block,
    validate_light_block_basic,
)

__all__ = [
    "ClientState",
    "ConsensusState",
    "LightBlock",
    "SignedHeader",
    "ValidatorSet",
    "compute_client_after",
    "compute_evidence_hash",
    "compute_header_hash",
    "compute_merkle_root",
    "compute_validator_set_hash",
    "compute_vote_sign_bytes",
    "validate_conflicting_block",
    "validate_light_block",
    "validate_light_block_basic",
]
