"""The ``bounces`` table: storing events, finding them again, counting them.

Every event is stored with where it came from and the server's own words,
whatever the policy then does with it: the record is what a person reads
when a subscriber asks why they stopped getting mail.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailer import clock
from mailer.bounces.model import BounceEvent
from mailer.contacts import address_key
from mailer.errors import NotFoundError, UsageError
from mailer.store.database import Store


@dataclass(frozen=True)
class StoredBounce:
    """One row of the ``bounces`` table."""

    id: int
    received_at: str
    message_id: str
    recipient: str
    subscriber_id: int | None
    campaign_id: int | None
    kind: str
    status: str
    reason: str
    diagnostic: str
    source: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> StoredBounce:
        """Build from a ``SELECT * FROM bounces`` row."""
        return cls(**{name: row[name] for name in _FIELDS})

    def as_dict(self) -> dict[str, Any]:
        """The row as ``bounces ls --json`` prints it."""
        return {name: getattr(self, name) for name in _FIELDS}


_FIELDS = (
    "id", "received_at", "message_id", "recipient", "subscriber_id", "campaign_id", "kind",
    "status", "reason", "diagnostic", "source",
)


def already_stored(conn: sqlite3.Connection, message_id: str) -> bool:
    """Whether a message with this Message-ID was ingested before."""
    if not message_id:
        return False
    row = conn.execute("SELECT 1 FROM bounces WHERE message_id = ? LIMIT 1", (message_id,))
    return row.fetchone() is not None


def campaign_exists(conn: sqlite3.Connection, campaign_id: int | None) -> bool:
    """Whether a campaign id (from a VERP token) names a campaign we still have."""
    if campaign_id is None:
        return False
    row = conn.execute("SELECT 1 FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
    return row is not None


def store_event(
    conn: sqlite3.Connection,
    event: BounceEvent,
    *,
    message_id: str,
    source: str,
    subscriber_id: int | None,
    campaign_id: int | None,
) -> bool:
    """Insert one event; False when this message's event was stored before."""
    cursor = conn.execute(
        "INSERT OR IGNORE INTO bounces (received_at, message_id, recipient, subscriber_id, "
        "campaign_id, kind, status, reason, diagnostic, source) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            clock.now_iso(), message_id, event.recipient, subscriber_id, campaign_id,
            event.kind, event.status, event.reason, event.diagnostic, source,
        ),
    )
    return cursor.rowcount > 0


def find_bounces(
    store: Store,
    *,
    email: str | None = None,
    campaign_id: int | None = None,
    since: str | None = None,
    limit: int | None = None,
) -> list[StoredBounce]:
    """Stored events, newest first, filtered by address, campaign and date.

    An address matches the events stored under it and those of the
    subscriber it names, compared by key as subscribers are (SQLite's own
    ``lower`` knows only ASCII).
    """
    sql = "SELECT * FROM bounces WHERE 1 = 1"
    params: list[Any] = []
    if email:
        sql += (
            " AND (recipient IN (?, ?) OR subscriber_id IN "
            "(SELECT id FROM subscribers WHERE email_key = ?))"
        )
        params += [email.strip().lower(), address_key(email), address_key(email)]
    if campaign_id is not None:
        if not campaign_exists(store.conn, campaign_id):
            raise NotFoundError(f"no campaign {campaign_id} (see `mailer campaigns ls`)")
        sql += " AND campaign_id = ?"
        params.append(campaign_id)
    if since:
        sql += " AND received_at >= ?"
        params.append(since_timestamp(since))
    sql += " ORDER BY received_at DESC, id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [StoredBounce.from_row(row) for row in store.all(sql, params)]


def since_timestamp(text: str) -> str:
    """A ``--since`` value (``2026-11-01`` or an ISO time) as the store's timestamp."""
    try:
        moment = clock.parse_iso(text.strip())
    except ValueError:
        raise UsageError(f"--since: not a date or time: {text!r} (use YYYY-MM-DD)") from None
    return clock.iso(moment)


def bounce_counts(conn: sqlite3.Connection | Store, campaign_id: int) -> dict[str, int]:
    """How many events of each kind a campaign received (for ``campaigns show``)."""
    rows = conn.execute(
        "SELECT kind, count(*) AS n FROM bounces WHERE campaign_id = ? GROUP BY kind",
        (campaign_id,),
    ).fetchall()
    return {row["kind"]: row["n"] for row in rows}


def days_between(earlier: str, later: datetime) -> float:
    """Days from a stored timestamp to ``later``."""
    return (later - clock.parse_iso(earlier)).total_seconds() / 86400
