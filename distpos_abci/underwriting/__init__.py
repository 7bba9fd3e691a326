"""underwriting: validators guarantee payments within payers' collateral (and their own credit); the chain makes
beneficiaries whole from that collateral, then from the underwriter's stake."""

from .guarantee import Guarantee, compute_guarantee_sign_bytes, decode_guarantee, sign_guarantee, verify_guarantee_signature
from .keeper import (
    COLLATERAL_POOL,
    PAID,
    RELEASED,
    Collateral,
    PremiumRate,
    Settlement,
    UnderwritingKeeper,
    compute_premium,
    compute_premium_split,
)
from .module import UnderwritingModule
from .msgs import (
    MsgCapacityEvidence,
    MsgClaim,
    MsgDepositCollateral,
    MsgSetPremium,
    MsgUnderwrittenTx,
    MsgUnlockCollateral,
    MsgWithdrawCollateral,
    build_capacity_evidence_tx,
    build_claim_tx,
    build_collateral_tx,
    build_set_premium_tx,
    build_underwritten_tx,
)
from .params import UnderwritingParams

__all__ = [
    "COLLATERAL_POOL", "Collateral", "MsgDepositCollateral", "MsgUnlockCollateral", "MsgWithdrawCollateral",
    "build_collateral_tx", "Guarantee", "MsgCapacityEvidence", "MsgClaim", "MsgUnderwrittenTx", "PAID", "RELEASED", "Settlement",
    "UnderwritingKeeper", "UnderwritingModule", "UnderwritingParams", "build_capacity_evidence_tx",
    "build_claim_tx", "build_underwritten_tx", "compute_guarantee_sign_bytes", "decode_guarantee",
    "sign_guarantee", "verify_guarantee_signature", "PremiumRate", "compute_premium", "compute_premium_split",
    "MsgSetPremium", "build_set_premium_tx",
]
