"""The one fake clock of the test suite (the ``fake_clock`` fixture in conftest installs it).

Time that moves only when a test moves it makes the waits of the program
(retry backoff, bounce decay, rate limits, log throttling) checkable to the
second and free of real sleeping.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

#: Where a fake clock starts unless told otherwise.
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class FakeClock:
    """A wall clock, a monotonic clock and a sleep, all moved by hand.

    Called, it gives the wall-clock time, as ``mailer.clock`` reads it.
    ``monotonic`` gives the seconds a pacing clock reads (rate limits, log
    throttling); it moves with the wall clock. ``sleep`` stands in for
    ``asyncio.sleep`` (and ``wait`` for a blocking sleep): it records the wait
    and moves the clock on instead of waiting, so a test can both skip a
    wait and check how long it was.
    """

    def __init__(self, start: datetime = START) -> None:
        self.start = start
        self.now = start
        #: Every wait asked of ``sleep``, in order.
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        """Seconds since an arbitrary origin, as ``time.monotonic`` counts them."""
        return 1000.0 + (self.now - self.start).total_seconds()

    def advance(self, seconds: float = 0.0, **more: float) -> None:
        """Move the clock on by ``seconds`` (and ``days=``, ``hours=``... as timedelta takes)."""
        self.now += timedelta(seconds=seconds, **more)

    async def sleep(self, seconds: float) -> None:
        """Record the wait and move the clock past it at once."""
        self.wait(seconds)

    def wait(self, seconds: float) -> None:
        """``sleep`` for code that is not async (the worker's loop): record, move on."""
        self.slept.append(seconds)
        self.advance(max(0.0, seconds))
