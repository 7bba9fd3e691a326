"""underwriting: validators guarantee transactions within their stake; the chain makes beneficiaries whole."""

from .guarantee import Guarantee, compute_guarantee_sign_bytes, decode_guarantee, sign_guarantee, verify_guarantee_signature
from .keeper import PAID, RELEASED, Settlement, UnderwritingKeeper
from .module import UnderwritingModule
from .msgs import (
    MsgCapacityEvidence,
    MsgClaim,
    MsgUnderwrittenTx,
    build_capacity_evidence_tx,
    build_claim_tx,
    build_underwritten_tx,
)
from .params import UnderwritingParams

__all__ = [
    "Guarantee", "MsgCapacityEvidence", "MsgClaim", "MsgUnderwrittenTx", "PAID", "RELEASED", "Settlement",
    "UnderwritingKeeper", "UnderwritingModule", "UnderwritingParams", "build_capacity_evidence_tx",
    "build_claim_tx", "build_underwritten_tx", "compute_guarantee_sign_bytes", "decode_guarantee",
    "sign_guarantee", "verify_guarantee_signature",
]
