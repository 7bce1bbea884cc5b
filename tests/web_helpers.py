"""Helpers for the web tests: an app on a fresh database, a real server, links, the outbox.

The ``web`` fixture (in conftest) builds a ``Web`` from these; the tests that
run ``mailer serve`` as a process start it with ``start_server``.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import httpx
from starlette.applications import Starlette

from mailer import clock, membership
from mailer.config import Config, load_config
from mailer.contacts.addresses import normalize_address
from mailer.store import Store
from mailer.store.lists import create_list
from mailer.store.models import Consent, MailingList
from mailer.tokens import Signer
from tests.clocks import FakeClock
from tests.processes import stop_process

SECRET = "test-secret-key"
BASE = "http://testserver"
CLIENT_IP = "127.0.0.1"


def web_config(tmp_path: Path, db_path: Path, base_url: str = BASE, **env: str) -> Config:
    """A configuration with the outbox and templates inside ``tmp_path``."""
    values = {
        "MAILER_WEB_BASE_URL": base_url,
        "MAILER_OUTBOX_PATH": str(tmp_path / "outbox"),
        "MAILER_TEMPLATES_PATH": str(tmp_path / "my-templates"),
        "MAILER_SENDER_FROM_ADDRESS": "Newsletter <news@example.org>",
        "MAILER_SECRET_KEY": SECRET,
        **env,
    }
    return load_config(env=values, db=db_path)


@dataclass
class Web:
    """An app on a fresh database, an HTTP client for it, and ways to look inside."""

    app: Starlette
    client: httpx.AsyncClient
    config: Config
    store: Store
    signer: Signer
    limit_clock: FakeClock

    def client_from(self, address: str) -> httpx.AsyncClient:
        """A second client of the same app, seen as coming from ``address``."""
        transport = httpx.ASGITransport(app=self.app, client=(address, 1))
        return httpx.AsyncClient(transport=transport, base_url=BASE)

    def make_list(
        self,
        name: str = "news",
        *,
        public: bool = True,
        double_optin: bool = True,
        title: str = "",
        language: str = "",
        languages: tuple[str, ...] = (),
    ) -> MailingList:
        return create_list(
            self.store,
            name,
            title=title or name.title(),
            public=public,
            double_optin=double_optin,
            language=language,
            languages=languages,
        )

    def subscribe(self, mailing_list: MailingList, email_address: str, language: str = "") -> int:
        """A confirmed subscriber added by an admin (reading ``language``); returns its id."""
        outcome = membership.add(
            self.store,
            mailing_list,
            normalize_address(email_address),
            consent=Consent("cli"),
            confirmed=True,
            language=language,
        )
        assert outcome.subscriber is not None
        return outcome.subscriber.id

    def subscription(self, subscriber_id: int, list_id: int) -> sqlite3.Row | None:
        return self.store.one(
            "SELECT * FROM subscriptions WHERE subscriber_id = ? AND list_id = ?",
            (subscriber_id, list_id),
        )

    def status(self, email_address: str) -> str | None:
        row = self.store.one(
            "SELECT status FROM subscribers WHERE email_key = ?", (email_address.lower(),)
        )
        return None if row is None else str(row["status"])

    def subscriber_id(self, email_address: str) -> int:
        row = self.store.one(
            "SELECT id FROM subscribers WHERE email_key = ?", (email_address.lower(),)
        )
        assert row is not None
        return int(row["id"])

    def outbox(self) -> list[EmailMessage]:
        return read_outbox(self.config.outbox_path)

    async def form_token(self, path: str) -> str:
        page = await self.client.get(path)
        assert page.status_code == 200, page.text
        return csrf_of(page.text)


#: A Maildir file name: seconds, .M microseconds, P process, Q count in that process.
_MAILDIR_NAME = re.compile(r"^(\d+)\.M(\d+)P\d+Q(\d+)\.")


def _delivery_order(key: str) -> tuple[int, ...]:
    """Oldest first: the numbers in a Maildir name, compared as numbers, not as text."""
    found = _MAILDIR_NAME.match(key)
    return tuple(int(n) for n in found.groups()) if found else (0,)


def read_outbox(path: Path) -> list[EmailMessage]:
    """Every message in the Maildir outbox, oldest first."""
    if not (path / "new").exists():
        return []
    box = mailbox.Maildir(str(path), create=False)
    messages = []
    for key in sorted(box.keys(), key=_delivery_order):
        with box.get_file(key) as handle:
            parsed = email.message_from_binary_file(handle, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        messages.append(parsed)
    return messages


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def confirm_link(message: EmailMessage, base_url: str = BASE) -> str:
    """The /c/... link inside a confirmation message."""
    body = message.get_body(("plain",))
    assert body is not None
    match = re.search(re.escape(base_url) + r"(/c/[a-z0-9-]+)", body.get_content())
    assert match, "no confirmation link in the message"
    return match.group(1)


def without_csrf(html: str) -> str:
    return re.sub(r'name="csrf" value="[^"]+"', 'name="csrf" value=""', html)


def insert_campaign(
    store: Store,
    mailing_list: MailingList,
    *,
    subject: str,
    source: str,
    state: str = "done",
    sent_to: int | None = None,
    finished_at: str | None = None,
) -> int:
    """A campaign row as the sender leaves it (optionally with one sent delivery)."""
    import hashlib

    now = clock.now_iso()
    with store.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO campaigns (list_id, list_name, subject, letter_path, letter_source, "
            "letter_hash, state, created_at, started_at, finished_at) "
            "VALUES (?, ?, ?, 'letter.md', ?, ?, ?, ?, ?, ?)",
            (
                mailing_list.id,
                mailing_list.name,
                subject,
                source,
                hashlib.sha256(source.encode()).hexdigest(),
                state,
                now,
                now,
                finished_at if state == "done" else None,
            ),
        )
        campaign_id = int(cursor.lastrowid or 0)
        if sent_to is not None:
            conn.execute(
                "INSERT INTO deliveries (campaign_id, subscriber_id, email, state, sent_at) "
                "VALUES (?, ?, 'x@example.org', 'sent', ?)",
                (campaign_id, sent_to, now),
            )
    return campaign_id


LETTER = """---
subject: "Spring news"
list: news
sample:
  name: Jonas Weber
  email: jonas.weber@example.org
  attributes:
    branch: Harbour
---

Dear {{ subscriber.name or "reader" }},

our branch in **{{ subscriber.attributes.branch }}** meets on Monday.
"""


# -- a real server: `mailer serve` as a process on a loopback port -------------------

#: How often a test looks again for what a server process is to do: often, so that
#: it goes on as soon as the server is done, not a tenth of a second later.
POLL = 0.02


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mailer_env(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(
        {
            "MAILER_SECRET_KEY": SECRET,
            "MAILER_WEB_BASE_URL": f"http://127.0.0.1:{port}",
            "MAILER_OUTBOX_PATH": str(tmp_path / "outbox"),
            "MAILER_SENDER_FROM_ADDRESS": "News <news@example.org>",
            **extra,
        }
    )
    return env


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def stop(self) -> str:
        stop_process(self.process, 20)
        return self.log.read_text(encoding="utf-8", errors="replace")


def start_server(
    tmp_path: Path,
    db_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    port: int = 0,
    open_files: int | None = None,
) -> Server:
    """Start ``mailer serve`` and wait until /healthz answers (or the process ends).

    ``open_files`` caps the process's file descriptors (soft and hard limit).
    """
    port = port or free_port()
    log = tmp_path / f"serve-{port}.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mailer",
                "--db",
                str(db_path),
                "serve",
                "--port",
                str(port),
                *args,
            ],
            cwd=tmp_path,
            env=env or mailer_env(tmp_path, port),
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=None if open_files is None else _limit_files(open_files),
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"mailer serve exited early:\n{server.stop()}")
        try:
            if httpx.get(f"{server.base}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(POLL)
    raise AssertionError(f"mailer serve did not come up:\n{server.stop()}")


def _limit_files(count: int) -> Callable[[], None]:
    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))

    return limit


def wait_for_messages(outbox: Path, count: int) -> list[EmailMessage]:
    """The outbox once it holds ``count`` messages (mail goes out after the answer)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        messages = read_outbox(outbox)
        if len(messages) >= count:
            return messages
        time.sleep(POLL)
    raise AssertionError(f"expected {count} messages in {outbox}, found {len(messages)}")
