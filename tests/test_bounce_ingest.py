"""``mailer bounces ingest`` and ``ls`` against a real SQLite file."""

from __future__ import annotations

import json
import mailbox
from pathlib import Path

import pytest

from mailer import tokens
from mailer.store import open_store
from mailer.store.subscribers import find_subscriber
from tests import bounce_samples as samples
from tests.conftest import Invoke, MailList


@pytest.fixture
def subscribed(invoke: Invoke, mail_list: MailList) -> None:
    """Alice, Bob and Dave on news (alice on events too), each sent a letter just now."""
    for args in (
        ("lists", "create", "news"),
        ("lists", "create", "events"),
        ("subscribers", "add", "alice@example.org", "--list", "news"),
        ("subscribers", "add", "alice@example.org", "--list", "events"),
        ("subscribers", "add", "bob@example.org", "--list", "news"),
        ("subscribers", "add", "dave@example.org", "--list", "news"),
    ):
        assert invoke(*args).exit_code == 0
    mail_list("news")


def _status(db_path: Path, email: str) -> str:
    with open_store(db_path) as store:
        found = find_subscriber(store, email)
        assert found is not None
        return found.status


def test_ingest_one_file_then_again_counts_it_once(
    invoke: Invoke, subscribed: None, tmp_path: Path, db_path: Path
) -> None:
    path = tmp_path / "hard.eml"
    path.write_bytes(samples.postfix_dsn_user_unknown("alice@example.org"))
    first = invoke("bounces", "ingest", str(path), "--json", catch=False)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["events"] == 1
    second = json.loads(invoke("bounces", "ingest", str(path), "--json").output)
    assert (second["events"], second["duplicates"]) == (0, 1)
    assert _status(db_path, "alice@example.org") == "bounced"


def test_ingest_reads_one_message_from_stdin(
    invoke: Invoke, subscribed: None, db_path: Path
) -> None:
    result = invoke("bounces", "ingest", "-", input=samples.arf("bob@example.org").decode())
    assert result.exit_code == 0, result.output
    assert "complained" in result.output
    assert _status(db_path, "bob@example.org") == "complained"


def test_ingest_maildir_and_mbox(
    invoke: Invoke, subscribed: None, tmp_path: Path, db_path: Path
) -> None:
    box = mailbox.Maildir(str(tmp_path / "Maildir"), create=True)
    box.add(samples.qmail("dave@example.org"))
    box.add(samples.vacation("bob@example.org"))
    box.close()
    result = invoke("bounces", "ingest", "--maildir", str(tmp_path / "Maildir"), "--json")
    assert json.loads(result.output)["messages"] == 2
    assert _status(db_path, "dave@example.org") == "bounced"

    mbox = mailbox.mbox(str(tmp_path / "bounces.mbox"))
    mbox.add(samples.qmail("dave@example.org"))  # seen already through the Maildir
    mbox.add(samples.exim("bob@example.org"))
    mbox.close()
    report = json.loads(
        invoke("bounces", "ingest", "--mbox", str(tmp_path / "bounces.mbox"), "--json").output
    )
    assert (report["messages"], report["duplicates"], report["events"]) == (2, 1, 1)
    assert _status(db_path, "bob@example.org") == "bounced"


def test_ingest_needs_exactly_one_source(invoke: Invoke) -> None:
    result = invoke("bounces", "ingest")
    assert result.exit_code == 2
    assert "exactly one" in result.output


def test_ingest_missing_maildir_is_a_one_line_error(invoke: Invoke, tmp_path: Path) -> None:
    result = invoke("bounces", "ingest", "--maildir", str(tmp_path / "nope"))
    assert result.exit_code == 1
    assert "not a Maildir" in result.output and "Traceback" not in result.output


def test_a_single_message_given_as_mbox_is_a_one_line_error(
    invoke: Invoke, tmp_path: Path
) -> None:
    path = tmp_path / "one.eml"
    path.write_bytes(samples.qmail("dave@example.org"))
    result = invoke("bounces", "ingest", "--mbox", str(path))
    assert result.exit_code == 1
    assert "one.eml" in result.output and "not an mbox" in result.output
    assert "Traceback" not in result.output
    (tmp_path / "empty.mbox").write_bytes(b"")
    empty = invoke("bounces", "ingest", "--mbox", str(tmp_path / "empty.mbox"), "--json")
    assert empty.exit_code == 0 and json.loads(empty.output)["messages"] == 0


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "mailer.toml"
    path.write_text(
        '[bounces]\nreturn_path = "bounces@example.com"\n'
        'unsubscribe_address = "leave@example.com"\n'
    )
    return path


def test_mail_to_the_unsubscribe_address_with_a_valid_token_leaves_that_list(
    invoke: Invoke, subscribed: None, tmp_path: Path, db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILER_SECRET_KEY", "k3y")
    with open_store(db_path) as store:
        alice = find_subscriber(store, "alice@example.org")
        news = store.one("SELECT id FROM lists WHERE name = 'news'")
    assert alice is not None and news is not None
    token = tokens.Signer("k3y").unsubscribe(alice.id, news["id"], 0)
    to = tokens.verp_address("leave@example.com", token)
    raw = (
        f"From: Alice <alice@example.org>\r\nTo: {to}\r\nSubject: unsubscribe\r\n"
        "Message-ID: <leave-1@example.org>\r\n\r\nunsubscribe\r\n"
    )
    path = tmp_path / "leave.eml"
    path.write_text(raw)
    config = str(_config(tmp_path))
    result = invoke("--config", config, "bounces", "ingest", str(path), "--json", catch=False)
    assert json.loads(result.output)["unsubscribes"] == 1
    with open_store(db_path) as store:
        rows = store.all(
            "SELECT l.name, s.status FROM subscriptions s JOIN lists l ON l.id = s.list_id "
            "WHERE s.subscriber_id = ? ORDER BY l.name",
            (alice.id,),
        )
    assert [(r["name"], r["status"]) for r in rows] == [
        ("events", "confirmed"),
        ("news", "unsubscribed"),
    ]


def test_mail_to_the_unsubscribe_address_with_a_forged_token_does_nothing(
    invoke: Invoke, subscribed: None, tmp_path: Path, db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILER_SECRET_KEY", "k3y")
    token = tokens.Signer("forger").unsubscribe(1, 1, 0)
    to = tokens.verp_address("leave@example.com", token)
    path = tmp_path / "leave.eml"
    path.write_text(f"From: x@example.net\r\nTo: {to}\r\nSubject: unsubscribe\r\n\r\nbye\r\n")
    result = invoke("--config", str(_config(tmp_path)), "bounces", "ingest", str(path), "--json")
    assert json.loads(result.output)["unsubscribes"] == 0
    assert _status(db_path, "alice@example.org") == "active"


def test_ls_filters_by_email_and_date(
    invoke: Invoke, subscribed: None, tmp_path: Path
) -> None:
    (tmp_path / "a.eml").write_bytes(samples.postfix_dsn_user_unknown("alice@example.org"))
    (tmp_path / "b.eml").write_bytes(samples.exim("bob@example.org"))
    for name in ("a.eml", "b.eml"):
        assert invoke("bounces", "ingest", str(tmp_path / name)).exit_code == 0
    rows = json.loads(invoke("bounces", "ls", "--email", "ALICE@example.org", "--json").output)
    assert [(r["recipient"], r["kind"], r["reason"]) for r in rows] == [
        ("alice@example.org", "hard", "userunknown")
    ]
    assert rows[0]["source"].startswith("file:")
    assert len(json.loads(invoke("bounces", "ls", "--json").output)) == 2
    assert json.loads(invoke("bounces", "ls", "--since", "2999-01-01", "--json").output) == []
    table = invoke("bounces", "ls").output
    assert "bob@example.org" in table and "userunknown" in table
    bad = invoke("bounces", "ls", "--since", "yesterday")
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output


def test_unsubscribe_mail_without_the_key_to_check_it_is_refused_not_dropped(
    invoke: Invoke, subscribed: None, tmp_path: Path, db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MAILER_SECRET_KEY")
    token = tokens.Signer("k3y").unsubscribe(1, 1, 0)
    raw = (
        f"From: Alice <alice@example.org>\r\nTo: {tokens.verp_address('leave@example.com', token)}"
        "\r\nSubject: unsubscribe\r\nMessage-ID: <leave-3@example.org>\r\n\r\nunsubscribe\r\n"
    )
    path = tmp_path / "leave.eml"
    path.write_text(raw)
    config = str(_config(tmp_path))
    result = invoke("--config", config, "bounces", "ingest", str(path))
    assert result.exit_code == 1
    assert "MAILER_SECRET_KEY" in result.output and "Traceback" not in result.output
    piped = invoke("--config", config, "bounces", "ingest", "-", input=raw)
    assert piped.exit_code == 75  # EX_TEMPFAIL: the MTA keeps it until the key is set
    with open_store(db_path) as store:
        assert store.one("SELECT 1 FROM bounces") is None


def test_a_bounce_or_complaint_about_a_forgotten_address_does_not_store_it_again(
    invoke: Invoke, subscribed: None, tmp_path: Path, db_path: Path
) -> None:
    import sqlite3

    assert invoke("subscribers", "forget", "bob@example.org", "--yes").exit_code == 0
    for name, raw in (
        ("hard.eml", samples.postfix_dsn_user_unknown("Bob@example.org")),
        ("complaint.eml", samples.arf("bob@example.org")),
    ):
        path = tmp_path / name
        path.write_bytes(raw)
        result = invoke("bounces", "ingest", str(path), "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["events"] == 1
    dump = "\n".join(sqlite3.connect(db_path).iterdump()).lower()
    assert "bob@example.org" not in dump
    kinds = [r["kind"] for r in json.loads(invoke("bounces", "ls", "--json").output)]
    assert sorted(kinds) == ["complaint", "hard"]
