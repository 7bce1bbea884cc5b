"""Exponential backoff: the one formula for every wait that grows after a failure.

Retrying a deferred recipient, reopening a connection that broke, resting a
relay that failed: each waits ``first`` seconds after the first failure,
twice as long after each further one, and never more than ``cap``.
"""

from __future__ import annotations


def backoff(failures: int, first: float, cap: float) -> float:
    """Seconds to wait after ``failures`` failures in a row (1 or more)."""
    # The exponent is capped: retried often enough, 2 ** n no longer fits in a float.
    delay: float = first * 2 ** min(max(failures, 1) - 1, 64)
    return min(delay, cap)
