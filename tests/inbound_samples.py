"""Mail that arrives at the intake, written as mail programs write it, and a circular to answer.

``circular`` sets up what a coordinator has before answers come: a database,
a configuration that gathers replies, the list ``members`` with Ana on it,
and a letter sent to her through the Maildir outbox, whose Reply-To and
envelope sender (the VERP return path) are read back from the outbox as the
member's mail program and a bounce would see them.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from click.testing import CliRunner

from mailer.cli import cli

SECRET = "test-secret"
COORDINATOR = "coord@union.example"
#: A small JPEG's first bytes and some more: what matters is that they come back unchanged.
PHOTO = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8 + b"\xff\xd9"

CONFIG = f"""
[database]
busy_timeout = 0.2

[sender]
from = "Union News <news@lists.example.org>"
organization = "Union of Port Workers"

[bounces]
return_path = "bounces@lists.example.org"

[replies]
address = "replies@lists.example.org"
forward_to = "{COORDINATOR}"

[inbound]
max_size = 0.1
"""


@dataclass(frozen=True)
class Circular:
    """A letter sent to Ana, and the addresses answers and bounces come back to."""

    db: Path
    config: Path
    outbox: Path
    campaign_id: int
    reply_to: str
    return_path: str

    def cli(self, *args: str, stdin: bytes | None = None, **env: str) -> tuple[int, str]:
        """``mailer --db ... --config ... ARGS`` in this process: (exit code, output)."""
        result = CliRunner().invoke(
            cli, ["--db", str(self.db), "--config", str(self.config), *args],
            env={"MAILER_SECRET_KEY": SECRET, **env}, input=stdin,
        )
        return result.exit_code, result.output

    def pipe(
        self, message: bytes, recipient: str, **env: str
    ) -> subprocess.CompletedProcess[bytes]:
        """``mailer inbound -`` as a real process, the way Postfix's pipe runs it."""
        clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
        return subprocess.run(
            [sys.executable, "-m", "mailer", "--db", str(self.db), "--config",
             str(self.config), "inbound", "-"],
            input=message, capture_output=True, timeout=120, check=False,
            env={**clean, "MAILER_SECRET_KEY": SECRET, "ORIGINAL_RECIPIENT": recipient, **env},
        )

    def outbox_to(self, address: str) -> list[EmailMessage]:
        """The messages in the outbox addressed to ``address`` (its envelope recipient)."""
        found = []
        for data in _outbox(self.outbox):
            if f"Delivered-To: {address}".encode() in data.split(b"\r\n\r\n", 1)[0]:
                message = email.message_from_bytes(data, policy=email.policy.default)
                assert isinstance(message, EmailMessage)
                found.append(message)
        return found


def _outbox(folder: Path) -> list[bytes]:
    """Every message in a Maildir, as the bytes written."""
    box = mailbox.Maildir(str(folder), factory=None, create=False)
    return [box.get_bytes(key) for key in sorted(box.iterkeys())]


def circular(tmp_path: Path, config_extra: str = "") -> Circular:
    """The set-up the module's docstring describes."""
    config = tmp_path / "inbound.toml"
    config.write_text(CONFIG + config_extra, encoding="utf-8")
    db = tmp_path / "mailer.db"
    letter = tmp_path / "call.md"
    letter.write_text('---\nsubject: "Call for solidarity"\n---\n\nDear {{ subscriber.name }},'
                      "\n\nplease declare your solidarity.\n", encoding="utf-8")
    base = ["--db", str(db), "--config", str(config)]
    for args in (
        ["init"],
        ["lists", "create", "members", "--title", "Members"],
        ["subscribers", "add", "ana@union.example", "--name", "Ana Lima", "--list", "members",
         "--attr", "organisation=Dockers of Santos", "--attr", "country=BR"],
        ["send", str(letter), "--list", "members", "--yes"],
    ):
        result = CliRunner().invoke(cli, [*base, *args], env={"MAILER_SECRET_KEY": SECRET})
        assert result.exit_code == 0, result.output
    outbox = tmp_path / "outbox"
    [sent] = _outbox(outbox)
    head = sent.split(b"\r\n\r\n", 1)[0].decode().replace("\r\n ", " ")
    reply_to = re.search(r"^Reply-To: .*<(.*)>", head, re.M)
    return_path = re.search(r"^Return-Path: <(.*)>", head, re.M)
    assert reply_to is not None and return_path is not None
    return Circular(db, config, outbox, 1, reply_to.group(1), return_path.group(1))


def message(
    to: str,
    *,
    sender: str = "Ana Lima <ana.home@union.example>",
    subject: str = "Re: Call for solidarity",
    text: str = "The assembly of the Santos dockers declares its solidarity.\n\n"
                "On Monday, Union News wrote:\n> Dear Ana Lima,",
    message_id: str = "<answer-1@union.example>",
    photo: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """A message as a mail program writes it (with a photo attached, if given)."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = "Tue, 01 Dec 2026 10:00:00 -0300"
    mail["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        mail[name] = value
    mail.set_content(text)
    if photo is not None:
        mail.add_attachment(photo, maintype="image", subtype="jpeg",
                            filename="../../Assembleia em Santos.JPG")
    return mail.as_bytes(policy=email.policy.SMTP)


def tampered(address: str) -> str:
    """The address with one character of its token's signature changed."""
    local, _, domain = address.rpartition("@")
    last = "a" if local[-1] != "a" else "b"
    return f"{local[:-1]}{last}@{domain}"


def delivered(raw: bytes, to: str) -> bytes:
    """The message as a delivery agent files it: the address it came to written on top."""
    return f"Delivered-To: {to}\r\n".encode() + raw
