"""Store layout of the distribution area. The keeper is the only code that touches it."""

from ..authority import compute_module_account
from ..types import AccountId

PREFIX = b"distribution/"  # owned by distribution
PARAMS = b"params"  # canonical JSON of DistributionParams
REWARDS = b"rew/"  # rew/<operator account 20> -> u64 rewards accrued and not withdrawn; absent = 0
REMAINDER = b"remainder"  # u64 integer remainder of the last split, carried to the next block; absent = 0
MINTED = b"minted"  # u64 total minted by inflation since genesis; absent = 0

# Module accounts (bank balances): every transaction's fee is paid into FEE_COLLECTOR; at the next block's start
# its whole balance (and the block's inflation) moves to REWARDS_POOL, which holds every validator's accrued
# rewards plus the remainder. Invariant: balance(REWARDS_POOL) == sum(rewards) + remainder.
FEE_COLLECTOR: AccountId = compute_module_account("fee_collector")
REWARDS_POOL: AccountId = compute_module_account("distribution")


def rewards_key(operator: bytes) -> bytes:
    """Key (within PREFIX) of a validator's accrued rewards."""
    return REWARDS + operator
