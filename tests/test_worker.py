"""``mailer worker``: rounds of ``campaigns run`` on a clock, until a stop or a signal."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pytest

from mailer import clock
from mailer.config import load_config
from mailer.dispatch import worker
from mailer.dispatch.run import RunResult
from mailer.dispatch.schedule import Started
from mailer.errors import MailerError
from mailer.store import Store, campaigns
from tests.clocks import FakeClock
from tests.conftest import Invoke
from tests.smtp_sink import SmtpSink, populate, sink_environment


class Log:
    """What the worker reported, in order."""

    def __init__(self) -> None:
        self.started: list[Started] = []
        self.results: list[RunResult | MailerError] = []
        self.errors: list[Exception] = []

    def on_result(self, result: RunResult | MailerError, campaign_id: int) -> None:
        self.results.append(result)

    def done(self) -> bool:
        return any(isinstance(r, RunResult) and r.state == "done" for r in self.results)


def test_the_worker_starts_a_campaign_at_its_time_not_a_round_later(
    db_path: Path, store: Store, sink: SmtpSink, spring_letter: Path, invoke: Invoke,
    fake_clock: FakeClock,
) -> None:
    emails = populate(store, "members", 4)
    made = invoke("send", str(spring_letter), "--list", "members", "--at", "2026-12-01 09:30:30",
                  "--tz", "UTC", "--yes")
    assert made.exit_code == 0, made.output
    log = Log()
    stop = threading.Event()

    def sleep(seconds: float) -> None:
        if log.done():
            stop.set()
        fake_clock.wait(seconds)

    rounds = worker.serve(load_config(db=db_path), store, interval=60, stop=stop, sleep=sleep,
                          now=fake_clock, on_start=log.started.append,
                          on_result=log.on_result, on_error=log.errors.append)
    # Rounds at 09:00, 09:01 ... 09:30, then 30 s to the campaign's time and the round
    # that sends it.
    assert fake_clock.slept[:31] == [60.0] * 30 + [30.0]
    assert rounds == 32
    assert log.started == [Started(1, 4, "2026-12-01T09:30:30Z", "UTC")]
    assert campaigns.get(store, 1).started_at == "2026-12-01T09:30:30Z"
    assert sink.counts() == dict.fromkeys(emails, 1)
    assert log.errors == []


def test_a_failing_campaign_does_not_stop_the_worker(
    db_path: Path, store: Store, sink: SmtpSink, spring_letter: Path, invoke: Invoke,
    fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    emails = populate(store, "members", 3)
    monkeypatch.setenv("MAILER_SMTP_CONNECT_ATTEMPTS", "1")
    assert invoke("send", str(spring_letter), "--list", "members", "--at", "2026-12-01 09:00:10",
                  "--tz", "UTC", "--yes").exit_code == 0
    fake_clock.advance(minutes=1)
    sink.faults.refuse_all = True  # the relay is down for the first round
    log = Log()
    stop = threading.Event()

    def sleep(seconds: float) -> None:
        sink.faults.refuse_all = False
        if log.done():
            stop.set()
        fake_clock.wait(seconds)

    worker.serve(load_config(db=db_path), store, interval=60, stop=stop, sleep=sleep,
                 now=fake_clock, on_result=log.on_result)
    failure, result = log.results
    assert isinstance(failure, MailerError) and "recipients not yet sent" in str(failure)
    assert isinstance(result, RunResult) and (result.sent, result.state) == (3, "done")
    assert sink.counts() == dict.fromkeys(emails, 1)


def test_a_stop_asked_for_before_a_round_sends_nothing(
    db_path: Path, store: Store, spring_letter: Path, invoke: Invoke, fake_clock: FakeClock,
    tmp_path: Path,
) -> None:
    populate(store, "members", 2)
    assert invoke("send", str(spring_letter), "--list", "members", "--at", "2026-12-01 09:00:10",
                  "--tz", "UTC", "--yes").exit_code == 0
    fake_clock.advance(minutes=1)
    stop = worker.Stop()
    try:
        stop.set()
        stop.wait(3600)  # returns at once: no real waiting once stopping is asked for
        rounds = worker.serve(load_config(db=db_path), store, interval=60, stop=stop,
                              sleep=fake_clock.wait, now=fake_clock)
    finally:
        stop.close()
    assert rounds == 0
    assert campaigns.get(store, 1).state == "scheduled"
    assert not (tmp_path / "outbox" / "new").exists()


def test_the_pause_never_spins_on_a_campaign_that_failed_to_start(
    store: Store, fake_clock: FakeClock
) -> None:
    """A campaign past its time is not "due soon": a round that could not start it is
    followed by the usual pause, not by another round at once."""
    began = fake_clock()
    populate(store, "members", 1)
    from mailer.store.lists import get_list

    campaigns.create(store, lists=[get_list(store, "members")], subject="s", letter_path="l",
                     letter_source="x", scheduled_at="2026-12-01T08:00:00Z",
                     scheduled_zone="UTC")
    assert worker.pause(store, interval=60, began=began, now=fake_clock()) == 60
    campaigns.create(store, lists=[get_list(store, "members")], subject="s", letter_path="l",
                     letter_source="y", scheduled_at="2026-12-01T09:00:20Z",
                     scheduled_zone="UTC")
    fake_clock.advance(5)
    assert worker.pause(store, interval=60, began=began, now=fake_clock()) == 15


# -- the command, in a process of its own ------------------------------------------------


class Lines:
    """A process's standard error, line by line, read in a thread so a test can wait for a
    line with a deadline instead of sleeping."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        assert process.stderr is not None
        threading.Thread(target=self._read, args=(process.stderr,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for(self, text: str, seconds: float = 30) -> str:
        deadline = time.monotonic() + seconds
        while True:
            line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if line is None:
                raise AssertionError(f"the worker ended before {text!r}: {self.seen}")
            self.seen.append(line)
            if text in line:
                return line

    def rest(self) -> list[str]:
        while (line := self._lines.get(timeout=30)) is not None:
            self.seen.append(line)
        return self.seen


def start_worker(db_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mailer", "--db", str(db_path), "worker", "--interval", "3600"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_worker_sends_a_due_campaign_then_stops_on_sigterm_with_status_0(
    db_path: Path, store: Store, sink: SmtpSink, spring_letter: Path, invoke: Invoke,
) -> None:
    emails = populate(store, "members", 5)
    clock.set_clock(FakeClock(datetime(2026, 1, 1, tzinfo=UTC)))
    made = invoke("send", str(spring_letter), "--list", "members", "--at", "2026-01-01 08:00",
                  "--tz", "Europe/Berlin", "--yes")
    clock.set_clock(None)
    assert made.exit_code == 0, made.output
    process = start_worker(db_path, sink_environment(sink.port))
    lines = Lines(process)
    try:
        lines.wait_for("worker: a round every 3600 s")
        started = lines.wait_for("campaign 1: started")
        assert "5 recipients (scheduled for 2026-01-01 08:00 Europe/Berlin)" in started
        lines.wait_for("campaign 1: sent 5, deferred 0, failed 0, pending 0 (done)")
        process.send_signal(signal.SIGTERM)  # it waits for its next round now
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert lines.rest()[-1] == "worker: stopped"
    assert not any("Traceback" in line for line in lines.seen)
    assert sink.counts() == dict.fromkeys(emails, 1)


def test_sigterm_in_the_middle_of_a_campaign_finishes_what_is_in_flight(
    db_path: Path, store: Store, sink: SmtpSink, spring_letter: Path, invoke: Invoke,
) -> None:
    emails = populate(store, "members", 200)
    clock.set_clock(FakeClock(datetime(2026, 1, 1, tzinfo=UTC)))
    assert invoke("send", str(spring_letter), "--list", "members", "--at", "2026-01-01 08:00",
                  "--tz", "UTC", "--yes").exit_code == 0
    clock.set_clock(None)
    sink.hold(20)
    process = start_worker(db_path, sink_environment(sink.port))
    lines = Lines(process)
    try:
        lines.wait_for("campaign 1: started, 200 recipients")
        deadline = time.monotonic() + 60
        while len(sink.received) < 20 and time.monotonic() < deadline:
            time.sleep(0.002)  # polling for progress, as the crash tests do
        process.send_signal(signal.SIGTERM)
        sink.release()  # the messages in flight are to be finished, not cut off
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    log = lines.rest()
    assert any("campaign 1: stopped with" in line and "recipients left" in line for line in log)
    assert log[-1] == "worker: stopped"
    row = store.one("SELECT state, (SELECT count(*) FROM deliveries WHERE state = 'sent') "
                    "FROM campaigns WHERE id = 1")
    assert row is not None
    assert row[0] == "sending"  # not paused: the next round carries on with it
    assert row[1] == len(sink.received) < 200

    finished = invoke("campaigns", "run")
    assert finished.exit_code == 0, finished.output
    assert sink.counts() == dict.fromkeys(emails, 1)


def test_the_worker_refuses_to_start_without_the_signing_key(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MAILER_SECRET_KEY", raising=False)
    result = invoke("worker")
    assert result.exit_code == 1
    assert "MAILER_SECRET_KEY" in result.stderr
