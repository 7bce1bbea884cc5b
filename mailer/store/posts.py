"""The ``posts`` table: messages to a list's posting address, kept whole with their status.

A post is stored as it arrived (the raw message), so that a decision made
later (approve, reject, discard) acts on exactly what was sent, and the
campaign that sends an accepted post reads it from here.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from mailer import clock
from mailer.errors import PostNotFound
from mailer.store.database import Store
from mailer.store.models import Post, PostStatus

#: The statuses of a post that still waits for a decision.
WAITING = (PostStatus.HELD, PostStatus.UNCONFIRMED)
_WAITING_SQL = "status IN ('held', 'unconfirmed')"


@dataclass(frozen=True)
class NewPost:
    """A post as the intake stores it."""

    list_id: int
    list_name: str
    sender: str
    sender_name: str
    subject: str
    message_id: str
    raw: bytes
    status: PostStatus
    reason: str
    #: How an accepted post proved its sender (``dmarc``, ``dkim``).
    proof: str = ""
    #: What is done for the poster's DMARC policy (``munge``, ``wrap``, "").
    dmarc: str = ""


def insert(conn: sqlite3.Connection, post: NewPost) -> int:
    """Store one post; its id."""
    decided = None if post.status in WAITING else clock.now_iso()
    cursor = conn.execute(
        "INSERT INTO posts (received_at, list_id, list_name, sender, sender_name, subject, "
        "message_id, raw, status, reason, proof, dmarc, decided_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            clock.now_iso(), post.list_id, post.list_name, post.sender, post.sender_name,
            post.subject, post.message_id, post.raw, post.status, post.reason, post.proof,
            post.dmarc, decided,
        ),
    )
    return int(cursor.lastrowid or 0)


def get(conn: sqlite3.Connection | Store, post_id: int) -> Post:
    """The post with this id; ``PostNotFound`` if there is none."""
    row = conn.execute("SELECT * FROM posts WHERE id = ?", (post_id,)).fetchone()
    if row is None:
        raise PostNotFound(post_id)
    return Post.from_row(row)


def raw_of(conn: sqlite3.Connection | Store, post_id: int) -> bytes:
    """The message of a post, as it arrived."""
    row = conn.execute("SELECT raw FROM posts WHERE id = ?", (post_id,)).fetchone()
    if row is None:
        raise PostNotFound(post_id)
    return bytes(row[0])


def of_campaign(conn: sqlite3.Connection | Store, campaign_id: int) -> Post | None:
    """The post a campaign of kind ``post`` sends."""
    row = conn.execute("SELECT * FROM posts WHERE campaign_id = ?", (campaign_id,)).fetchone()
    return Post.from_row(row) if row is not None else None


def waiting(store: Store, list_id: int | None = None) -> list[Post]:
    """The posts that wait for a decision (held, or for their poster), oldest first."""
    sql = f"SELECT * FROM posts WHERE {_WAITING_SQL}"
    params: list[object] = []
    if list_id is not None:
        sql += " AND list_id = ?"
        params.append(list_id)
    return [Post.from_row(row) for row in store.all(sql + " ORDER BY id", params)]


@dataclass(frozen=True)
class Decision:
    """What becomes of a waiting post."""

    status: PostStatus
    reason: str
    proof: str = ""
    note: str = ""
    campaign_id: int | None = None


def decide(conn: sqlite3.Connection, post_id: int, decision: Decision) -> bool:
    """Record a decision on a post that still waits for one; whether it did (of two
    moderators deciding at once, one does)."""
    cursor = conn.execute(
        "UPDATE posts SET status = ?, reason = ?, proof = ?, note = ?, campaign_id = ?, "
        f"decided_at = ? WHERE id = ? AND {_WAITING_SQL}",
        (decision.status, decision.reason, decision.proof, decision.note, decision.campaign_id,
         clock.now_iso(), post_id),
    )
    return cursor.rowcount > 0


def set_campaign(conn: sqlite3.Connection, post_id: int, campaign_id: int) -> None:
    """Name the campaign that sends an accepted post."""
    conn.execute("UPDATE posts SET campaign_id = ? WHERE id = ?", (campaign_id, post_id))


def expire(store: Store, received_before: str) -> int:
    """Discard the waiting posts received before then (their message too); how many."""
    with store.transaction() as conn:
        cursor = conn.execute(
            "UPDATE posts SET status = 'discarded', reason = 'expired', raw = X'', "
            f"decided_at = ? WHERE {_WAITING_SQL} AND received_at < ?",
            (clock.now_iso(), received_before),
        )
    return cursor.rowcount


def of_list(store: Store, list_id: int, status: PostStatus | None = None) -> list[Post]:
    """A list's posts, oldest first (the order a moderator takes them in)."""
    sql = "SELECT * FROM posts WHERE list_id = ?"
    params: list[object] = [list_id]
    if status is not None:
        sql += " AND status = ?"
        params.append(status)
    return [Post.from_row(row) for row in store.all(sql + " ORDER BY id", params)]


def delete_from(conn: sqlite3.Connection, key: str) -> None:
    """Delete the posts sent from this address (the person is forgotten)."""
    conn.execute("DELETE FROM posts WHERE mailer_address_key(sender) = ?", (key,))
