"""Digests: who takes a list's posts as a digest, the posts queued for them, who is due.

A member's ``subscriptions.digest`` is ``off`` (each post as it is sent),
``daily`` or ``weekly``; ``digest_since`` is the moment their period counts
from. Each accepted post is queued for every mailable digest member of its
list (``digest_queue``); a digest campaign claims, in the transaction that
makes it, the queued posts of the members it goes to, so that what a digest
holds never changes after it is made (a resumed send builds the same one).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from mailer.store.database import Store
from mailer.store.deliveries import recipients_sql

#: How a member may take a list's posts.
DIGEST_MODES = ("off", "daily", "weekly")

#: A member ``p`` of subscription ``s`` has a digest due: posts queued and not yet in
#: a digest, and their period over (or the digest turned off since: the rest goes at
#: once). Parameters: the latest ``digest_since`` of a daily and of a weekly one due.
_DUE = (
    "EXISTS (SELECT 1 FROM digest_queue q WHERE q.list_id = s.list_id "
    "AND q.subscriber_id = p.id AND q.campaign_id IS NULL) "
    "AND (s.digest = 'off' "
    "OR (s.digest = 'daily' AND coalesce(s.digest_since, '') <= ?) "
    "OR (s.digest = 'weekly' AND coalesce(s.digest_since, '') <= ?))"
)


@dataclass(frozen=True)
class DigestMember:
    """A member a digest is being made for: their mode and the moment it counts from."""

    subscriber_id: int
    mode: str
    since: str | None


def choose(
    conn: sqlite3.Connection, list_id: int, subscriber_id: int, mode: str, now: str
) -> str | None:
    """Set how the member takes the list's posts; the mode they had, or None when they
    are not on the list. Their period counts from ``now`` when they had none before."""
    row = conn.execute(
        "SELECT digest FROM subscriptions WHERE list_id = ? AND subscriber_id = ?",
        (list_id, subscriber_id),
    ).fetchone()
    if row is None:
        return None
    conn.execute(
        "UPDATE subscriptions SET digest = ?, digest_since = CASE WHEN digest = 'off' "
        "AND ? != 'off' THEN ? ELSE digest_since END WHERE list_id = ? AND subscriber_id = ?",
        (mode, mode, now, list_id, subscriber_id),
    )
    return str(row[0])


def queue_post(conn: sqlite3.Connection, list_id: int, post_id: int) -> int:
    """Queue an accepted post for each mailable digest member of its list; for how many."""
    sql, params = recipients_sql(conn, [list_id], 0, (), "s.list_id, p.id, ?")
    return conn.execute(
        f"INSERT OR IGNORE INTO digest_queue (list_id, subscriber_id, post_id) {sql} "
        "AND s.digest != 'off'",
        [post_id, *params],
    ).rowcount


def lists_waiting(conn: sqlite3.Connection | Store) -> list[int]:
    """The lists with posts queued that no digest has claimed yet."""
    rows = conn.execute(
        "SELECT DISTINCT list_id FROM digest_queue WHERE campaign_id IS NULL ORDER BY list_id"
    ).fetchall()
    return [int(row[0]) for row in rows]


def drop_unmailable(conn: sqlite3.Connection, list_id: int) -> int:
    """Unqueue the posts no digest claimed of members the list can no longer mail (left,
    unconfirmed again, removed, their address suppressed after a bounce or a complaint, or
    blocked); how many.

    The same as each post's own campaign would have done: it leaves out whom it
    cannot mail, for good. Who joins again, or whose block is lifted, starts
    afresh rather than getting the posts of the time they were away.
    """
    sql, params = recipients_sql(conn, [list_id], 0, (), "1")
    return conn.execute(
        "DELETE FROM digest_queue WHERE list_id = ? AND campaign_id IS NULL AND NOT EXISTS "
        f"({sql} AND p.id = digest_queue.subscriber_id)",
        [list_id, *params],
    ).rowcount


def count_due(conn: sqlite3.Connection, list_id: int, daily: str, weekly: str) -> int:
    """How many of the list's mailable members have a digest due (``_DUE``)."""
    sql, params = recipients_sql(conn, [list_id], 0, (), "count(*)")
    row = conn.execute(f"{sql} AND {_DUE}", [*params, daily, weekly]).fetchone()
    return int(row[0]) if row else 0


def snapshot(
    conn: sqlite3.Connection, campaign_id: int, list_id: int, daily: str, weekly: str
) -> list[DigestMember]:
    """Make the digest campaign's deliveries (the members due) and claim their queued
    posts for it; the members, with the mode and moment their period counted from."""
    sql, params = recipients_sql(conn, [list_id], 0, (), "?, p.id, p.email, s.list_id")
    conn.execute(
        f"INSERT INTO deliveries (campaign_id, subscriber_id, email, list_id) {sql} "
        f"AND {_DUE} ORDER BY p.id",
        [campaign_id, *params, daily, weekly],
    )
    conn.execute(
        "UPDATE digest_queue SET campaign_id = ? WHERE list_id = ? AND campaign_id IS NULL "
        "AND subscriber_id IN (SELECT subscriber_id FROM deliveries WHERE campaign_id = ?)",
        (campaign_id, list_id, campaign_id),
    )
    rows = conn.execute(
        "SELECT s.subscriber_id, s.digest, s.digest_since FROM deliveries d "
        "JOIN subscriptions s ON s.subscriber_id = d.subscriber_id AND s.list_id = ? "
        "WHERE d.campaign_id = ? ORDER BY d.subscriber_id",
        (list_id, campaign_id),
    ).fetchall()
    return [DigestMember(int(row[0]), str(row[1]), row[2]) for row in rows]


def move_since(conn: sqlite3.Connection, list_id: int, moved: Sequence[tuple[int, str]]) -> None:
    """Each ``(subscriber id, moment)``: the member's next period counts from then."""
    conn.executemany(
        "UPDATE subscriptions SET digest_since = ? WHERE list_id = ? AND subscriber_id = ?",
        [(since, list_id, subscriber_id) for subscriber_id, since in moved],
    )


def posts_for(conn: sqlite3.Connection | Store, campaign_id: int, subscriber_id: int) -> list[int]:
    """The posts a digest campaign carries for one member, oldest first."""
    rows = conn.execute(
        "SELECT post_id FROM digest_queue WHERE campaign_id = ? AND subscriber_id = ? "
        "ORDER BY post_id",
        (campaign_id, subscriber_id),
    ).fetchall()
    return [int(row[0]) for row in rows]


def release(conn: sqlite3.Connection, campaign_id: int) -> int:
    """Give back to the queue the posts a cancelled digest claimed for the members it
    had not reached, so that their next digest carries them; how many."""
    return conn.execute(
        "UPDATE digest_queue SET campaign_id = NULL WHERE campaign_id = ? AND subscriber_id "
        "NOT IN (SELECT subscriber_id FROM deliveries WHERE campaign_id = ? AND state = 'sent' "
        "AND subscriber_id IS NOT NULL)",
        (campaign_id, campaign_id),
    ).rowcount
