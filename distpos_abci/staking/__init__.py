"""staking: validators bond stake, the validator set follows it, misbehavior and downtime are punished."""

from .keeper import ValidatorRecord, StakingKeeper, UnbondingEntry, compute_consensus_address
from .module import StakingModule
from .msgs import (
    MsgBond,
    MsgCreateValidator,
    MsgUnbond,
    MsgUnjail,
    MsgWithdraw,
    build_bond_tx,
    build_create_validator_tx,
    build_unbond_tx,
    build_unjail_tx,
    build_withdraw_tx,
)
from .params import StakingParams

__all__ = [
    "MsgBond", "MsgCreateValidator", "MsgUnbond", "MsgUnjail", "MsgWithdraw", "StakingKeeper", "StakingModule",
    "StakingParams", "UnbondingEntry", "ValidatorRecord", "build_bond_tx", "build_create_validator_tx",
    "build_unbond_tx", "build_unjail_tx", "build_withdraw_tx", "compute_consensus_address",
]
