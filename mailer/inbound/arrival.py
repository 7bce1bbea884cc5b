"""One message as the intake sees it, what became of it, and what every route shares.

The address a message was delivered to decides its route. It is, in this
order: the address given on the command line (``--to``), the one the MTA
names (a pipe's ``ORIGINAL_RECIPIENT``, in ``Incoming.envelope_to``), then
the first ``X-Original-To`` and the first ``Delivered-To`` header, which a
local delivery agent writes on top of the message it delivers.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from mailer.bounces import mime
from mailer.bounces.addresses import first_address
from mailer.bounces.identity import key_of
from mailer.bounces.sources import Incoming
from mailer.config import Config
from mailer.inbound.message import Head, head_of
from mailer.inbound.noise import Ours
from mailer.inbound.routes import Destination, RouteKind, Router
from mailer.store import inbound
from mailer.store.database import Store
from mailer.store.models import Outcome
from mailer.tokens import Signer

#: Why a message to an address that is none of ours is dropped.
UNKNOWN_RECIPIENT = "unknown recipient"


@dataclass(frozen=True)
class Arrival:
    """A message, the address it came to, and what its headers say."""

    incoming: Incoming
    head: mime.Part
    facts: Head
    recipient: str
    #: The Message-ID, or a hash of the content for a message without one.
    key: str

    @property
    def raw(self) -> bytes:
        return self.incoming.raw

    @property
    def size(self) -> int:
        return self.incoming.size or len(self.incoming.raw)


def arrive(incoming: Incoming, to: str = "") -> Arrival:
    """Read the headers of ``incoming`` and find the address it was delivered to."""
    head = mime.load(incoming.raw, headers_only=True)
    recipient = first_address(to or incoming.envelope_to)
    for name in ("x-original-to", "delivered-to"):
        recipient = recipient or first_address(mime.header(head, name))
    facts = head_of(head)
    return Arrival(incoming, head, facts, recipient, key_of(facts.message_id, incoming.raw))


@dataclass(frozen=True)
class Received:
    """What the intake did with one message (``outcome`` None: it had it already)."""

    route: RouteKind
    outcome: Outcome | None
    reason: str = ""
    #: Replies: whether its address proved whose it is.
    verified: bool = False
    #: The bounce route: what the bounce policy changed.
    changes: tuple[str, ...] = ()
    #: Replies forwarded to the coordinator while it was taken (this one, or
    #: ones an earlier try left waiting).
    forwarded: int = 0


@dataclass
class Intake:
    """What every route needs for one run: the store, the settings, and who we are."""

    store: Store
    config: Config
    router: Router
    us: Ours
    signer: Signer | None
    #: Where the replies' files go (``Config.replies_path``).
    root: Path

    def seen(self, conn: sqlite3.Connection, arrival: Arrival) -> bool:
        """Whether this message, to this address, was taken in before."""
        return inbound.seen(conn, arrival.key, arrival.recipient)

    def record(
        self,
        conn: sqlite3.Connection,
        arrival: Arrival,
        destination: Destination,
        outcome: Outcome,
        reason: str,
    ) -> Received:
        """Log the message in the ``inbound`` table (inside the route's transaction)."""
        inbound.log(
            conn,
            inbound.NewEntry(
                message_id=arrival.key, recipient=arrival.recipient,
                route=destination.kind, sender=arrival.facts.sender, size=arrival.size,
                outcome=outcome, reason=reason, source=arrival.incoming.source,
            ),
        )
        return Received(destination.kind, outcome, reason)
