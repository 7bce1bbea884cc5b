"""A federation's list that takes posts by mail, and posts written as mail programs write them.

``federation`` sets up the list ``members`` (three confirmed members, the
coordinator one of its posters, a moderator) with a configuration that
trusts the Authentication-Results of ``mx.lists.example.org``; ``post``
writes a post with a text and an HTML body and a PDF attached, arrived
through our mail server (its own Received and Authentication-Results on
top, the sender's signature and a Received of the way below).
"""

from __future__ import annotations

import email.policy
import os
import subprocess
import sys
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from click.testing import CliRunner

from mailer.cli import cli
from tests.inbound_samples import SECRET, Circular

AUTHSERV = "mx.lists.example.org"
LIST_ADDRESS = "members@lists.example.org"
COORDINATOR = "Rosa Coordinator <rosa@union.example>"
MODERATOR = "mod@federation.example"
MEMBERS = ("ana@dockers.example", "bo@seafarers.example", "chen@portworkers.example")
RESOLUTION = b"%PDF-1.4\n% resolution of the assembly\n" + bytes(range(256)) * 4 + b"\n%%EOF\n"

CONFIG = f"""
[database]
busy_timeout = 2.0

[sender]
from = "Federation News <news@lists.example.org>"
organization = "Federation of Port Workers"

[bounces]
return_path = "bounces@lists.example.org"

[web]
base_url = "https://lists.example.org"

[inbound]
authserv_id = "{AUTHSERV}"
"""


@dataclass(frozen=True)
class Federation(Circular):
    """The list's set-up (a ``Circular`` without a letter sent: ``campaign_id`` 0)."""

    def outbox_to(self, address: str) -> list[EmailMessage]:
        """The messages to ``address`` in the outbox (none before anything was sent)."""
        return super().outbox_to(address) if self.outbox.exists() else []

    def ok(self, *args: str) -> str:
        """``mailer ARGS`` in this process; its output (it must succeed)."""
        code, output = self.cli(*args)
        assert code == 0, output
        return output

    def run(self, *args: str) -> str:
        """``mailer ARGS`` as a process of its own (beside a browser's event loop, say)."""
        clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
        done = subprocess.run(
            [sys.executable, "-m", "mailer", "--db", str(self.db), "--config",
             str(self.config), *args],
            capture_output=True, timeout=120, check=False,
            env={**clean, "MAILER_SECRET_KEY": SECRET}, text=True,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


def federation(tmp_path: Path, config_extra: str = "", *posting: str) -> Federation:
    """The set-up the module's docstring describes; ``posting`` are ``lists update`` options."""
    config = tmp_path / "mailer.toml"
    config.write_text(CONFIG + config_extra, encoding="utf-8")
    db = tmp_path / "mailer.db"
    base = ["--db", str(db), "--config", str(config)]
    steps = [
        ["init"],
        ["lists", "create", "members", "--title", "Members"],
        *(["subscribers", "add", member, "--list", "members"] for member in MEMBERS),
        ["lists", "posters", "add", "members", "rosa@union.example"],
        ["lists", "moderators", "add", "members", MODERATOR],
        ["lists", "update", "members", *posting],
    ]
    for args in steps:
        result = CliRunner().invoke(cli, [*base, *args], env={"MAILER_SECRET_KEY": SECRET})
        assert result.exit_code == 0, result.output
    return Federation(db, config, tmp_path / "outbox", 0, LIST_ADDRESS, "")


def trusted_results(domain: str = "union.example", *, server: str = AUTHSERV) -> str:
    """What our mail server writes when DMARC and DKIM pass for ``domain``."""
    return (f"{server}; dkim=pass (2048-bit key) header.d={domain} header.s=s1; "
            f"spf=pass smtp.mailfrom={domain}; dmarc=pass (p=none) header.from={domain}")


def post(
    *,
    sender: str = COORDINATOR,
    results: str | None = None,
    subject: str = "Resolution of the assembly",
    message_id: str = "<post-1@union.example>",
    headers: dict[str, str] | None = None,
    arrived: bool = True,
) -> bytes:
    """A post with text, HTML and a PDF; ``results`` our server's Authentication-Results.

    ``arrived``: as our mail server hands it on (its Received on top); else as the
    poster's mail program sends it, for a real server to take.
    """
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = LIST_ADDRESS
    mail["Subject"] = subject
    mail["Date"] = "Tue, 01 Dec 2026 10:00:00 +0100"
    mail["Message-ID"] = message_id
    mail["DKIM-Signature"] = "v=1; a=rsa-sha256; d=union.example; s=s1; b=AAAA"
    for name, value in (headers or {}).items():
        mail[name] = value
    mail.set_content("Dear comrades,\n\nthe assembly adopted the resolution attached.\n\nRosa\n")
    mail.add_alternative("<html><body><p>Dear comrades,</p><p>the assembly adopted the "
                         "<b>resolution</b> attached.</p><script>alert(1)</script>"
                         '<img src="https://tracker.example/p.gif"></body></html>',
                         subtype="html")
    mail.add_attachment(RESOLUTION, maintype="application", subtype="pdf",
                        filename="resolution.pdf")
    raw = mail.as_bytes(policy=email.policy.SMTP)
    if not arrived:
        return raw
    top = (
        "Received: from mail.union.example (mail.union.example [192.0.2.7])\r\n"
        "\tby mx.lists.example.org (Postfix) with ESMTPS id 4Q1;\r\n"
        "\tTue, 01 Dec 2026 10:00:02 +0100\r\n"
    )
    if results is not None:
        top = f"Authentication-Results: {results}\r\n" + top
    way = "Received: from [10.0.0.5] by mail.union.example; Tue, 01 Dec 2026 10:00:01 +0100\r\n"
    return (top + way).encode() + raw
