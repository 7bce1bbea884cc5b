"""The Maildir outbox: the transport used when no SMTP relay is configured.

The standard library's ``mailbox.Maildir`` writes each message under
``tmp/`` and then moves it into ``new/``, so a reader of the folder (a
person, a test, a script that forwards the mail) never sees half a message.
The envelope, which a Maildir has no place for, is kept the way local
delivery agents keep it: ``Return-Path`` and ``Delivered-To`` lines in front
of the message.
"""

from __future__ import annotations

import mailbox
from pathlib import Path

from mailer.dispatch.transports.base import Reply
from mailer.errors import TransportError


def open_maildir(path: Path) -> mailbox.Maildir:
    """The Maildir at ``path``, made (``tmp``, ``new``, ``cur``) if it is not one yet."""
    try:
        return mailbox.Maildir(str(path), factory=None, create=True)
    except OSError as exc:
        raise TransportError(f"outbox {path}: {exc.strerror or exc}") from None


class OutboxChannel:
    """Writes each message atomically into the Maildir."""

    def __init__(self, box: mailbox.Maildir, path: Path) -> None:
        self._box = box
        self._path = path

    async def send(
        self, sender: str, recipient: str, data: bytes, smtputf8: bool, *, stuffed: bool = False,
        relaxed: bool = False,
    ) -> Reply:
        """Write one message (tmp, then into new); a 250 reply names the file."""
        envelope = f"Return-Path: <{sender}>\r\nDelivered-To: {recipient}\r\n".encode()
        try:
            key = self._box.add(envelope + data)
        except OSError as exc:
            raise TransportError(f"outbox {self._path}: {exc.strerror or exc}") from None
        return Reply(250, f"written to {self._path.name}/new/{key}", key)

    async def close(self) -> None:
        """Nothing to close: every message is complete on disk when ``send`` returns."""


class OutboxTransport:
    """Hands out channels that all write into one Maildir folder."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self.name = f"outbox {path}"

    async def open(self) -> OutboxChannel:
        """A writer into the Maildir (made on first use)."""
        return OutboxChannel(open_maildir(self._path), self._path)
