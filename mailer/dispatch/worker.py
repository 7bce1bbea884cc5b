"""The worker: what ``campaigns run`` does, round after round, until it is asked to stop.

``mailer worker`` is the long-running alternative to a cron job (a systemd
service). Each round starts the scheduled campaigns whose time has come and
delivers every campaign with work due (``run.run_due``). Rounds begin every
``interval`` seconds; a scheduled campaign that falls due sooner shortens
the wait, so a letter set for 08:00 leaves at 08:00 and not up to an
interval later.

Stopping: SIGTERM or SIGINT sets the stop flag. Between rounds the wait
ends at once; during a delivery the sender lets the messages in flight
finish and commits its journal, and the campaign stays ``sending`` for the
next start. A campaign that cannot be sent, or a round that fails as a
whole (the database locked too long), is reported and the worker goes on.
The loop takes its clock, its sleep and its stop flag as parameters, so a
test drives it without waiting.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime

from mailer import clock
from mailer.config import Config
from mailer.dispatch.assemble import StopFlag
from mailer.dispatch.run import RunResult, run_due
from mailer.dispatch.schedule import Started
from mailer.errors import Interrupted, MailerError
from mailer.store import Store, campaigns


class Stop:
    """A stop request that a signal handler may make at any moment, and a wait it cuts short.

    A ``threading.Event`` set from a signal handler can deadlock: the handler
    runs in the main thread, which may hold the event's lock inside ``wait``
    at that instant. Writing a byte to a pipe, which ``wait`` watches with
    ``select``, cannot.
    """

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._set = False

    def set(self) -> None:
        """Ask for stopping (safe in a signal handler); a wait in progress ends."""
        self._set = True
        with contextlib.suppress(OSError):
            os.write(self._write, b"\0")

    def is_set(self) -> bool:
        """Whether stopping was asked for."""
        return self._set

    def wait(self, seconds: float) -> None:
        """Wait ``seconds``, or less when stopping is asked for meanwhile."""
        if not self._set:
            select.select([self._read], [], [], max(0.0, seconds))

    def close(self) -> None:
        """Release the pipe."""
        os.close(self._read)
        os.close(self._write)


@contextlib.contextmanager
def stopped_by_signals(stop: StopFlag) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` inside the block; the handlers before are put back."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, lambda _signum, _frame: stop.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:
                signal.signal(sig, handler)


def serve(
    config: Config,
    store: Store,
    *,
    interval: float,
    stop: StopFlag,
    sleep: Callable[[float], object],
    now: Callable[[], datetime] = clock.now,
    on_start: Callable[[Started], None] | None = None,
    on_result: Callable[[RunResult | MailerError, int], None] | None = None,
    on_error: Callable[[Exception], None] | None = None,
) -> int:
    """Run rounds until ``stop`` is set; how many rounds ran.

    ``on_start`` hears of each scheduled campaign started, ``on_result`` of
    each delivery run or campaign that failed (an interrupted one too),
    ``on_error`` of a round that failed as a whole.
    """
    rounds = 0
    while not stop.is_set():
        began = now()
        try:
            run_due(config, store, on_result=on_result, on_start=on_start, stop=stop)
        except Interrupted as exc:  # a signal during a delivery: finished cleanly, stop
            if on_result is not None:
                on_result(exc, exc.campaign_id)
            stop.set()
        except (MailerError, sqlite3.Error) as exc:
            if on_error is not None:
                on_error(exc)
        rounds += 1
        if not stop.is_set():
            sleep(pause(store, interval=interval, began=began, now=now()))
    return rounds


def pause(store: Store, *, interval: float, began: datetime, now: datetime) -> float:
    """Seconds until the next round: ``interval`` after the last one began, or sooner when
    a scheduled campaign falls due before that."""
    wait = interval - (now - began).total_seconds()
    upcoming = campaigns.next_scheduled(store, clock.iso(now))
    if upcoming is not None:
        wait = min(wait, (clock.parse_iso(upcoming) - now).total_seconds())
    return max(0.0, min(interval, wait))
