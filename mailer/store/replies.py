"""The ``replies`` and ``reply_attachments`` tables: answers to circulars.

A reply names its campaign and subscriber only when its address proved them
(``verified``); the subscriber's address, name and attributes are read
through the join, so a reply shows the person as they are now. The message
itself and its attachments are files under the replies folder
(``replies.folder`` names the reply's own folder in it; an attachment's
``path`` is relative to that folder too).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mailer import clock
from mailer.errors import CampaignNotFound, ReplyNotFound
from mailer.store import campaigns
from mailer.store.database import Store
from mailer.store.models import ForwardState, Reply, ReplyAttachment

_SELECT = (
    "SELECT r.*, s.email AS email, s.name AS name, s.attributes AS attributes "
    "FROM replies r LEFT JOIN subscribers s ON s.id = r.subscriber_id"
)
#: Ids per ``IN (...)`` list, under SQLite's limit of bound parameters.
_CHUNK = 500


@dataclass(frozen=True)
class NewReply:
    """A reply as the intake stores it."""

    message_id: str
    recipient: str
    campaign_id: int | None
    subscriber_id: int | None
    verified: bool
    sender: str
    sender_name: str
    subject: str
    sent_at: str | None
    text: str
    forward: ForwardState


def insert(conn: sqlite3.Connection, reply: NewReply) -> int:
    """Store one reply; its id (which names its folder)."""
    cursor = conn.execute(
        "INSERT INTO replies (received_at, message_id, recipient, campaign_id, subscriber_id, "
        "verified, sender, sender_name, subject, sent_at, text, forward) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            clock.now_iso(), reply.message_id, reply.recipient, reply.campaign_id,
            reply.subscriber_id, int(reply.verified), reply.sender, reply.sender_name,
            reply.subject, reply.sent_at, reply.text, reply.forward,
        ),
    )
    return int(cursor.lastrowid or 0)


def set_files(
    conn: sqlite3.Connection, reply_id: int, folder: str, attachments: Sequence[ReplyAttachment]
) -> None:
    """Record the reply's folder and the attachments saved in it (or left out, and why)."""
    conn.execute("UPDATE replies SET folder = ? WHERE id = ?", (folder, reply_id))
    conn.executemany(
        "INSERT INTO reply_attachments (reply_id, position, filename, content_type, size, "
        "path, note) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (reply_id, a.position, a.filename, a.content_type, a.size, a.path, a.note)
            for a in attachments
        ],
    )


def find(
    store: Store, *, campaign_id: int | None = None, limit: int | None = None
) -> list[Reply]:
    """Replies, newest first; those to one campaign when ``campaign_id`` is given."""
    sql, params = _SELECT + " WHERE 1 = 1", []
    if campaign_id is not None:
        if not campaigns.exists(store, campaign_id):
            raise CampaignNotFound(campaign_id)
        sql += " AND r.campaign_id = ?"
        params.append(campaign_id)
    sql += " ORDER BY r.received_at DESC, r.id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return _with_attachments(store, store.all(sql, params))


def get(store: Store, reply_id: int) -> Reply:
    """One reply with its attachments; ``ReplyNotFound`` if there is none."""
    rows = store.all(_SELECT + " WHERE r.id = ?", (reply_id,))
    if not rows:
        raise ReplyNotFound(reply_id)
    return _with_attachments(store, rows)[0]


def by_message(conn: sqlite3.Connection, message_id: str, recipient: str) -> Reply | None:
    """The reply stored from this message to this address, if any."""
    rows = conn.execute(
        _SELECT + " WHERE r.message_id = ? AND r.recipient = ?", (message_id, recipient)
    ).fetchall()
    return _with_attachments(conn, rows)[0] if rows else None


def to_forward(conn: sqlite3.Connection) -> list[Reply]:
    """The replies waiting to be forwarded, oldest first."""
    rows = conn.execute(
        _SELECT + " WHERE r.forward = ? ORDER BY r.id", (ForwardState.PENDING,)
    ).fetchall()
    return _with_attachments(conn, rows)


def set_forward(
    conn: sqlite3.Connection, reply_id: int, state: ForwardState, note: str = ""
) -> None:
    """Record how forwarding a reply went."""
    conn.execute(
        "UPDATE replies SET forward = ?, forward_note = ?, forwarded_at = ? WHERE id = ?",
        (state, note, clock.now_iso() if state is ForwardState.SENT else None, reply_id),
    )


def about(conn: sqlite3.Connection | Store, subscriber_id: int | None, key: str) -> list[Reply]:
    """The replies of a person: proved to be theirs, or sent from their address."""
    rows = conn.execute(
        _SELECT + " WHERE r.subscriber_id = ? OR mailer_address_key(r.sender) = ? ORDER BY r.id",
        (subscriber_id, key),
    ).fetchall()
    return _with_attachments(conn, rows)


def delete(conn: sqlite3.Connection, reply_ids: Sequence[int]) -> None:
    """Delete replies and their attachment rows (the files are the caller's)."""
    conn.executemany("DELETE FROM replies WHERE id = ?", [(i,) for i in reply_ids])


def _with_attachments(conn: sqlite3.Connection | Store, rows: Sequence[sqlite3.Row]) -> list[Reply]:
    """The rows as replies, each with its attachments, read in a few queries."""
    ids = [row["id"] for row in rows]
    found: dict[int, list[ReplyAttachment]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        params: list[Any] = list(chunk)
        for row in conn.execute(
            f"SELECT * FROM reply_attachments WHERE reply_id IN ({marks}) "
            "ORDER BY reply_id, position",
            params,
        ):
            found.setdefault(row["reply_id"], []).append(ReplyAttachment.from_row(row))
    return [Reply.from_row(row, tuple(found.get(row["id"], ()))) for row in rows]
