"""``bounces ingest --imap`` against a real Dovecot started on loopback by the test
(``tests/imap_server.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailer.store import open_store
from mailer.store.subscribers import find_subscriber
from tests import bounce_samples as samples
from tests.conftest import Invoke, MailList
from tests.imap_server import NEEDS_DOVECOT, PASSWORD, Imap, append, config_text, count, folders

pytestmark = NEEDS_DOVECOT


def _config(tmp_path: Path, imap: Imap, folder: str, processed: str = "") -> str:
    path = tmp_path / "mailer.toml"
    path.write_text(config_text(imap, folder, processed))
    return str(path)


@pytest.fixture
def subscribed(invoke: Invoke, mail_list: MailList) -> None:
    """Alice and Bob on news, sent a letter just now (so that a bounce may name them)."""
    for args in (
        ("lists", "create", "news"),
        ("subscribers", "add", "alice@example.org", "--list", "news"),
        ("subscribers", "add", "bob@example.org", "--list", "news"),
    ):
        assert invoke(*args).exit_code == 0
    mail_list("news")


def _ingest(invoke: Invoke, config: str) -> dict[str, object]:
    result = invoke("--config", config, "bounces", "ingest", "--imap", "--json")
    assert result.exit_code == 0, result.output
    report: dict[str, object] = json.loads(result.output)
    return report


def test_imap_ingest_moves_processed_mail_and_counts_nothing_twice(
    dovecot: Imap, invoke: Invoke, subscribed: None, tmp_path: Path, db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILER_IMAP_PASSWORD", PASSWORD)
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.cert))
    folders(dovecot, "Moved", "Moved-done")
    append(dovecot, samples.postfix_dsn_user_unknown("alice@example.org"),
            samples.arf("bob@example.org"), folder="Moved")
    config = _config(tmp_path, dovecot, "Moved", "Moved-done")

    first = _ingest(invoke, config)
    assert (first["messages"], first["events"]) == (2, 2)
    assert (count(dovecot, "Moved"), count(dovecot, "Moved-done")) == (0, 2)
    with open_store(db_path) as store:
        alice = find_subscriber(store, "alice@example.org")
        bob = find_subscriber(store, "bob@example.org")
    assert alice is not None and alice.status == "bounced"
    assert bob is not None and bob.status == "complained"

    assert _ingest(invoke, config)["messages"] == 0
    # The same bounce delivered again (a second copy) is recognised by its Message-ID.
    append(dovecot, samples.postfix_dsn_user_unknown("alice@example.org"), folder="Moved")
    again = _ingest(invoke, config)
    assert (again["messages"], again["duplicates"], again["events"]) == (1, 1, 0)


def test_imap_ingest_without_a_processed_folder_flags_what_it_read(
    dovecot: Imap, invoke: Invoke, subscribed: None, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILER_IMAP_PASSWORD", PASSWORD)
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.cert))
    folders(dovecot, "Flagged")
    append(dovecot, samples.exim("bob@example.org"), folder="Flagged")
    config = _config(tmp_path, dovecot, "Flagged")
    assert _ingest(invoke, config)["events"] == 1
    assert count(dovecot, "Flagged") == 1  # left in place, flagged
    assert _ingest(invoke, config)["messages"] == 0


def test_imap_wrong_password_is_a_one_line_error(
    dovecot: Imap, invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_IMAP_PASSWORD", "wrong")
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.cert))
    result = invoke("--config", _config(tmp_path, dovecot, "INBOX"), "bounces", "ingest", "--imap")
    assert result.exit_code == 1
    assert "IMAP" in result.output and "Traceback" not in result.output


def test_imap_refuses_a_certificate_it_does_not_trust(
    dovecot: Imap, invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_IMAP_PASSWORD", PASSWORD)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-ca.pem"))
    result = invoke("--config", _config(tmp_path, dovecot, "INBOX"), "bounces", "ingest", "--imap")
    assert result.exit_code == 1
    assert "certificate" in result.output.lower()
