"""The audit log: every change to a subscriber lands in its history."""

from __future__ import annotations

import json
import sqlite3
from _json import encode_basestring, make_encoder
from collections.abc import Iterable
from typing import Any

from mailer import clock
from mailer.store.models import Event

_INSERT = "INSERT INTO events (at, subscriber_id, list_id, kind, detail) VALUES (?, ?, ?, ?, ?)"


#: One encoder for every call. ``json.dumps`` with options builds a new
#: ``JSONEncoder`` each time, and ``JSONEncoder.encode`` still builds a new C
#: encoder on every call: together that was a tenth of a million-row import's
#: row handling. This is the C encoder ``JSONEncoder(ensure_ascii=False,
#: sort_keys=True)`` makes, built once; the store's mappings hold no cycles, so
#: it needs no circular-reference markers and can be called again and again.
_settings = json.JSONEncoder(ensure_ascii=False, sort_keys=True)
_encode = make_encoder(
    None,
    _settings.default,
    encode_basestring,
    None,
    _settings.key_separator,
    _settings.item_separator,
    True,
    False,
    True,
)


def dump(detail: dict[str, Any]) -> str:
    """A detail or attributes mapping as the store keeps it (sorted JSON, UTF-8)."""
    return "".join(_encode(detail, 0))


def record_event(
    conn: sqlite3.Connection,
    subscriber_id: int | None,
    kind: str,
    detail: dict[str, Any] | None = None,
    *,
    list_id: int | None = None,
    at: str | None = None,
) -> None:
    """Append one event; call inside the transaction that made the change."""
    conn.execute(
        _INSERT, (at or clock.now_iso(), subscriber_id, list_id, kind, dump(detail or {}))
    )


def record_many(conn: sqlite3.Connection, rows: Iterable[tuple[Any, ...]]) -> None:
    """Append events given as ``(at, subscriber_id, list_id, kind, detail_json)`` (bulk import)."""
    conn.executemany(_INSERT, rows)


def history(conn: sqlite3.Connection, subscriber_id: int) -> list[Event]:
    """A subscriber's events, oldest first, with the list's name where there is one."""
    rows = conn.execute(
        "SELECT e.at, e.kind, e.detail, l.name AS list FROM events e "
        "LEFT JOIN lists l ON l.id = e.list_id WHERE e.subscriber_id = ? ORDER BY e.id",
        (subscriber_id,),
    ).fetchall()
    return [Event(r["at"], r["kind"], r["list"], json.loads(r["detail"])) for r in rows]
