"""The bulk import's writes: set-based lookups per batch, then one ``executemany`` per table.

An import of a million rows cannot afford several queries per row; each
batch of a few thousand is looked up in a handful of statements and written
in a few more. ``mailer.contacts.batch`` decides what each row becomes; this
module only reads and writes. The caller owns the transaction.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from mailer.store import events, subscriptions
from mailer.store.subscribers import INSERT as INSERT_SUBSCRIBER
from mailer.store.subscribers import UPDATE_LANGUAGE, UPDATE_PROFILE, UPDATE_STATUS


class Known(NamedTuple):
    """A person already stored, and their standing on the list being imported into."""

    id: int
    key: str
    status: str
    name: str
    attributes: str
    member_status: str | None
    language: str


def known(conn: sqlite3.Connection, keys: list[str], list_id: int) -> list[Known]:
    """The stored people among ``keys``, with their subscription to ``list_id`` if any."""
    rows = conn.execute(
        "SELECT p.id, p.email_key, p.status, p.name, p.attributes, s.status, p.language "
        "FROM subscribers p LEFT JOIN subscriptions s "
        "ON s.subscriber_id = p.id AND s.list_id = ? "
        "WHERE p.email_key IN (SELECT value FROM json_each(?))",
        (list_id, json.dumps(keys, ensure_ascii=False)),
    )
    return [Known(*row) for row in rows]


@dataclass
class Writes:
    """Everything one batch writes, row tuples per statement."""

    people: list[tuple[Any, ...]] = field(default_factory=list)
    memberships: list[tuple[Any, ...]] = field(default_factory=list)
    profiles: list[tuple[Any, ...]] = field(default_factory=list)
    languages: list[tuple[Any, ...]] = field(default_factory=list)
    statuses: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)


def write(conn: sqlite3.Connection, writes: Writes) -> None:
    """Write a batch: new people, new subscriptions, changed profiles, languages and
    statuses, events."""
    if writes.people:
        conn.executemany(INSERT_SUBSCRIBER, writes.people)
    if writes.memberships:
        conn.executemany(subscriptions.INSERT, writes.memberships)
    if writes.profiles:
        conn.executemany(UPDATE_PROFILE, writes.profiles)
    if writes.languages:
        conn.executemany(UPDATE_LANGUAGE, writes.languages)
    if writes.statuses:
        conn.executemany(UPDATE_STATUS, writes.statuses)
    if writes.events:
        events.record_many(conn, writes.events)


class SeenAddresses:
    """The addresses met earlier in this file, in memory that does not grow with it.

    Most addresses of a big import are new: they become subscribers whose ids
    this run hands out in one contiguous range per batch, so meeting one of
    them again is recognised by its id, with nothing stored per row. The
    others (already stored, suppressed, or any address in a dry run) go into
    a TEMP table, on disk, instead of a Python set. This saves one random
    B-tree insert per new row, about a fifth of an import's database time.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._starts: list[int] = []
        self._ends: list[int] = []
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS import_seen (key TEXT PRIMARY KEY) WITHOUT ROWID"
        )
        conn.execute("DELETE FROM temp.import_seen")

    def created(self, first: int, last: int) -> None:
        """Subscribers ``first`` to ``last`` (ids, inclusive) were created by this run."""
        self._starts.append(first)
        self._ends.append(last)

    def was_created(self, subscriber_id: int) -> bool:
        index = bisect.bisect_right(self._starts, subscriber_id) - 1
        return index >= 0 and subscriber_id <= self._ends[index]

    def stored(self, keys: list[str]) -> set[str]:
        """Which of ``keys`` are in the TEMP table."""
        rows = self.conn.execute(
            "SELECT key FROM temp.import_seen WHERE key IN (SELECT value FROM json_each(?))",
            (json.dumps(keys, ensure_ascii=False),),
        )
        return {row[0] for row in rows}

    def store(self, keys: list[str]) -> None:
        self.conn.executemany(
            "INSERT INTO temp.import_seen (key) VALUES (?)", ((k,) for k in keys)
        )

    def close(self) -> None:
        self.conn.execute("DELETE FROM temp.import_seen")
