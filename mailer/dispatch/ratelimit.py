"""Token buckets: the global sending rate and one rate per destination domain.

A bucket holds at most ``burst`` tokens and refills at ``rate`` per second;
taking a token when none is left waits exactly as long as the refill needs.
Monotonic time is used (not ``mailer.clock``), because this is about pacing a
socket, not about what the journal records. The buckets only say how long to
wait; the sender waits (so that Ctrl-C can cut the wait short).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; ``rate <= 0`` means no limit."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        # A tenth of a second's worth by default: "N per second" holds over any second.
        self.burst = max(1.0, burst if burst is not None else rate / 10)
        self._clock = clock
        self._tokens = self.burst
        self._stamp = clock()

    @property
    def unlimited(self) -> bool:
        """A rate of zero (or less) means no limit at all."""
        return self.rate <= 0

    def delay(self) -> float:
        """Take one token now and return how long to wait before using it."""
        if self.unlimited:
            return 0.0
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens -= 1.0
        # A negative balance is a queue of waiters: each waits for its own refill.
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


class RateLimits:
    """The global bucket and one bucket per destination domain, made on demand."""

    #: Forget idle domain buckets beyond this many, so that memory stays flat.
    MAX_DOMAINS = 10_000

    def __init__(
        self, rate: float, domain_rate: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.global_bucket = TokenBucket(rate, clock=clock)
        self.domain_rate = domain_rate
        self._clock = clock
        self._domains: dict[str, TokenBucket] = {}

    @property
    def unlimited(self) -> bool:
        """Neither a global nor a per-domain rate: nothing ever waits."""
        return self.global_bucket.unlimited and self.domain_rate <= 0

    def delay(self, recipient: str) -> float:
        """Take both allowances now and return how long to wait before using them."""
        wait = self.global_bucket.delay()
        if self.domain_rate > 0:
            domain = recipient.rpartition("@")[2].lower()
            bucket = self._domains.get(domain)
            if bucket is None:
                if len(self._domains) >= self.MAX_DOMAINS:
                    self._domains.clear()
                bucket = self._domains[domain] = TokenBucket(self.domain_rate, clock=self._clock)
            wait = max(wait, bucket.delay())
        return wait
