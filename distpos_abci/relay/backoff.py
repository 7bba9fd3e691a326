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
