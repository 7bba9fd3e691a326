"""The on-chain policy hook: may a correspondent's packet be paid? Deterministic, pure.

The checks run in this order and the first refusal becomes the error ack (the packet is refunded on its
source chain). Operator-written Python rules do not run here (they would break determinism): they run in
the relay (distpos_abci/relay/policy.py), which then does not deliver the packet, so it times out and is
refunded with a proof.
"""

from __future__ import annotations

from ..errors import (
    CorrespondentSuspendedError,
    InsufficientReservesError,
    InterchainError,
    PacketOverLimitError,
    PolicyRejectedError,
    RateLimitedError,
)
from ..types import Amount, Height
from .records import Correspondent

MIN_SAMPLES_FOR_FAILURE_RATE = 10


def compute_window(corr: Correspondent, height: Height) -> tuple[Height, Amount]:
    """The rate window (start, used) in force at height: a new window starts every rate_window_blocks."""
    w = corr.limits.rate_window_blocks
    if w <= 0 or height >= corr.window_start + w:
        return height, Amount(0)
    return corr.window_start, corr.window_used


def is_failure_rate_exceeded(corr: Correspondent) -> bool:
    """True when more than max_failure_pct of the (at least 10) packets received so far were refused for limits."""
    pct = corr.limits.max_failure_pct
    total = corr.received_ok + corr.received_failed
    return pct > 0 and total >= MIN_SAMPLES_FOR_FAILURE_RATE and corr.received_failed * 100 > pct * total


def compute_refusal(corr: Correspondent, reserve: Amount, amount: Amount, height: Height) -> InterchainError | None:
    """Why a packet of amount from corr's chain must be refused at height, or None to pay it."""
    limits = corr.limits
    if corr.suspended:
        return CorrespondentSuspendedError(f"correspondent {corr.chain_id} is suspended until a top-up")
    if is_failure_rate_exceeded(corr):
        return PolicyRejectedError(f"correspondent {corr.chain_id} failure rate is above {limits.max_failure_pct}%")
    if limits.per_packet_max and amount > limits.per_packet_max:
        return PacketOverLimitError(f"amount {amount} is above the per-packet maximum {limits.per_packet_max}")
    if limits.rate_limit:
        _, used = compute_window(corr, height)
        if used + amount > limits.rate_limit:
            return RateLimitedError(
                f"amount {amount} would exceed the rate limit {limits.rate_limit} per {limits.rate_window_blocks} blocks"
            )
    if amount > reserve:
        return InsufficientReservesError(f"reserve of {corr.chain_id} is {reserve}, packet needs {amount}")
    return None
