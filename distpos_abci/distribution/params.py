"""Distribution parameters: integers only, set in genesis, changed by governance (module "distribution")."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from ..errors import GenesisError

MAX_INFLATION_PER_BLOCK = 1 << 48  # far below 2^64 so years of blocks cannot overflow the supply by surprise


@dataclass(frozen=True, slots=True)
class DistributionParams:
    """Parameters of the reward split."""

    # Base units minted into the reward pool at the start of every block and split with the fees (0 = none).
    inflation_per_block: int = 0

    def encode(self) -> bytes:
        """Canonical JSON (sorted keys, no spaces): identical bytes on every node."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: object) -> "DistributionParams":
        """Validate a params object; unknown keys, floats and out-of-range values are errors."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise GenesisError("distribution.params must be an object")
        unknown = sorted(set(data) - {"inflation_per_block"})
        if unknown:
            raise GenesisError(f"unknown distribution.params: {', '.join(unknown)}")
        value = data.get("inflation_per_block", 0)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INFLATION_PER_BLOCK:
            raise GenesisError(f"distribution.params.inflation_per_block must be an integer from 0 to "
                               f"{MAX_INFLATION_PER_BLOCK}, got {value!r}")
        return cls(inflation_per_block=value)
