"""End to end through a real Postfix: a post sent over SMTP to the list's address is piped
into ``mailer inbound -``, and ``campaigns run`` sends it back through Postfix into each
member's Maildir, with the list's headers and footer and its attachment intact."""

from __future__ import annotations

import email
import email.policy
import os
import shutil
import smtplib
import stat
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailer.cli import cli
from tests.inbound_samples import SECRET
from tests.postfix_server import NOBODY, postfix_instance, why_not
from tests.posting_samples import LIST_ADDRESS, MEMBERS, RESOLUTION, post
from tests.web_helpers import free_port

pytestmark = pytest.mark.skipif(bool(why_not()), reason=why_not() or "postfix runs")

ROOT = Path(__file__).resolve().parent.parent


def _reachable(path: Path) -> bool:
    """Whether ``nobody`` may run or read ``path`` (every folder above it open to others)."""
    real = path.resolve()
    return all(part.stat().st_mode & stat.S_IXOTH for part in real.parents) and bool(
        real.stat().st_mode & stat.S_IROTH
    )


def _pipe_python() -> Path:
    """A Python of this version that the pipe's user may run: this one, or the system's."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (Path(sys.executable), Path(f"/usr/bin/python{version}")):
        if candidate.exists() and _reachable(candidate):
            return candidate
    pytest.skip(f"no Python {version} that the user nobody may run (the pipe's user)")


@pytest.fixture
def folder() -> Iterator[Path]:
    """A folder the pipe's user may enter (pytest's own are the test user's alone)."""
    made = Path(tempfile.mkdtemp(prefix="mailer-postfix-"))
    made.chmod(0o755)
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


def _setup(data: Path, port: int) -> Path:
    config = data / "mailer.toml"
    config.write_text(f"""
[sender]
from = "Federation News <news@lists.example.org>"
[bounces]
return_path = "bounces@lists.example.org"
[smtp]
host = "127.0.0.1"
port = {port}
tls = "none"
[web]
base_url = "https://lists.example.org"
[inbound]
authserv_id = "mx.lists.example.org"
""", encoding="utf-8")
    base = ["--db", str(data / "mailer.db"), "--config", str(config)]
    steps = [
        ["init"],
        ["lists", "create", "members", "--title", "Members"],
        *(["subscribers", "add", member, "--list", "members"] for member in MEMBERS),
        ["lists", "posters", "add", "members", "rosa@union.example"],
        ["lists", "update", "members", "--posting", "announce", "--dmarc", "none"],
    ]
    for args in steps:
        result = CliRunner().invoke(cli, [*base, *args], env={"MAILER_SECRET_KEY": SECRET})
        assert result.exit_code == 0, result.output
    return config


def _pipe_script(folder: Path, data: Path, config: Path) -> Path:
    site = sysconfig.get_paths()["purelib"]
    script = folder / "mailer-inbound"
    script.write_text(
        "#!/bin/sh\n"
        f"export MAILER_SECRET_KEY='{SECRET}' PYTHONPATH='{ROOT}:{site}'\n"
        f"exec '{_pipe_python()}' -m mailer --db '{data / 'mailer.db'}' --config '{config}' "
        'inbound receive --to "$1" -\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


def _mailer(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env={"MAILER_SECRET_KEY": SECRET})
    assert result.exit_code == 0, result.output
    return result.output


def test_a_post_over_smtp_reaches_the_members_maildirs(folder: Path) -> None:
    if not _reachable(ROOT / "mailer" / "__init__.py"):
        pytest.skip("the checkout is not readable by the pipe's user (nobody)")
    port = free_port()
    data = folder / "mailer"
    data.mkdir(mode=0o755)
    config = _setup(data, port)
    for path in [data, *data.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)
    script = _pipe_script(folder, data, config)
    with postfix_instance(folder / "postfix", port, pipe=script, mailboxes=MEMBERS,
                          trusted_domain="union.example") as mx:
        raw = post(arrived=False)
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.sendmail("rosa@union.example", [LIST_ADDRESS], raw)
        logged = mx.wait_for_log(f"to=<{LIST_ADDRESS}>, relay=mailer")
        assert "status=bounced" not in logged and "status=deferred" not in logged
        base = ["--db", str(data / "mailer.db"), "--config", str(config)]
        log = _mailer(*base, "inbound", "ls", "--json")
        assert '"reason": "approved: dmarc=pass header.from=union.example"' in log, log
        _mailer(*base, "campaigns", "run")
        for member in MEMBERS:
            [delivered] = mx.wait_for_mail(member.partition("@")[0], 1)
            message = email.message_from_bytes(delivered, policy=email.policy.default)
            assert isinstance(message, EmailMessage) and not message.defects
            assert str(message["List-Id"]) == "Members <members.lists.example.org>"
            # Only this last hop's headers: those of the post's way in were removed.
            assert len(message.get_all("Received", [])) == 1
            assert len(message.get_all("Authentication-Results", [])) == 1
            text = message.get_body(("plain",))
            assert text is not None and "Unsubscribe: https://lists.example.org/u/" in (
                text.get_content())
            [pdf] = list(message.iter_attachments())
            assert pdf.get_content() == RESOLUTION
