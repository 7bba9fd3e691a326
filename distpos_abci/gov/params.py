"""Gov parameters: integers only, set in genesis, changed by proposal, queryable."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from ..errors import GenesisError
from ..types import MAX_AMOUNT


@dataclass(frozen=True, slots=True)
class GovParams:
    """Parameters of proposals and voting."""

    # Blocks a proposal is open for votes: voting_end_height = submit height + voting_period_blocks.
    voting_period_blocks: int = 100
    # Smallest deposit MsgSubmitProposal locks from the proposer (refunded when the proposal ends).
    min_deposit: int = 1_000
    # Largest number of proposals open for votes at once.
    max_active_proposals: int = 10

    def encode(self) -> bytes:
        """Canonical JSON (sorted keys, no spaces): identical bytes on every node."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: object) -> "GovParams":
        """Validate a params object; unknown keys, non-integers and out-of-range values are errors."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise GenesisError("gov.params must be an object")
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise GenesisError(f"unknown gov.params: {', '.join(unknown)}")
        values = {}
        for name in names:
            value = data.get(name, getattr(cls(), name))
            if isinstance(value, bool) or not isinstance(value, int):
                raise GenesisError(f"gov.params.{name} must be an integer, got {value!r}")
            values[name] = value
        params = cls(**values)
        validate_params(params)
        return params


def validate_params(p: GovParams) -> None:
    """Raise GenesisError unless every parameter is in range."""
    if not 1 <= p.voting_period_blocks <= 1 << 40:
        raise GenesisError("gov.params.voting_period_blocks must be between 1 and 2^40")
    if not 1 <= p.min_deposit <= MAX_AMOUNT:
        raise GenesisError("gov.params.min_deposit must be a positive amount (a free proposal costs a spammer nothing)")
    if not 1 <= p.max_active_proposals <= 1000:
        raise GenesisError("gov.params.max_active_proposals must be between 1 and 1000")
