"""A campaign shared by several worker processes: shares, limits in total, one journal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailer.config import load_config
from mailer.dispatch.sender import Progress, SendPolicy
from mailer.dispatch.spares import Spares
from mailer.dispatch.workers import Tally, share_policy, worker_count
from mailer.store import Store
from mailer.store.deliveries import Share
from tests.smtp_sink import LETTER, Faults, SmtpSink, populate, sink_environment


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    running = SmtpSink(Faults())
    running.start()
    yield running
    running.stop()


def test_each_worker_takes_its_part_of_the_limits_and_they_add_up() -> None:
    policy = SendPolicy(rate=90.0, domain_rate=6.0, concurrency=5)
    parts = [share_policy(policy, Share(index, 3)) for index in range(3)]
    assert sum(p.rate for p in parts) == pytest.approx(90.0)
    assert sum(p.domain_rate for p in parts) == pytest.approx(6.0)
    assert [p.concurrency for p in parts] == [2, 2, 1]
    assert all(p.retry_first == policy.retry_first for p in parts)


def test_how_many_workers() -> None:
    config = load_config(env={})
    cores = len(os.sched_getaffinity(0))
    assert worker_count(config) == cores
    assert worker_count(load_config(env={"MAILER_SENDING_WORKERS": "3"})) == 3
    assert worker_count(load_config(env={"MAILER_SENDING_WORKERS": "3"}), 5) == 5


def test_progress_is_the_whole_campaigns() -> None:
    shown: list[Progress] = []
    tally = Tally(2, shown.append)
    tally.update(0, Progress(due=10, sent=4, deferred=1))
    tally.update(1, Progress(due=12, sent=5, failed=2))
    last = shown[-1]
    assert (last.due, last.sent, last.deferred, last.failed, last.done) == (22, 9, 1, 2, 12)


def _send_with_two_workers(letter: Path, db_path: Path, sink: SmtpSink) -> dict[str, Any]:
    """``mailer send --workers 2`` of a test letter written to ``letter``, as a process; its
    summary."""
    letter.write_text(LETTER, encoding="utf-8")
    env = {**os.environ, **sink_environment(sink.port)}
    done = subprocess.run(
        [sys.executable, "-m", "mailer", "--db", str(db_path), "send", str(letter),
         "--list", "members", "--yes", "--json", "--workers", "2"],
        env=env, capture_output=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


def test_two_worker_processes_send_everyone_once_and_report_the_whole_campaign(
    tmp_path: Path, db_path: Path, store: Store, sink: SmtpSink
) -> None:
    emails = populate(store, "members", 120)
    summary = _send_with_two_workers(tmp_path / "spring.md", db_path, sink)
    assert (summary["sent"], summary["pending"], summary["state"]) == (120, 0, "done")
    assert sink.counts() == dict.fromkeys(emails, 1)
    assert not list(db_path.parent.glob("*.journal"))


def _processes_naming(text: str) -> list[int]:
    """Live (not zombie) processes whose command line holds ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def test_spares_not_needed_are_dismissed_and_none_is_left(
    tmp_path: Path, db_path: Path, store: Store, sink: SmtpSink
) -> None:
    # One recipient needs one process: the two spares forked ahead are sent away.
    emails = populate(store, "members", 1)
    letter = tmp_path / "one-reader.md"
    assert _send_with_two_workers(letter, db_path, sink)["sent"] == 1
    assert sink.counts() == dict.fromkeys(emails, 1)
    assert _processes_naming(str(letter)) == []


#: Leaves a mark for every new interpreter that starts (a forked spare starts none).
_MARK = """
import os, pathlib
pathlib.Path(os.environ["MAILER_TEST_MARKS"], str(os.getpid())).touch()
"""


def test_a_cron_run_sends_a_due_campaign_with_workers_forked_from_itself(
    tmp_path: Path, db_path: Path, store: Store, sink: SmtpSink
) -> None:
    """``campaigns run`` forks its spares before it opens the database: the campaign whose
    time has come goes out through two workers, and no interpreter starts but its own."""
    emails = populate(store, "members", 80)
    letter = tmp_path / "due.md"
    letter.write_text(LETTER, encoding="utf-8")
    env = {**os.environ, **sink_environment(sink.port), "MAILER_SENDING_WORKERS": "2"}
    mailer = [sys.executable, "-m", "mailer", "--db", str(db_path)]
    scheduled = subprocess.run(
        [*mailer, "send", str(letter), "--list", "members", "--yes", "--at", "2099-01-01 08:00",
         "--tz", "UTC"], env=env, capture_output=True, timeout=120, check=False,
    )
    assert scheduled.returncode == 0, scheduled.stderr
    with store.transaction() as conn:  # its time has come
        conn.execute("UPDATE campaigns SET scheduled_at = '2026-01-01T00:00:00Z'")
    marks, site = tmp_path / "marks", tmp_path / "site"
    marks.mkdir()
    site.mkdir()
    (site / "sitecustomize.py").write_text(_MARK, encoding="utf-8")
    path = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH", "")) if p)
    done = subprocess.run(
        [*mailer, "campaigns", "run", "--json"],
        env={**env, "PYTHONPATH": path, "MAILER_TEST_MARKS": str(marks)},
        capture_output=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    outcomes = json.loads(done.stdout)
    assert [(o["sent"], o["state"]) for o in outcomes if "sent" in o] == [(80, "done")]
    assert sink.counts() == dict.fromkeys(emails, 1)
    assert len(list(marks.iterdir())) == 1  # the command's own
    assert _processes_naming(str(db_path)) == []


_ORPHANS = """
import os, sys
from mailer.dispatch.spares import Spares
spares = Spares.fork(2)
print(len(spares), *[spare.pid for spare in spares._waiting], flush=True)
os._exit(0)  # dies without a word to its spares
"""


def test_spares_of_a_parent_that_died_exit_on_their_own() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _ORPHANS], capture_output=True, text=True, timeout=60,
        check=True,
    )
    count, *pids = (int(word) for word in done.stdout.split())
    assert count == 2 and len(pids) == 2
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_no_spare_is_forked_from_a_process_with_threads() -> None:
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert len(Spares.fork(2)) == 0  # a fork would copy the locks the thread holds
    finally:
        release.set()
        other.join()


_ONE_DIES = """
import os, signal, time
from pathlib import Path
from mailer.dispatch.spares import Spares
spares = Spares.fork(2)
first, second = spares._waiting
os.kill(first.pid, signal.SIGKILL)
state = ""
for _ in range(600):
    state = Path(f"/proc/{first.pid}/stat").read_text().rpartition(")")[2].split()[0]
    if state == "Z":
        break
    time.sleep(0.05)
taken = spares.take()
print(state, taken is second, spares.take() is None, flush=True)
spares.dismiss()
os.close(taken.job_fd)
os.close(taken.out_fd)
print(taken.wait(), flush=True)
"""


def test_a_spare_that_died_while_waiting_is_passed_over() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _ONE_DIES], capture_output=True, text=True, timeout=60,
        check=True,
    )
    assert done.stdout.split() == ["Z", "True", "True", "0"], done.stderr
