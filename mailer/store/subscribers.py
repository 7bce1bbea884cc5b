"""The ``subscribers`` table: one row per person (address), compared by its key.

The rules about people (who may join, who is mailed, who is suppressed) live
in ``mailer.membership`` and ``store.suppressions``; here are the rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mailer import clock
from mailer.contacts.addresses import address_key
from mailer.errors import InputError, SubscriberNotFound
from mailer.store.database import Store, pages
from mailer.store.events import dump, record_event
from mailer.store.models import SUBSCRIBER_STATUSES, Subscriber

#: One person: id, email, key, name, attributes (JSON), status, created, updated,
#: language. The bulk import writes with it.
INSERT = (
    "INSERT INTO subscribers (id, email, email_key, name, attributes, status, "
    "created_at, updated_at, language) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
#: New name and attributes of one person: name, attributes, updated, id.
UPDATE_PROFILE = "UPDATE subscribers SET name = ?, attributes = ?, updated_at = ? WHERE id = ?"
#: The language one person reads: tag, updated, id.
UPDATE_LANGUAGE = "UPDATE subscribers SET language = ?, updated_at = ? WHERE id = ?"
#: A new status of one person: status, updated, id.
UPDATE_STATUS = "UPDATE subscribers SET status = ?, updated_at = ? WHERE id = ?"


def find_subscriber(conn: sqlite3.Connection | Store, email: str) -> Subscriber | None:
    """The subscriber with this address (compared case-insensitively), or None."""
    row = conn.execute(
        "SELECT * FROM subscribers WHERE email_key = ?", (address_key(email),)
    ).fetchone()
    return Subscriber.from_row(row) if row else None


def get_subscriber(store: Store, email: str) -> Subscriber:
    """Like ``find_subscriber`` but a missing address is an error naming it."""
    found = find_subscriber(store, email)
    if found is None:
        raise SubscriberNotFound(email)
    return found


def get_subscriber_by_id(conn: sqlite3.Connection | Store, subscriber_id: int) -> Subscriber | None:
    row = conn.execute("SELECT * FROM subscribers WHERE id = ?", (subscriber_id,)).fetchone()
    return Subscriber.from_row(row) if row else None


def insert(
    conn: sqlite3.Connection,
    email: str,
    key: str,
    name: str,
    attributes: dict[str, Any],
    language: str = "",
) -> int:
    """A new, active person; returns their id (never one given before: AUTOINCREMENT)."""
    now = clock.now_iso()
    cursor = conn.execute(
        "INSERT INTO subscribers (email, email_key, name, attributes, status, created_at, "
        "updated_at, language) VALUES (?, ?, ?, ?, 'active', ?, ?, ?)",
        (email, key, name, dump(attributes), now, now, language),
    )
    return int(cursor.lastrowid or 0)


def set_language(conn: sqlite3.Connection, subscriber_id: int, language: str) -> None:
    """The language a person reads (a normalised tag)."""
    conn.execute(UPDATE_LANGUAGE, (language, clock.now_iso(), subscriber_id))


def update_profile(
    conn: sqlite3.Connection, subscriber_id: int, name: str, attributes: dict[str, Any]
) -> None:
    """Replace a person's name and attributes."""
    conn.execute(UPDATE_PROFILE, (name, dump(attributes), clock.now_iso(), subscriber_id))


def last_id(conn: sqlite3.Connection) -> int:
    """The highest id ever given (``sqlite_sequence``), not the highest still there.

    An id of someone forgotten must never be handed out again: it lives on in
    signed tokens inside letters already sent.
    """
    row = conn.execute(
        "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'subscribers'), 0), "
        "coalesce(max(id), 0)) FROM subscribers"
    ).fetchone()
    return int(row[0])


def set_status(
    conn: sqlite3.Connection,
    subscriber_id: int,
    status: str,
    *,
    reason: str,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Change a subscriber's own status and log it; False when it already had it."""
    if status not in SUBSCRIBER_STATUSES:
        raise InputError(f"unknown status {status!r}")
    row = conn.execute("SELECT status FROM subscribers WHERE id = ?", (subscriber_id,)).fetchone()
    if row is None or row["status"] == status:
        return False
    conn.execute(UPDATE_STATUS, (status, clock.now_iso(), subscriber_id))
    record_event(
        conn,
        subscriber_id,
        "status",
        {"from": row["status"], "to": status, "reason": reason, **(detail or {})},
    )
    return True


#: Rows read per query when listing subscribers: one page is one short read
#: transaction, so a slow reader of a long listing never holds the WAL back.
PAGE_SIZE = 1000


@dataclass(frozen=True)
class SubscriberQuery:
    """Which subscribers a listing takes: a list's members, one status, a search text.

    ``search`` matches, in any case, inside the address, the name or any
    attribute's value; ``%`` and ``_`` in it are plain characters.
    """

    list_id: int | None = None
    status: str | None = None
    search: str = ""

    @property
    def key(self) -> str:
        """The column the listing pages by: the subscriber's id, as the index to walk has it.

        For a list's members that is ``s.subscriber_id``, the second column of
        the subscriptions' primary key: ordered by ``p.id`` instead, SQLite
        would sort every remaining member for each page.
        """
        return "s.subscriber_id" if self.list_id is not None else "p.id"

    def sql(self, columns: str) -> tuple[str, list[Any]]:
        """``SELECT columns`` of the matches (subscriber ``p``), ending in a WHERE clause."""
        if self.status is not None and self.status not in SUBSCRIBER_STATUSES:
            raise InputError(
                f"unknown status {self.status!r} (one of: {', '.join(SUBSCRIBER_STATUSES)})"
            )
        sql = f"SELECT {columns} FROM subscribers p"
        params: list[Any] = []
        if self.list_id is not None:
            sql += " JOIN subscriptions s ON s.subscriber_id = p.id AND s.list_id = ?"
            params.append(self.list_id)
        sql += " WHERE 1"
        if self.status is not None:
            sql += " AND p.status = ?"
            params.append(self.status)
        if self.search:
            match, needle = _contains(self.search)
            sql += (
                f" AND ({match.format('p.email')} OR {match.format('p.name')} OR EXISTS "
                f"(SELECT 1 FROM json_each(p.attributes) j WHERE {match.format('j.value')}))"
            )
            params += [needle] * 3
        return sql, params


def _contains(text: str) -> tuple[str, str]:
    """An SQL test "``{}`` holds ``text`` in any case" (a format string) and its parameter.

    ASCII text goes through ``LIKE`` (SQLite folds ASCII case, at C speed),
    with ``%``, ``_`` and the escape character escaped; text with other
    letters through ``mailer_contains``, which folds case as Python does,
    since ``LIKE`` leaves "Ñ" and "ñ" apart.
    """
    if text.isascii():
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return "{} LIKE ? ESCAPE '\\'", f"%{escaped}%"
    return "mailer_contains({}, ?)", text.casefold()


def iter_subscribers(
    store: Store,
    query: SubscriberQuery | None = None,
    *,
    after: int = 0,
    offset: int = 0,
    limit: int | None = None,
    page_size: int = PAGE_SIZE,
) -> Iterator[Subscriber]:
    """The matches in id order, from id ``after`` on, past ``offset`` of them, at most ``limit``.

    Read a page at a time by id (``database.pages``), so memory stays flat
    and no read transaction stays open while the caller writes. The
    ``offset`` is one query that counts past that many matches inside
    SQLite, then the pages go on from there.
    """
    query = query or SubscriberQuery()
    sql, params = query.sql("p.*")
    if offset:
        start = store.one(
            f"{query.sql(query.key)[0]} AND {query.key} > ? ORDER BY {query.key} "
            "LIMIT 1 OFFSET ?",
            [*params, after, offset - 1],
        )
        if start is None:
            return
        after = int(start[0])
    for row in pages(store, sql, params, query.key, after=after, limit=limit,
                     page_size=page_size):
        yield Subscriber.from_row(row)


def bounce_score(conn: sqlite3.Connection, subscriber_id: int) -> sqlite3.Row | None:
    """A person's email, status, soft-bounce score and when it last rose."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT email, status, bounce_score, bounce_scored_at FROM subscribers WHERE id = ?",
        (subscriber_id,),
    ).fetchone()
    return row


def set_bounce_score(conn: sqlite3.Connection, subscriber_id: int, score: int) -> None:
    """Record a new soft-bounce score, scored now."""
    now = clock.now_iso()
    conn.execute(
        "UPDATE subscribers SET bounce_score = ?, bounce_scored_at = ?, updated_at = ? "
        "WHERE id = ?",
        (score, now, now, subscriber_id),
    )


def stale_scores(conn: sqlite3.Connection, scored_before: str) -> list[tuple[int, int]]:
    """(id, score) of every positive score that last rose before ``scored_before``."""
    rows = conn.execute(
        "SELECT id, bounce_score FROM subscribers WHERE bounce_score > 0 "
        "AND bounce_scored_at IS NOT NULL AND bounce_scored_at <= ?",
        (scored_before,),
    ).fetchall()
    return [(int(r[0]), int(r[1])) for r in rows]


def reset_score(conn: sqlite3.Connection, subscriber_id: int) -> None:
    """Set a soft-bounce score back to zero."""
    conn.execute("UPDATE subscribers SET bounce_score = 0 WHERE id = ?", (subscriber_id,))


def delete(conn: sqlite3.Connection, subscriber_id: int) -> None:
    """Remove a person's row (their subscriptions and history go with it)."""
    conn.execute("DELETE FROM subscribers WHERE id = ?", (subscriber_id,))
