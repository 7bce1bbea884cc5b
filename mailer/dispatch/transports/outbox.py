"""The Maildir outbox: the transport used when no SMTP relay is configured.

Each message is written under ``tmp/`` and then renamed into ``new/``, so a
reader of the folder (a person, a test, a script that forwards the mail)
never sees half a message. The envelope, which a Maildir has no place for, is
kept the way local delivery agents keep it: ``Return-Path`` and
``Delivered-To`` lines in front of the message.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from pathlib import Path

from mailer.dispatch.transports.base import Reply
from mailer.errors import TransportError

_counter = itertools.count()


def prepare_maildir(path: Path) -> Path:
    """Make ``path`` a Maildir (``tmp``, ``new``, ``cur``) if it is not one yet."""
    try:
        for sub in ("tmp", "new", "cur"):
            (path / sub).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TransportError(f"outbox {path}: {exc.strerror or exc}") from None
    return path


def unique_name() -> str:
    """A Maildir file name: time, process and a counter make it unique on this host."""
    now = time.time()
    seconds = int(now)
    micro = int((now - seconds) * 1_000_000)
    host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
    return f"{seconds}.M{micro}P{os.getpid()}Q{next(_counter)}.{host}"


class OutboxChannel:
    """Writes each message atomically into the Maildir."""

    def __init__(self, path: Path) -> None:
        self._path = path

    async def send(self, sender: str, recipient: str, data: bytes, smtputf8: bool) -> Reply:
        """Write one message (tmp, then rename into new); a 250 reply names the file."""
        name = unique_name()
        tmp = self._path / "tmp" / name
        envelope = f"Return-Path: <{sender}>\r\nDelivered-To: {recipient}\r\n".encode()
        try:
            with open(tmp, "xb") as handle:
                handle.write(envelope)
                handle.write(data)
            os.rename(tmp, self._path / "new" / name)
        except OSError as exc:
            raise TransportError(f"outbox {self._path}: {exc.strerror or exc}") from None
        return Reply(250, f"written to {self._path.name}/new/{name}", name)

    async def close(self) -> None:
        """Nothing to close: every message is complete on disk when ``send`` returns."""


class OutboxTransport:
    """Hands out channels that all write into one Maildir folder."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self.name = f"outbox {path}"

    async def open(self) -> OutboxChannel:
        """A writer into the Maildir (made on first use)."""
        prepare_maildir(self._path)
        return OutboxChannel(self._path)
