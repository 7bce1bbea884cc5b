"""What every transport offers the sender: channels that hand over one message at a time.

A *channel* is one open connection (or, for the outbox, one writer). The sender
keeps K of them and reuses each for many messages; a channel that breaks is
closed and a new one is asked for. Keeping the interface this small is what
lets the SMTP relay pool and the Maildir outbox be swapped without the sender
knowing which one it drives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, cast

from mailer.errors import TransportError

_QUEUE_ID = re.compile(r"queued as ([A-Za-z0-9._-]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Reply:
    """The server's final word on one message: code, text, and its queue id if it gave one."""

    code: int
    text: str
    queue_id: str = ""

    @property
    def accepted(self) -> bool:
        """2xx: the server took responsibility for the message."""
        return 200 <= self.code < 300

    @property
    def temporary(self) -> bool:
        """4xx: try again later."""
        return 400 <= self.code < 500

    @property
    def permanent(self) -> bool:
        """5xx: this message will never be taken for this recipient."""
        return self.code >= 500


class SenderRefused(TransportError):
    """The relay permanently refused our envelope sender (MAIL FROM): no recipient is at fault.

    Sending more would only fail every recipient for a problem of ours (an
    unauthorised sender domain, a missing login), so the run stops instead.
    """


class RelayAuthFailed(TransportError):
    """The relay answered but refused our login (535): a setting of ours, not the network.

    Retrying with the same credentials cannot help, so the run stops at once.
    """


class Undeliverable(TransportError):
    """This relay can never take this one message (an address that needs SMTPUTF8, say).

    The recipient fails, with no bounce recorded (the address is not at fault,
    the relay is); the connection stays usable for the next message.
    """


def queue_id_of(text: str) -> str:
    """The queue id in a 250 reply (Postfix and most MTAs say "queued as ID")."""
    match = _QUEUE_ID.search(text)
    return match.group(1) if match else ""


class Channel(Protocol):
    """One open connection; ``send`` hands over one message.

    An SMTP answer (2xx, 4xx, 5xx) comes back as a ``Reply``. A broken
    connection (closed, timed out, 421) raises ``TransportError``: the channel
    is then unusable and the caller closes it and opens another.
    """

    async def send(
        self, sender: str, recipient: str, data: bytes, smtputf8: bool, *, stuffed: bool = False,
        relaxed: bool = False,
    ) -> Reply:
        """Hand over one message (``data`` with CRLF line ends) for one recipient.

        ``stuffed`` promises that no line of ``data`` starts with a dot (and
        every line ends in CRLF), so an SMTP channel may write it as it is.
        ``relaxed`` promises that the body is already in DKIM's relaxed form
        but for empty lines at its end (no run of spaces or tabs, no white
        space ending a line), so the signing channel hashes it as it is; the
        others need not look at it.
        """
        ...

    async def close(self) -> None:
        """Release the connection; never raises."""
        ...


@dataclass(frozen=True)
class Upcoming:
    """The envelope of the message a sender will hand a channel next."""

    sender: str
    recipient: str
    smtputf8: bool = False


class ChainingChannel(Channel, Protocol):
    """A channel that writes the next message's envelope together with this one's body.

    A pipelining SMTP server then gets one write per message instead of two,
    and answers the body and the next envelope at once (RFC 2920 lets message
    content start a group of commands). ``chains`` says a channel can; the
    sender uses it only when the next message is built and no rate holds it.
    """

    #: Whether ``send`` takes ``then``.
    chains: bool
    #: The envelope the last ``send`` wrote after its body; the next ``send`` must be its
    #: message (the server is waiting for it). None when nothing was written ahead.
    announced: Upcoming | None

    async def send(
        self, sender: str, recipient: str, data: bytes, smtputf8: bool, *, stuffed: bool = False,
        relaxed: bool = False, then: Upcoming | None = None,
    ) -> Reply:
        """As ``Channel.send``; ``then`` is the next message's envelope, written after this
        body when this message reaches it (``announced`` says whether it did)."""
        ...


def chaining(channel: Channel | None) -> ChainingChannel | None:
    """``channel`` as a ``ChainingChannel`` when it says it chains (``chains``), else None."""
    return cast(ChainingChannel, channel) if getattr(channel, "chains", False) else None


class Transport(Protocol):
    """A source of channels (a pool of relays, or the outbox folder)."""

    #: A short description for messages ("smtp relay.example.org:587", "outbox ./outbox").
    name: str

    async def open(self) -> Channel:
        """A new channel; ``TransportError`` when no relay can be reached."""
        ...
