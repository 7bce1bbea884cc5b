"""The ``inbound`` table: a line for every message the intake took or dropped.

No message is kept here, only what a person needs to see what happened to
it: when, to which address, by which route, from whom, how big, the outcome
and why. A message and recipient are logged once (``message_id, recipient``
is unique), which is what makes reading the same message twice a no-op.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mailer import clock
from mailer.store.database import Store
from mailer.store.models import InboundEntry, Outcome


@dataclass(frozen=True)
class NewEntry:
    """What is logged of one message."""

    message_id: str
    recipient: str
    route: str
    sender: str
    size: int
    outcome: Outcome
    reason: str
    source: str


def seen(conn: sqlite3.Connection, message_id: str, recipient: str) -> bool:
    """Whether this message, to this address, was taken in before."""
    row = conn.execute(
        "SELECT 1 FROM inbound WHERE message_id = ? AND recipient = ?", (message_id, recipient)
    ).fetchone()
    return row is not None


def log(conn: sqlite3.Connection, entry: NewEntry) -> None:
    """Log one message (a second time for the same message and recipient is ignored)."""
    conn.execute(
        "INSERT OR IGNORE INTO inbound (received_at, message_id, recipient, route, sender, "
        "size, outcome, reason, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            clock.now_iso(), entry.message_id, entry.recipient, entry.route,
            entry.sender, entry.size, entry.outcome, entry.reason, entry.source,
        ),
    )


def recent(
    store: Store, *, limit: int = 50, route: str | None = None, outcome: str | None = None
) -> list[InboundEntry]:
    """The newest lines of the log, filtered by route and outcome."""
    sql = "SELECT * FROM inbound WHERE 1 = 1"
    params: list[Any] = []
    if route:
        sql += " AND route = ?"
        params.append(route)
    if outcome:
        sql += " AND outcome = ?"
        params.append(outcome)
    sql += " ORDER BY received_at DESC, id DESC LIMIT ?"
    params.append(limit)
    return [InboundEntry.from_row(row) for row in store.all(sql, params)]


def unname(
    conn: sqlite3.Connection, key: str, messages: Sequence[tuple[str, str]] = ()
) -> None:
    """Blank the sender where it is this address, and of these ``(message_id, recipient)``
    (a forgotten person's replies, sent from any address of theirs)."""
    conn.execute(
        "UPDATE inbound SET sender = '' WHERE sender != '' AND mailer_address_key(sender) = ?",
        (key,),
    )
    conn.executemany(
        "UPDATE inbound SET sender = '' WHERE message_id = ? AND recipient = ?", messages
    )
