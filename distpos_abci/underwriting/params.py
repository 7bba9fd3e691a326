"""Underwriting parameters: integers in blocks, set in genesis, queryable."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from ..errors import GenesisError


@dataclass(frozen=True, slots=True)
class UnderwritingParams:
    """Parameters of guarantees and claims."""

    # Longest lifetime of a guarantee: expiry_height - issued_height.
    max_guarantee_blocks: int = 20
    # Blocks after expiry during which MsgClaim is accepted. Together with max_guarantee_blocks it must fit in
    # staking.unbonding_blocks, so stake unbonded after signing still backs every claim on that guarantee.
    claim_window_blocks: int = 50
    # Blocks a payer's unlocking collateral stays seizable before it can be withdrawn. Must exceed
    # max_guarantee_blocks + claim_window_blocks, so every guarantee signed against collateral before the
    # unlock can still be paid from it.
    collateral_unlock_blocks: int = 80

    def encode(self) -> bytes:
        """Canonical JSON."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: object) -> "UnderwritingParams":
        """Validate a params object; unknown keys and non-integers are errors."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise GenesisError("underwriting.params must be an object")
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise GenesisError(f"unknown underwriting.params: {', '.join(unknown)}")
        values = {}
        for name in names:
            value = data.get(name, getattr(cls(), name))
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 1 << 40:
                raise GenesisError(f"underwriting.params.{name} must be a positive integer, got {value!r}")
            values[name] = value
        params = cls(**values)
        params.validate()
        return params

    def validate(self) -> None:
        """Raise GenesisError unless unlocking collateral outlives every claim on guarantees it backed."""
        if self.collateral_unlock_blocks <= self.max_guarantee_blocks + self.claim_window_blocks:
            raise GenesisError(
                f"underwriting.params.collateral_unlock_blocks ({self.collateral_unlock_blocks}) must exceed "
                f"max_guarantee_blocks + claim_window_blocks ({self.max_guarantee_blocks + self.claim_window_blocks})"
            )
