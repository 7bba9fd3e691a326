"""Staking parameters: integers only (fractions in parts per million), set in genesis, queryable."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from ..errors import GenesisError

PPM = 1_000_000  # fractions are parts per million: 50_000 = 5 %


@dataclass(frozen=True, slots=True)
class StakingParams:
    """Parameters of staking and slashing."""

    # Blocks between MsgUnbond and the first height MsgWithdraw pays the entry out.
    unbonding_blocks: int = 100
    # Consensus time between MsgUnbond and the first block time MsgWithdraw pays it out: an entry matures when
    # both bounds are reached. Other chains' light clients of this chain need a trusting period shorter than it.
    unbonding_time_ns: int = 21 * 86_400 * 1_000_000_000
    # Base units of bonded stake per unit of CometBFT voting power (power = bonded // power_reduction).
    power_reduction: int = 1_000
    # Smallest self-stake MsgCreateValidator accepts.
    min_self_stake: int = 1_000
    # Share of a validator's stake (bonded + unbonding) burned for double signing, ppm.
    slash_fraction_double_sign_ppm: int = 50_000
    # Share burned when jailed for downtime, ppm.
    slash_fraction_downtime_ppm: int = 10_000
    # Length of the tumbling window over which missed blocks are counted.
    downtime_window: int = 100
    # Blocks a validator must sign per window; missing more than window - this jails it.
    min_signed_per_window: int = 50
    # Blocks a jailed validator waits before MsgUnjail is accepted.
    jail_blocks: int = 100
    # Largest validator set sent to CometBFT (highest stake first, ties by operator address).
    max_validators: int = 50

    def encode(self) -> bytes:
        """Canonical JSON (sorted keys, no spaces): identical bytes on every node."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: object) -> "StakingParams":
        """Validate a params object; unknown keys, floats and out-of-range values are errors."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise GenesisError("staking.params must be an object")
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise GenesisError(f"unknown staking.params: {', '.join(unknown)}")
        values = {}
        for name in names:
            value = data.get(name, getattr(cls(), name))
            if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value >= 1 << 62:
                raise GenesisError(f"staking.params.{name} must be a non-negative integer, got {value!r}")
            values[name] = value
        params = cls(**values)
        validate_params(params)
        return params


def validate_params(p: StakingParams) -> None:
    """Raise GenesisError unless the parameters are mutually consistent."""
    for name in ("unbonding_blocks", "unbonding_time_ns", "power_reduction", "downtime_window", "max_validators", "jail_blocks"):
        if getattr(p, name) < 1:
            raise GenesisError(f"staking.params.{name} must be at least 1")
    if p.min_signed_per_window > p.downtime_window:
        raise GenesisError("staking.params.min_signed_per_window cannot exceed downtime_window")
    for name in ("slash_fraction_double_sign_ppm", "slash_fraction_downtime_ppm"):
        if getattr(p, name) > PPM:
            raise GenesisError(f"staking.params.{name} is in ppm and cannot exceed {PPM}")
    if p.min_self_stake < p.power_reduction:
        raise GenesisError("staking.params.min_self_stake must be at least power_reduction (one unit of power)")
