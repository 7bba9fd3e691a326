"""The on-chain policy hook: may a correspondent's packet be paid? Deterministic, pure.

The checks run in this order and the first refusal becomes the error ack (the packet is refunded on its
source chain). Operator-written Python rules do not run here (they would break determinism): they run in
the relay (distpos_abci/relay/policy.py), which then does not deliver the packet, so it times out and is
refunded with a proof.
"""

from __future__ import annotations

from ..errors import (
    CorrespondentClosedError,
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


def compute_failure_window(corr: Correspondent, height: Height) -> tuple[Height, int, int]:
    """The breaker window (start, paid, refused for limits) in force at height: a tumbling window of
    failure_window_blocks; a new one starts, with zero counts, at the first packet after the last one ended."""
    w = corr.limits.failure_window_blocks
    if w <= 0 or height >= corr.failure_window_start + w:
        return height, 0, 0
    return corr.failure_window_start, corr.window_ok, corr.window_failed


def is_failure_rate_exceeded(corr: Correspondent, height: Height) -> bool:
    """True (the breaker is open) when more than max_failure_pct of the at least 10 packets received in the
    breaker window in force at height were refused for limits. Refusals by the breaker itself do not count,
    so the counts stop growing while it is open and it closes again with the next window."""
    pct = corr.limits.max_failure_pct
    _, ok, failed = compute_failure_window(corr, height)
    total = ok + failed
    return pct > 0 and total >= MIN_SAMPLES_FOR_FAILURE_RATE and failed * 100 > pct * total


def compute_refusal(corr: Correspondent, reserve: Amount, amount: Amount, height: Height) -> InterchainError | None:
    """Why a packet of amount from corr's chain must be refused at height, or None to pay it."""
    limits = corr.limits
    if corr.closed:
        return CorrespondentClosedError(f"correspondent {corr.chain_id} was closed by governance")
    if corr.suspended:
        return CorrespondentSuspendedError(f"correspondent {corr.chain_id} is suspended until a top-up")
    if is_failure_rate_exceeded(corr, height):
        return PolicyRejectedError(
            f"correspondent {corr.chain_id} failure rate is above {limits.max_failure_pct}% in the window of "
            f"{limits.failure_window_blocks} blocks from {corr.failure_window_start}"
        )
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
