"""The sending guarantees against a real Postfix, the last hop before the members' Maildirs.

What tests/test_send_crash.py and tests/test_send_faults.py check against
aiosmtpd, checked here against Postfix's own SMTP server, by one worker
process and by two, with PIPELINING used and not: a send arrives complete,
once to each member; a ``kill -9`` in the middle loses nobody and doubles at
most one message per open connection; SIGINT and SIGTERM stop cleanly with
every accepted message journalled; the addresses Postfix does not know are
refused (550), failed and bounced, the others delivered. Postfix cannot be
held in the middle of a run as the sink can, so the runs stopped halfway are
slowed down (``MAILER_SENDING_RATE``) and stopped once Postfix has taken some
messages (queued or delivered).
"""

from __future__ import annotations

import email
import email.policy
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailer import membership
from mailer.contacts.addresses import normalize_address
from mailer.store import Store
from mailer.store.lists import get_list
from mailer.store.models import Consent
from tests.conftest import Invoke
from tests.postfix_server import Postfix, postfix_instance, why_not
from tests.smtp_sink import LETTER, populate, sink_environment
from tests.web_helpers import free_port

pytestmark = pytest.mark.skipif(bool(why_not()), reason=why_not() or "postfix runs")

DOMAIN = "members.example.net"
RECIPIENTS = 200
CONNECTIONS = 4
#: Messages a second in the runs stopped halfway: long enough to stop, short enough to wait.
SLOW_RATE = "60"
#: Stopped once this many messages arrived.
MIDWAY = 30
#: Addresses at the test domain that Postfix has no mailbox for.
UNKNOWN = [f"left{number}@{DOMAIN}" for number in range(3)]


@pytest.fixture(scope="module")
def postfix() -> Iterator[Postfix]:
    """One Postfix for the module, with a Maildir for each of the members."""
    folder = Path(tempfile.mkdtemp(prefix="mailer-postfix-send-"))
    folder.chmod(0o755)  # the virtual delivery agent (user nobody) writes below it
    mailboxes = [f"member{number:05d}@{DOMAIN}" for number in range(RECIPIENTS)]
    try:
        with postfix_instance(folder / "postfix", free_port(), mailboxes=mailboxes) as mx:
            yield mx
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def mx(postfix: Postfix) -> Postfix:
    """The module's Postfix with every earlier test's mail delivered and removed."""
    postfix.empty_maildirs()
    return postfix


@pytest.fixture(
    params=[("1", "true"), ("1", "false"), ("2", "true"), ("2", "false")],
    ids=["one-worker-pipelining", "one-worker-one-at-a-time",
         "two-workers-pipelining", "two-workers-one-at-a-time"],
)
def world(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    store: Store,
    mx: Postfix,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[list[str], Path, dict[str, str]]:
    """Members, a letter, and the settings of a send through Postfix."""
    workers, pipelining = request.param
    emails = populate(store, "members", RECIPIENTS, domain=DOMAIN)
    letter = tmp_path / "spring.md"
    letter.write_text(LETTER, encoding="utf-8")
    env = sink_environment(
        mx.port,
        MAILER_SMTP_CONNECTIONS=str(CONNECTIONS),
        MAILER_SENDING_WORKERS=workers,
        MAILER_SMTP_PIPELINING=pipelining,
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return emails, letter, {**os.environ, **env}


def start_send(db_path: Path, letter: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``mailer send`` in a process of its own, slowed down so that it can be stopped midway."""
    return subprocess.Popen(
        [sys.executable, "-m", "mailer", "--db", str(db_path),
         "send", str(letter), "--list", "members", "--yes"],
        env={**env, "MAILER_SENDING_RATE": SLOW_RATE},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_until_taken(mx: Postfix, count: int, process: subprocess.Popen[bytes]) -> None:
    """Poll Postfix until it has taken ``count`` messages (or the sender ended).

    Counting its queue as well as the Maildirs keeps a slow delivery on a
    loaded machine from letting the whole run pass before it is stopped.
    """
    deadline = time.monotonic() + 60
    while mx.taken() < count and process.poll() is None:
        if time.monotonic() > deadline:
            raise AssertionError("the sender made no progress")
        time.sleep(0.01)
    assert process.poll() is None, "the run ended before it could be stopped"


def arrivals(mx: Postfix) -> dict[str, int]:
    """How many messages each member received, once Postfix delivered all it accepted."""
    mx.wait_until_delivered()
    return {f"{box}@{DOMAIN}": len(paths) for box, paths in mx.delivered().items() if paths}


def sent_count(store: Store) -> int:
    return int(store.one("SELECT count(*) FROM deliveries WHERE state = 'sent'")[0])


def test_a_send_arrives_complete_once_to_each_member(
    mx: Postfix, store: Store, world: tuple[list[str], Path, dict[str, str]], invoke: Invoke
) -> None:
    emails, letter, _ = world
    result = invoke("send", str(letter), "--list", "members", "--yes")
    assert result.exit_code == 0, result.output
    assert arrivals(mx) == dict.fromkeys(emails, 1)
    for box, [path] in mx.delivered().items():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        assert not message.defects and not any(part.defects for part in message.walk())
        recipient = message["To"].addresses[0].addr_spec
        assert message["Delivered-To"] == f"{box}@{DOMAIN}" == recipient
        assert message["Subject"] == "Spring meeting"
        body = message.get_body(("plain",))
        assert body is not None and "the spring meeting is on Saturday." in body.get_content()
    # The queue id mailer journalled is the one Postfix delivered that member's copy as.
    log = ""
    for address, queue_id in store.all("SELECT email, queue_id FROM deliveries"):
        log = mx.wait_for_log(f"{queue_id}: to=<{address}>")
    assert "improper command pipelining" not in log


def test_a_killed_send_resumes_with_nobody_missing_and_few_duplicates(
    db_path: Path, mx: Postfix, world: tuple[list[str], Path, dict[str, str]], invoke: Invoke
) -> None:
    emails, letter, env = world
    process = start_send(db_path, letter, env)
    wait_until_taken(mx, MIDWAY, process)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL

    result = invoke("campaigns", "resume", "1")
    assert result.exit_code == 0, result.output
    counts = arrivals(mx)
    assert set(counts) == set(emails), "a member was skipped"
    assert sum(n - 1 for n in counts.values()) <= CONNECTIONS, "one per open connection"
    shown = invoke("campaigns", "show", "1", "--json")
    assert '"sent": 200' in shown.output and '"state": "done"' in shown.output


def stop_midway(
    db_path: Path, letter: Path, env: dict[str, str], mx: Postfix, store: Store, sig: int
) -> tuple[bytes, str]:
    """Start a send, stop it with ``sig`` midway; its stderr and the campaign's state.

    Checks what every clean stop promises: exit 1, no traceback, and a journal
    that knows every message Postfix accepted (in-flight ones were finished).
    """
    process = start_send(db_path, letter, env)
    wait_until_taken(mx, MIDWAY, process)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr.decode()
    assert b"Traceback" not in stderr
    delivered = sum(arrivals(mx).values())
    assert sent_count(store) == delivered < RECIPIENTS
    state = store.one("SELECT state FROM campaigns WHERE id = 1")[0]
    return stderr, str(state)


@pytest.mark.parametrize(
    ("sig", "state", "finish"),
    [
        # Ctrl-C is the sender's decision to pause: resume finishes it.
        (signal.SIGINT, "paused", ("campaigns", "resume", "1")),
        # A service manager stopping mailer is no decision to pause: cron carries on.
        (signal.SIGTERM, "sending", ("campaigns", "run")),
    ],
    ids=["sigint-then-resume", "sigterm-then-cron"],
)
def test_a_stopped_send_stops_cleanly_and_is_finished_once_to_each_member(
    sig: int,
    state: str,
    finish: tuple[str, ...],
    db_path: Path,
    mx: Postfix,
    store: Store,
    world: tuple[list[str], Path, dict[str, str]],
    invoke: Invoke,
) -> None:
    emails, letter, env = world
    stderr, stopped_as = stop_midway(db_path, letter, env, mx, store, sig)
    assert stopped_as == state
    assert f"mailer --db {db_path} campaigns resume 1".encode() in stderr
    assert not list(db_path.parent.glob("*.journal"))

    result = invoke(*finish)
    assert result.exit_code == 0, result.output
    assert arrivals(mx) == dict.fromkeys(emails, 1)
    assert store.one("SELECT state FROM campaigns WHERE id = 1")[0] == "done"


def test_addresses_postfix_does_not_know_are_failed_and_bounced_the_rest_delivered(
    mx: Postfix, store: Store, world: tuple[list[str], Path, dict[str, str]], invoke: Invoke
) -> None:
    emails, letter, _ = world
    members = get_list(store, "members")
    for address in UNKNOWN:
        membership.add(store, members, normalize_address(address),
                       consent=Consent(method="test"), confirmed=True)
    result = invoke("send", str(letter), "--list", "members", "--yes")
    assert result.exit_code == 0, result.output
    assert arrivals(mx) == dict.fromkeys(emails, 1)
    failed = store.all(
        "SELECT email, last_code, last_text FROM deliveries WHERE state = 'failed' ORDER BY email"
    )
    assert [(row[0], row[1]) for row in failed] == [(address, 550) for address in UNKNOWN]
    assert all("User unknown in virtual mailbox table" in row[2] for row in failed)
    bounces = store.all("SELECT recipient, kind, status, source FROM bounces ORDER BY recipient")
    assert [tuple(row) for row in bounces] == [(a, "hard", "5.1.1", "smtp") for a in UNKNOWN]
    statuses = dict(store.all("SELECT email, status FROM subscribers"))
    assert {address: statuses[address] for address in UNKNOWN} == dict.fromkeys(
        UNKNOWN, "bounced"
    )
    assert sent_count(store) == RECIPIENTS
