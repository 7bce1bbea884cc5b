"""The ``list_roles`` table: a list's posters and moderators, by address.

Posters may post to a list whose policy is ``announce`` (and to a
``members`` list without being members); moderators are told of each held
post. An address is compared by its key, so any spelling of it matches.
"""

from __future__ import annotations

import sqlite3

from mailer import clock
from mailer.store.database import Store
from mailer.store.models import ListRole


def add(store: Store, list_id: int, role: ListRole, email: str) -> bool:
    """Give ``email`` the role on the list; whether it was new."""
    with store.transaction() as conn:
        cursor = conn.execute(
            "INSERT OR IGNORE INTO list_roles (list_id, role, email, email_key, added_at) "
            "VALUES (?, ?, ?, mailer_address_key(?), ?)",
            (list_id, role, email, email, clock.now_iso()),
        )
    return cursor.rowcount > 0


def remove(store: Store, list_id: int, role: ListRole, email: str) -> bool:
    """Take the role from ``email``; whether it had it."""
    with store.transaction() as conn:
        cursor = conn.execute(
            "DELETE FROM list_roles WHERE list_id = ? AND role = ? "
            "AND email_key = mailer_address_key(?)",
            (list_id, role, email),
        )
    return cursor.rowcount > 0


def of_list(conn: sqlite3.Connection | Store, list_id: int, role: ListRole) -> list[str]:
    """The addresses that have the role on the list, in the order they were given it."""
    rows = conn.execute(
        "SELECT email FROM list_roles WHERE list_id = ? AND role = ? ORDER BY added_at, email",
        (list_id, role),
    ).fetchall()
    return [str(row[0]) for row in rows]


def has(conn: sqlite3.Connection | Store, list_id: int, role: ListRole, email: str) -> bool:
    """Whether ``email`` has the role on the list."""
    row = conn.execute(
        "SELECT 1 FROM list_roles WHERE list_id = ? AND role = ? "
        "AND email_key = mailer_address_key(?)",
        (list_id, role, email),
    ).fetchone()
    return row is not None


def delete_from(conn: sqlite3.Connection, key: str) -> None:
    """Take every role from this address (the person is forgotten)."""
    conn.execute("DELETE FROM list_roles WHERE email_key = ?", (key,))
