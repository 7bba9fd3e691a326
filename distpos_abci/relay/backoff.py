"""The relay's retry policy, a named pure function so its delays are pinned by a test."""

from __future__ import annotations

BASE_DELAY_S = 0.5
MAX_DELAY_S = 30.0


def exponential_backoff(attempt: int, base_s: float = BASE_DELAY_S, cap_s: float = MAX_DELAY_S) -> float:
    """Seconds to wait before retry number attempt (1-based): base * 2^(attempt-1), capped; no jitter.

    0.5, 1, 2, 4, 8, 16, 30, 30, ... Without jitter the delays are reproducible; relays of one chain
    desynchronise anyway through their different start times and the chain rejecting duplicates.
    """
    if attempt <= 0:
        return 0.0
    return min(cap_s, base_s * (1 << min(attempt - 1, 32)))


def compute_handover_delay(attempts: int, taken: bool, resend_after_s: float) -> float:
    """Seconds until a packet handed over `attempts` times is handed over again.

    Not taken (refused, unreachable, missing from `held`): exponential_backoff(attempts). Taken: resend_after_s,
    since a relay that says it holds a packet deserves that long to deliver it before it is suspected of dropping.
    """
    return resend_after_s if taken else exponential_backoff(attempts)


def is_direct_due(attempts: int, direct_after_attempts: int, can_reach: bool) -> bool:
    """True when the source relay should deliver a packet itself instead of handing it over once more."""
    return can_reach and direct_after_attempts > 0 and attempts >= direct_after_attempts
