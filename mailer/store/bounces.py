"""The ``bounces`` table: storing events, finding them again, counting them.

Every event is stored with where it came from and the server's own words,
whatever the policy then does with it: the record is what a person reads
when a subscriber asks why they stopped getting mail.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from mailer import clock
from mailer.bounces.model import BounceEvent
from mailer.contacts.addresses import address_key
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
    proof: str

    @property
    def verified(self) -> bool:
        """Whether the report proved itself (and so may have changed someone)."""
        return bool(self.proof)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> StoredBounce:
        """Build from a ``SELECT * FROM bounces`` row."""
        return cls(**{name: row[name] for name in _FIELDS})

    def as_dict(self) -> dict[str, Any]:
        """The row as ``bounces ls --json`` prints it."""
        return {**{name: getattr(self, name) for name in _FIELDS}, "verified": self.verified}


_FIELDS = (
    "id", "received_at", "message_id", "recipient", "subscriber_id", "campaign_id", "kind",
    "status", "reason", "diagnostic", "source", "proof",
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
    proof: str,
) -> bool:
    """Insert one event; False when this message's event was stored before."""
    cursor = conn.execute(
        "INSERT OR IGNORE INTO bounces (received_at, message_id, recipient, subscriber_id, "
        "campaign_id, kind, status, reason, diagnostic, source, proof) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            clock.now_iso(), message_id, event.recipient, subscriber_id, campaign_id,
            event.kind, event.status, event.reason, event.diagnostic, source, proof,
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
        # Any spelling of the address: the events linked to its subscriber, and the
        # unverified ones that only name it.
        key = address_key(email)
        store.conn.create_function("mailer_address_key", 1, address_key, deterministic=True)
        sql += (
            " AND (mailer_address_key(recipient) = ? OR subscriber_id IN "
            "(SELECT id FROM subscribers WHERE email_key = ?))"
        )
        params += [key, key]
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
    """How many proven events of each kind a campaign received (for ``campaigns show``)."""
    rows = conn.execute(
        "SELECT kind, count(*) AS n FROM bounces WHERE campaign_id = ? AND proof != '' "
        "GROUP BY kind",
        (campaign_id,),
    ).fetchall()
    return {row["kind"]: row["n"] for row in rows}


def unverified_count(conn: sqlite3.Connection | Store, campaign_id: int) -> int:
    """Reports that named recipients of this campaign but proved nothing (acted on nobody)."""
    row = conn.execute(
        "SELECT count(*) FROM bounces WHERE campaign_id = ? AND proof = ''", (campaign_id,)
    ).fetchone()
    return int(row[0])


def recent_recipient(
    conn: sqlite3.Connection, address_key: str, since: str
) -> tuple[int, int] | None:
    """(subscriber, campaign) of the latest letter sent to this address since ``since``.

    Only campaigns still sending, or finished since then, are looked at, each
    by its primary key, so this stays cheap however many deliveries are kept.
    """
    row = conn.execute(
        "SELECT d.subscriber_id, d.campaign_id FROM subscribers p "
        "JOIN campaigns c ON c.finished_at IS NULL OR c.finished_at >= ? "
        "JOIN deliveries d ON d.campaign_id = c.id AND d.subscriber_id = p.id "
        "WHERE p.email_key = ? AND d.state = 'sent' AND d.sent_at >= ? "
        "ORDER BY d.sent_at DESC LIMIT 1",
        (since, address_key, since),
    ).fetchone()
    return (int(row[0]), int(row[1])) if row is not None else None

