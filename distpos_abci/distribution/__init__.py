"""distribution: transaction fees collected into a module account and split among the validators that signed."""

from .keeper import DistributionKeeper, RewardSplit, compute_mint, compute_reward_split, validate_fee_funds
from .keys import FEE_COLLECTOR, REWARDS_POOL
from .module import DistributionModule
from .msgs import MsgWithdrawRewards, build_withdraw_rewards_tx
from .params import DistributionParams

__all__ = [
    "DistributionKeeper", "DistributionModule", "DistributionParams", "FEE_COLLECTOR", "MsgWithdrawRewards",
    "REWARDS_POOL", "RewardSplit", "build_withdraw_rewards_tx", "compute_mint", "compute_reward_split",
    "validate_fee_funds",
]
