"""``mailer inbound --imap`` against a real Dovecot on loopback (``tests/imap_server.py``)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tests.imap_server import NEEDS_DOVECOT, PASSWORD, Imap, append, config_text, count, folders
from tests.inbound_samples import PHOTO, Circular, circular, delivered, message

pytestmark = NEEDS_DOVECOT


@pytest.fixture
def sent(tmp_path: Path) -> Circular:
    return circular(tmp_path)


def test_imap_mail_is_taken_in_and_moved_and_never_twice(
    dovecot: Imap, sent: Circular, tmp_path: Path
) -> None:
    folders(dovecot, "Replies", "Replies-done")
    append(dovecot, delivered(message(sent.reply_to, photo=PHOTO), sent.reply_to),
           folder="Replies")
    config = tmp_path / "imap.toml"
    config.write_text(sent.config.read_text() + config_text(dovecot, "Replies", "Replies-done"))
    reading = dataclasses.replace(sent, config=config)
    code, output = reading.cli("inbound", "--imap", "--json", MAILER_IMAP_PASSWORD=PASSWORD,
                               SSL_CERT_FILE=str(dovecot.cert))
    assert code == 0, output
    assert json.loads(output)["replies"] == 1
    assert (count(dovecot, "Replies"), count(dovecot, "Replies-done")) == (0, 1)
    code, output = reading.cli("replies", "ls", "--json")
    assert [r["email"] for r in json.loads(output)] == ["ana@union.example"]
    code, output = reading.cli("inbound", "--imap", "--json", MAILER_IMAP_PASSWORD=PASSWORD,
                               SSL_CERT_FILE=str(dovecot.cert))
    assert (code, json.loads(output)["messages"]) == (0, 0)
