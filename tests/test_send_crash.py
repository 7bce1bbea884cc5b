"""A killed (SIGKILL) or interrupted (SIGINT) ``mailer send`` is finished by ``resume``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailer.store import Store
from tests.conftest import Invoke
from tests.smtp_sink import LETTER, Faults, SmtpSink, populate, sink_environment

RECIPIENTS = 400
CONNECTIONS = 4


@pytest.fixture(params=[True, False], ids=["pipelining", "one-at-a-time"])
def sink(request: pytest.FixtureRequest) -> Iterator[SmtpSink]:
    """A sink that offers PIPELINING (the lean transaction) or not (aiosmtplib's calls)."""
    running = SmtpSink(Faults(pipelining=request.param))
    running.start()
    yield running
    running.stop()


@pytest.fixture(params=["1", "2"], ids=["one-worker", "two-workers"])
def world(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    store: Store,
    sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[list[str], Path, dict[str, str]]:
    """Subscribers, a letter, and the settings of a send by one worker process or two."""
    emails = populate(store, "members", RECIPIENTS)
    letter = tmp_path / "spring.md"
    letter.write_text(LETTER, encoding="utf-8")
    env = sink_environment(
        sink.port,
        MAILER_SMTP_CONNECTIONS=str(CONNECTIONS),
        MAILER_SENDING_WORKERS=request.param,
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return emails, letter, {**os.environ, **env}


def start_send(db_path: Path, letter: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mailer",
            "--db",
            str(db_path),
            "send",
            str(letter),
            "--list",
            "members",
            "--yes",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for(sink: SmtpSink, accepted: int, process: subprocess.Popen[bytes]) -> None:
    """Poll until the sink has accepted ``accepted`` messages (or the sender ended).

    The sink holds what comes after them (``SmtpSink.hold``), so the run is
    still in the middle when the test stops it, however fast the machine.
    """
    deadline = time.monotonic() + 60
    while len(sink.received) < accepted and process.poll() is None:
        if time.monotonic() > deadline:
            raise AssertionError("the sender made no progress")
        time.sleep(0.002)


def resume_finds_everyone(
    invoke: Invoke, sink: SmtpSink, emails: list[str], *, duplicates: int
) -> None:
    """``campaigns resume`` after a kill: nobody missing, at most ``duplicates`` twice."""
    result = invoke("campaigns", "resume", "1")
    assert result.exit_code == 0, result.output
    counts = sink.counts()
    assert set(counts) == set(emails), "a recipient was skipped"
    assert sum(n - 1 for n in counts.values()) <= duplicates, "one per open connection"


def stop_midway(
    db_path: Path, letter: Path, env: dict[str, str], sink: SmtpSink, store: Store, sig: int
) -> tuple[bytes, str]:
    """Start a send, stop it with ``sig`` after 60 messages; its stderr and campaign state.

    Checks what every clean stop promises: exit 1, no traceback, and a journal
    that knows every message the sink accepted (in-flight ones were finished).
    """
    sink.hold(60)
    process = start_send(db_path, letter, env)
    wait_for(sink, 60, process)
    process.send_signal(sig)
    sink.release()  # the messages in flight are to be finished, not cut off
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert b"Traceback" not in stderr
    state, sent = store.one(
        "SELECT c.state, (SELECT count(*) FROM deliveries WHERE state = 'sent') "
        "FROM campaigns c WHERE id = 1"
    )
    assert sent == len(sink.received) < RECIPIENTS
    return stderr, state


@pytest.mark.parametrize("kill_after", [1, 100, 250])
def test_killed_send_resumes_with_nobody_missing_and_few_duplicates(
    kill_after: int,
    db_path: Path,
    sink: SmtpSink,
    world: tuple[list[str], Path, dict[str, str]],
    invoke: Invoke,
) -> None:
    emails, letter, env = world
    sink.hold(kill_after)
    process = start_send(db_path, letter, env)
    wait_for(sink, kill_after, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    sink.release()

    resume_finds_everyone(invoke, sink, emails, duplicates=CONNECTIONS)
    shown = invoke("campaigns", "show", "1", "--json")
    assert '"sent": 400' in shown.output and '"state": "done"' in shown.output


def test_sigint_stops_cleanly_and_resume_completes(
    db_path: Path,
    sink: SmtpSink,
    store: Store,
    world: tuple[list[str], Path, dict[str, str]],
    invoke: Invoke,
) -> None:
    emails, letter, env = world
    stderr, state = stop_midway(db_path, letter, env, sink, store, signal.SIGINT)
    assert f"mailer --db {db_path} campaigns resume 1".encode() in stderr
    assert state == "paused"
    assert not list(db_path.parent.glob("*.journal"))

    result = invoke("campaigns", "resume", "1")
    assert result.exit_code == 0, result.output
    assert sink.counts() == dict.fromkeys(emails, 1)


def test_sigint_does_not_wait_out_the_rate_limit(
    db_path: Path,
    sink: SmtpSink,
    store: Store,
    world: tuple[list[str], Path, dict[str, str]],
    invoke: Invoke,
) -> None:
    _, letter, env = world
    # One message every 100 s: after the first, every worker waits its turn for minutes.
    process = start_send(db_path, letter, {**env, "MAILER_SENDING_RATE": "0.01"})
    wait_for(sink, 1, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert b"campaigns resume 1" in stderr and b"Traceback" not in stderr
    assert store.one("SELECT count(*) FROM deliveries WHERE state = 'sent'")[0] == len(
        sink.received
    )


def test_sigterm_stops_cleanly_and_the_next_cron_run_finishes_it(
    db_path: Path,
    sink: SmtpSink,
    store: Store,
    world: tuple[list[str], Path, dict[str, str]],
    invoke: Invoke,
) -> None:
    """A service manager stopping mailer is no decision to pause: cron carries on."""
    emails, letter, env = world
    _, state = stop_midway(db_path, letter, env, sink, store, signal.SIGTERM)
    assert state == "sending"

    result = invoke("campaigns", "run")
    assert result.exit_code == 0, result.output
    assert sink.counts() == dict.fromkeys(emails, 1)
    assert store.one("SELECT state FROM campaigns WHERE id = 1")[0] == "done"


def workers_of(process: subprocess.Popen[bytes]) -> list[int]:
    """The process ids of a sender's worker processes (its children, from /proc)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        if len(children) >= 2:
            return [int(pid) for pid in children]
        time.sleep(0.01)
    raise AssertionError("the sender started no workers")


@pytest.mark.parametrize("which", [0, 1])
def test_a_killed_worker_leaves_its_share_to_resume(
    which: int, db_path: Path, sink: SmtpSink, world: tuple[list[str], Path, dict[str, str]],
    invoke: Invoke,
) -> None:
    emails, letter, env = world
    if env["MAILER_SENDING_WORKERS"] != "2":
        pytest.skip("one worker is the process itself: killing it is the test above")
    sink.hold(100)
    process = start_send(db_path, letter, env)
    victim = workers_of(process)[which]
    wait_for(sink, 100, process)
    os.kill(victim, signal.SIGKILL)
    sink.release()
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert b"Traceback" not in stderr
    assert b"campaigns resume 1" in stderr and b"ended unexpectedly" in stderr

    resume_finds_everyone(invoke, sink, emails, duplicates=CONNECTIONS // 2)
    assert not list(db_path.parent.glob("*.journal"))
