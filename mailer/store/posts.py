"""The ``posts`` table: messages to a list's posting address, kept whole with their status.

A post is stored as it arrived (the raw message), so that a decision made
later (approve, reject, discard) acts on exactly what was sent.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from mailer import clock
from mailer.store.database import Store
from mailer.store.models import Post, PostStatus


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


def insert(conn: sqlite3.Connection, post: NewPost) -> int:
    """Store one post; its id."""
    cursor = conn.execute(
        "INSERT INTO posts (received_at, list_id, list_name, sender, sender_name, subject, "
        "message_id, raw, status, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            clock.now_iso(), post.list_id, post.list_name, post.sender, post.sender_name,
            post.subject, post.message_id, post.raw, post.status, post.reason,
        ),
    )
    return int(cursor.lastrowid or 0)


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
