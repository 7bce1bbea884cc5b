"""The ``bounces`` table: bounces, complaints and requests to leave, as received.

Every event is stored with where it came from, the server's own words and
how it proved itself, whatever the policy then does with it: the record is
what a person reads when a subscriber asks why they stopped getting mail.
A message's events are stored once (``message_id, recipient, kind`` is
unique), so reading the same bounce twice counts it once.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from mailer import clock
from mailer.contacts.addresses import address_key
from mailer.errors import CampaignNotFound
from mailer.store import campaigns
from mailer.store.database import Store
from mailer.store.models import Proof, StoredBounce

_INSERT = (
    "INSERT OR IGNORE INTO bounces (received_at, message_id, recipient, subscriber_id, "
    "campaign_id, kind, status, reason, diagnostic, source, proof) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True)
class NewBounce:
    """What is stored of one event: the report's words and whom it is about."""

    message_id: str
    recipient: str
    kind: str
    status: str
    reason: str
    diagnostic: str
    source: str
    subscriber_id: int | None
    campaign_id: int | None
    proof: Proof


def insert(conn: sqlite3.Connection, bounce: NewBounce) -> int | None:
    """Store one event; its row id, or None when this message's event was stored before."""
    cursor = conn.execute(
        _INSERT,
        (
            clock.now_iso(), bounce.message_id, bounce.recipient, bounce.subscriber_id,
            bounce.campaign_id, bounce.kind, bounce.status, bounce.reason, bounce.diagnostic,
            bounce.source, bounce.proof,
        ),
    )
    return int(cursor.lastrowid) if cursor.rowcount > 0 and cursor.lastrowid else None


def subscriber_exists(conn: sqlite3.Connection, subscriber_id: int | None) -> bool:
    """Whether a subscriber id (from a token or a delivery) names someone still stored."""
    if subscriber_id is None:
        return False
    row = conn.execute("SELECT 1 FROM subscribers WHERE id = ?", (subscriber_id,)).fetchone()
    return row is not None


def already_stored(conn: sqlite3.Connection, message_id: str) -> bool:
    """Whether a message with this Message-ID was ingested before."""
    if not message_id:
        return False
    row = conn.execute("SELECT 1 FROM bounces WHERE message_id = ? LIMIT 1", (message_id,))
    return row.fetchone() is not None


def find_bounces(
    store: Store,
    *,
    email: str | None = None,
    campaign_id: int | None = None,
    since: str | None = None,
    limit: int | None = None,
) -> list[StoredBounce]:
    """Stored events, newest first, filtered by address, campaign and time (``since``).

    An address matches the events stored under its subscriber and the
    unverified ones that only name it, in any spelling (compared by key, as
    subscribers are: SQLite's own ``lower`` knows only ASCII).
    """
    sql = "SELECT * FROM bounces WHERE 1 = 1"
    params: list[Any] = []
    if email:
        key = address_key(email)
        sql += (
            " AND (mailer_address_key(recipient) = ? OR subscriber_id IN "
            "(SELECT id FROM subscribers WHERE email_key = ?))"
        )
        params += [key, key]
    if campaign_id is not None:
        if not campaigns.exists(store, campaign_id):
            raise CampaignNotFound(campaign_id)
        sql += " AND campaign_id = ?"
        params.append(campaign_id)
    if since:
        sql += " AND received_at >= ?"
        params.append(since)
    sql += " ORDER BY received_at DESC, id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [StoredBounce.from_row(row) for row in store.all(sql, params)]


def kinds_of(store: Store, campaign_id: int) -> dict[str, int]:
    """How many proven events of each kind a campaign received."""
    rows = store.all(
        "SELECT kind, count(*) AS n FROM bounces WHERE campaign_id = ? AND proof != '' "
        "GROUP BY kind",
        (campaign_id,),
    )
    return {row["kind"]: row["n"] for row in rows}


def unverified_count(store: Store, campaign_id: int) -> int:
    """Reports that named recipients of this campaign but proved nothing (acted on nobody)."""
    row = store.one(
        "SELECT count(*) FROM bounces WHERE campaign_id = ? AND proof = ''", (campaign_id,)
    )
    return int(row[0]) if row else 0


def about(
    conn: sqlite3.Connection | Store, subscriber_id: int | None, key: str
) -> list[StoredBounce]:
    """The events about an address: linked to its subscriber, or naming it unverified."""
    rows = conn.execute(
        "SELECT * FROM bounces WHERE subscriber_id = ? OR (subscriber_id IS NULL "
        "AND recipient != '' AND mailer_address_key(recipient) = ?) ORDER BY id",
        (subscriber_id, key),
    ).fetchall()
    return [StoredBounce.from_row(row) for row in rows]


def unname(conn: sqlite3.Connection, bounce_ids: list[int]) -> None:
    """Replace the address and diagnostic of these events (the person is forgotten).

    Each row gets a placeholder of its own: the table keeps one row per
    message, recipient and kind, and the campaigns' counts keep the rows.
    """
    conn.executemany(
        "UPDATE bounces SET recipient = 'forgotten-' || id, diagnostic = '' WHERE id = ?",
        [(bounce_id,) for bounce_id in bounce_ids],
    )


@dataclass(frozen=True)
class Complaints:
    """Messages sent and complaints about them since a moment, for a complaint rate."""

    campaigns: int
    sent: int
    complaints: int


def complaints_since(store: Store, since: str) -> Complaints:
    """How many campaigns there are at all, and the messages sent and the complaints
    received (those that proved which letter they are about) since ``since``."""
    row = store.one(
        "SELECT (SELECT count(*) FROM campaigns), "
        "(SELECT count(*) FROM deliveries WHERE state = 'sent' AND sent_at >= ?), "
        "(SELECT count(*) FROM bounces WHERE kind = 'complaint' AND proof != '' "
        "AND received_at >= ?)",
        (since, since),
    )
    assert row is not None
    return Complaints(int(row[0]), int(row[1]), int(row[2]))


def weighed_by_guards(conn: sqlite3.Connection | Store, campaign_id: int) -> tuple[int, int, int]:
    """(hard bounces our SMTP session heard, hard bounces reported since, complaints) of a
    campaign, proven ones only: what the sending guards weigh.

    One pass over the campaign's rows by the ``bounces_campaign`` index.
    """
    row = conn.execute(
        "SELECT coalesce(sum(kind = 'hard' AND proof = 'smtp'), 0), "
        "coalesce(sum(kind = 'hard' AND proof != 'smtp'), 0), "
        "coalesce(sum(kind = 'complaint'), 0) "
        "FROM bounces WHERE campaign_id = ? AND proof != ''",
        (campaign_id,),
    ).fetchone()
    return (int(row[0]), int(row[1]), int(row[2]))
