"""With ``[dkim]`` set, every message mailer sends arrives signed: a campaign's letters
(over SMTP), a test send, a welcome letter, a confirmation and the copy of a member's
reply the intake forwards to the coordinator (into the outbox)."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from mailer.config import load_config
from mailer.dispatch.assemble import make_transport
from mailer.dispatch.dkim_keys import DkimKey
from mailer.dispatch.transports.signing import SigningTransport
from mailer.store import Store
from mailer.tokens import Signer
from mailer.web import create_app
from tests.clocks import FakeClock
from tests.conftest import SECRET, Invoke
from tests.dkim_helpers import (
    dkimpy_results,
    key_file,
    new_key,
    opendkim_verdicts,
    outbox_messages,
    without_signature,
)
from tests.inbound_samples import COORDINATOR, circular, message
from tests.smtp_sink import SmtpSink, populate
from tests.web_helpers import BASE, csrf_of, web_config
from tests.web_helpers import SECRET as WEB_SECRET

RSA = new_key("rsa-sha256", "rsa2026")
ED25519 = new_key("ed25519-sha256", "ed2026")
KEYS = [RSA, ED25519]


@pytest.fixture
def signing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``[dkim]`` set in the environment: an RSA and an Ed25519 key, two signatures."""
    (tmp_path / "keys").mkdir()
    env = {
        "MAILER_DKIM_DOMAIN": "example.org",
        "MAILER_DKIM_SELECTOR": RSA.selector,
        "MAILER_DKIM_KEY_FILE": str(key_file(tmp_path / "keys", RSA)),
        "MAILER_DKIM_SELECTOR_ED25519": ED25519.selector,
        "MAILER_DKIM_KEY_FILE_ED25519": str(key_file(tmp_path / "keys", ED25519)),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def all_verify(messages: list[bytes], keys: list[DkimKey] = KEYS) -> bool:
    return bool(messages) and all(dkimpy_results(m, keys) == [True, True] for m in messages)


def signed_names(message: bytes) -> list[list[str]]:
    """The ``h=`` list of each DKIM-Signature of ``message``, in order."""
    head = message.partition(b"\r\n\r\n")[0].decode()
    fields = re.findall(r"^DKIM-Signature:(.*?)(?=\r\n(?![ \t]))", head, re.M | re.S)
    found = [re.search(r"\bh=([^;]*)", re.sub(r"\s+", "", f)) for f in fields]
    return [m.group(1).split(":") for m in found if m]


def test_every_letter_of_a_campaign_arrives_signed_twice(
    invoke: Invoke, store: Store, sink: SmtpSink, spring_letter: Path, signing: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each letter carries an RSA and an Ed25519 signature over its list headers too, each
    header listed once more than it occurs."""
    monkeypatch.setenv("MAILER_SENDER_FEEDBACK_ID", "spring:members:union")
    populate(store, "members", 6)
    result = invoke("send", str(spring_letter), "--list", "members", "--yes")
    assert result.exit_code == 0, result.output
    received = [item.data for item in sink.handler.received]
    assert len(received) == 6
    assert all_verify(received)
    signatures = signed_names(received[0])
    assert len(signatures) == 2
    for names in signatures:
        for name in ("from", "to", "subject", "date", "message-id", "mime-version",
                     "content-type", "list-id", "list-unsubscribe", "list-unsubscribe-post",
                     "feedback-id"):
            assert names.count(name) == 2, name


@pytest.mark.parametrize("workers", ["1", "2"])
def test_each_worker_of_a_send_signs_every_letter(
    invoke: Invoke, store: Store, sink: SmtpSink, spring_letter: Path, signing: dict[str, str],
    monkeypatch: pytest.MonkeyPatch, workers: str,
) -> None:
    """One process signs RSA beside its event loop; each of several signs inline."""
    monkeypatch.setenv("MAILER_SENDING_WORKERS", workers)
    populate(store, "members", 8)
    result = invoke("send", str(spring_letter), "--list", "members", "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert all_verify([item.data for item in sink.handler.received])
    config = load_config(env=dict(os.environ))
    for offload, slow in ((True, True), (False, False)):
        transport = make_transport(config, offload_signing=offload)
        assert isinstance(transport, SigningTransport) and transport.signer.slow is slow


def test_a_wrong_key_in_dns_fails_them(
    invoke: Invoke, store: Store, sink: SmtpSink, spring_letter: Path, signing: dict[str, str]
) -> None:
    """The check above can fail: published under another key, the same letters do not verify."""
    populate(store, "members", 1)
    assert invoke("send", str(spring_letter), "--list", "members", "--yes").exit_code == 0
    other = new_key("rsa-sha256", RSA.selector)
    [message] = [item.data for item in sink.handler.received]
    assert dkimpy_results(message, [other, ED25519]) == [False, True]


def test_a_scheduled_campaign_arrives_signed_when_it_starts(
    invoke: Invoke, store: Store, sink: SmtpSink, spring_letter: Path, signing: dict[str, str],
    fake_clock: FakeClock,
) -> None:
    """`campaigns run` (what cron or the worker runs) sends through the same signing.

    The clock stands three hours back from now: a verifier refuses a signature made
    (t=) later than its own time."""
    fake_clock.now = fake_clock.start = (
        datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
    )
    at = (fake_clock.now + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")
    populate(store, "members", 3)
    scheduled = invoke("send", str(spring_letter), "--list", "members", "--yes",
                       "--at", at, "--tz", "UTC")
    assert scheduled.exit_code == 0, scheduled.output
    assert not sink.handler.received
    fake_clock.advance(hours=2)
    ran = invoke("campaigns", "run")
    assert ran.exit_code == 0, ran.output
    received = [item.data for item in sink.handler.received]
    assert len(received) == 3
    assert all_verify(received)


def test_a_key_others_may_read_stops_send_before_a_campaign_is_made(
    invoke: Invoke, store: Store, sink: SmtpSink, spring_letter: Path, signing: dict[str, str]
) -> None:
    populate(store, "members", 2)
    key = Path(signing["MAILER_DKIM_KEY_FILE"])
    key.chmod(0o640)
    result = invoke("send", str(spring_letter), "--list", "members", "--yes")
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert f"dkim.key_file {key}: readable by its group" in line and f"chmod 600 {key}" in line
    assert json.loads(invoke("campaigns", "ls", "--json").stdout) == []
    assert not sink.handler.received


def test_a_test_send_is_signed(
    invoke: Invoke, store: Store, tmp_path: Path, spring_letter: Path, signing: dict[str, str]
) -> None:
    populate(store, "members", 2)
    result = invoke("send", str(spring_letter), "--list", "members", "--test", "me@example.net")
    assert result.exit_code == 0, result.output
    assert all_verify(outbox_messages(tmp_path / "outbox"))


def test_a_welcome_letter_is_signed(
    invoke: Invoke, tmp_path: Path, signing: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    welcome = tmp_path / "welcome.md"
    welcome.write_text("---\nsubject: Welcome\n---\n\nWelcome, {{ subscriber.email }}.\n")
    assert invoke("lists", "create", "members").exit_code == 0
    assert invoke("lists", "update", "members", "--welcome", str(welcome)).exit_code == 0
    added = invoke("subscribers", "add", "ana@example.org", "--list", "members", "--welcome")
    assert added.exit_code == 0, added.output
    [message] = outbox_messages(tmp_path / "outbox")
    assert b"Welcome, ana@example.org." in message
    assert all_verify([message])


async def test_a_confirmation_is_signed(
    tmp_path: Path, db_path: Path, store: Store, signing: dict[str, str]
) -> None:
    config = web_config(tmp_path, db_path, **signing)
    app = create_app(config, store_path=db_path, signer=Signer(WEB_SECRET))
    from mailer.store.lists import create_list

    create_list(store, "news", title="News", public=True, double_optin=True)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        csrf = csrf_of((await client.get("/s/news")).text)
        answer = await client.post("/s/news", data={"email": "ann@example.org", "csrf": csrf})
    app.state.web.stores.close_all()
    assert answer.status_code == 200, answer.text
    [message] = outbox_messages(tmp_path / "outbox")
    assert b"Subject: Confirm your subscription" in message
    assert all_verify([message])


def test_a_forwarded_reply_is_signed(tmp_path: Path, signing: dict[str, str]) -> None:
    """The copy goes From our replies address: our signature is what lets it pass DMARC.
    The member's message comes as the pipe gives it (LF line ends, 8-bit text, trailing
    spaces), and OpenDKIM checks each signature of the copy as well as dkimpy."""
    sent = circular(tmp_path)
    answer = message(sent.reply_to, text="Nós declaramos   a nossa solidariedade.  \n\n\n")
    done = sent.pipe(answer.replace(b"\r\n", b"\n"), sent.reply_to, **signing)
    assert done.returncode == 0, done.stderr
    [copy] = [m for m in outbox_messages(sent.outbox) if f"To: {COORDINATOR}".encode() in m]
    assert "Nós declaramos   a nossa solidariedade.  \r\n".encode() in copy  # as she wrote it
    assert b"X-Loop: replies@lists.example.org" in copy
    assert all_verify([copy])
    alone = [without_signature(copy, 1), without_signature(copy, 0)]
    assert opendkim_verdicts(tmp_path / "opendkim", alone, KEYS) == ["pass", "pass"]


def test_a_reply_that_comes_while_the_key_cannot_be_read_waits_for_it(
    tmp_path: Path, signing: dict[str, str]
) -> None:
    """The fault is ours: the mail server keeps the reply (75) and delivers it again,
    and once the key is readable the copy goes, signed, and the reply is stored once."""
    sent = circular(tmp_path)
    key = Path(signing["MAILER_DKIM_KEY_FILE"])
    key.chmod(0o644)
    answer = message(sent.reply_to)
    first = sent.pipe(answer, sent.reply_to, **signing)
    assert first.returncode == 75
    [error] = first.stderr.decode().strip().splitlines()
    assert f"dkim.key_file {key}: readable by others" in error and "Traceback" not in error
    assert not [m for m in outbox_messages(sent.outbox) if f"To: {COORDINATOR}".encode() in m]
    key.chmod(0o600)
    again = sent.pipe(answer, sent.reply_to, **signing)
    assert again.returncode == 0, again.stderr
    [copy] = [m for m in outbox_messages(sent.outbox) if f"To: {COORDINATOR}".encode() in m]
    assert all_verify([copy])
    code, listed = sent.cli("replies", "ls", "--json")
    assert code == 0 and len(json.loads(listed)) == 1
