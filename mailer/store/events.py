"""The audit log: every change to a subscriber lands in its history."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from mailer import clock


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
        "INSERT INTO events (at, subscriber_id, list_id, kind, detail) VALUES (?, ?, ?, ?, ?)",
        (
            at or clock.now_iso(),
            subscriber_id,
            list_id,
            kind,
            json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
        ),
    )


def history(conn: sqlite3.Connection, subscriber_id: int) -> list[dict[str, Any]]:
    """A subscriber's events, oldest first, with the list's name where there is one."""
    rows = conn.execute(
        "SELECT e.at, e.kind, e.detail, l.name AS list FROM events e "
        "LEFT JOIN lists l ON l.id = e.list_id WHERE e.subscriber_id = ? ORDER BY e.id",
        (subscriber_id,),
    ).fetchall()
    return [
        {"at": r["at"], "kind": r["kind"], "list": r["list"], "detail": json.loads(r["detail"])}
        for r in rows
    ]
