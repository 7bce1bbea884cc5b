"""A campaign shared by several worker processes: shares, limits in total, one journal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailer.config import load_config
from mailer.dispatch.sender import Progress, SendPolicy
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


def test_two_worker_processes_send_everyone_once_and_report_the_whole_campaign(
    tmp_path: Path, db_path: Path, store: Store, sink: SmtpSink
) -> None:
    emails = populate(store, "members", 120)
    letter = tmp_path / "spring.md"
    letter.write_text(LETTER, encoding="utf-8")
    env = {**os.environ, **sink_environment(sink.port)}
    done = subprocess.run(
        [sys.executable, "-m", "mailer", "--db", str(db_path), "send", str(letter),
         "--list", "members", "--yes", "--json", "--workers", "2"],
        env=env, capture_output=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["sent"], summary["pending"], summary["state"]) == (120, 0, "done")
    assert sink.counts() == dict.fromkeys(emails, 1)
    assert not list(db_path.parent.glob("*.journal"))
