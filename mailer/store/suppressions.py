"""The suppression list: addresses, domains and the hashes of forgotten addresses.

This module holds the one rule "is this address suppressed?", twice over: as
a function (``reason_suppressed``, for one address) and as the one SQL
fragment (``suppressed_sql``) that every query selecting mailable people, and
the bulk import's batch check, is built with. An address is suppressed when
its key, its domain, or the hash of its key (once it was forgotten) is on
the list.
"""

from __future__ import annotations

import json
import sqlite3

from mailer import clock
from mailer.contacts.addresses import address_hash, address_key, domain_key
from mailer.store.database import Store
from mailer.store.models import Suppression

KINDS = ("email", "domain", "hash")


def suppressed_sql(key: str, *, hashes: bool = True) -> str:
    """A SQL condition true when the address key ``key`` (an SQL expression) is suppressed.

    ``hashes`` may be False when no forgotten address is on the list
    (``has_kind(conn, "hash")``): then the hash, which costs a Python call per
    row, is not computed at all.
    """
    condition = (
        f"EXISTS (SELECT 1 FROM suppressions x WHERE x.kind = 'email' AND x.value = {key}) "
        f"OR EXISTS (SELECT 1 FROM suppressions x WHERE x.kind = 'domain' "
        f"AND x.value = {_domain_of(key)})"
    )
    if hashes:
        condition += (
            f" OR EXISTS (SELECT 1 FROM suppressions x WHERE x.kind = 'hash' "
            f"AND x.value = mailer_address_hash({key}))"
        )
    return f"({condition})"


def _domain_of(key: str) -> str:
    """The SQL expression for the domain of the address key ``key`` (an SQL expression)."""
    return f"substr({key}, instr({key}, '@') + 1)"


def has_kind(conn: sqlite3.Connection | Store, kind: str) -> bool:
    """Whether any suppression of ``kind`` exists (one indexed probe)."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM suppressions WHERE kind = ?)", (kind,)
    ).fetchone()
    return bool(row[0])


def reason_suppressed(conn: sqlite3.Connection | Store, key: str) -> str | None:
    """Why the address with this key may not be (re)subscribed, or None when it may."""
    row = conn.execute(
        f"SELECT kind, reason FROM suppressions x WHERE {_naming()} LIMIT 1",
        (key, address_hash(key), key.rpartition("@")[2]),
    ).fetchone()
    if row:
        return f"suppressed ({row['reason'] or row['kind']})"
    return None


def suppressed_keys(conn: sqlite3.Connection, keys: list[str]) -> set[str]:
    """Which of ``keys`` are suppressed, for a whole batch at once (the import)."""
    if not keys:
        return set()
    hashes = has_kind(conn, "hash")
    rows = conn.execute(
        f"SELECT k.value FROM json_each(?) k WHERE {suppressed_sql('k.value', hashes=hashes)}",
        (json.dumps(keys, ensure_ascii=False),),
    )
    return {row[0] for row in rows}


def suppress(conn: sqlite3.Connection, kind: str, value: str, reason: str) -> bool:
    """Add an address, hash or domain to the list (idempotent); whether it was not on it.

    Addresses and domains are stored by their key, so that every spelling
    (case, Punycode or Unicode) of what is suppressed matches it.
    """
    if kind == "email":
        value = address_key(value)
    elif kind == "domain":
        value = domain_key(value)
    cursor = conn.execute(
        "INSERT OR IGNORE INTO suppressions (kind, value, reason, created_at) VALUES (?, ?, ?, ?)",
        (kind, value, reason, clock.now_iso()),
    )
    return cursor.rowcount > 0


def lift_domain(conn: sqlite3.Connection, domain: str) -> bool:
    """Take a domain (a ``domain_key``) off the list; whether it was on it."""
    cursor = conn.execute(
        "DELETE FROM suppressions WHERE kind = 'domain' AND value = ?", (domain,)
    )
    return cursor.rowcount > 0


def people_at(conn: sqlite3.Connection, domain: str) -> int:
    """How many subscribers have an address at ``domain`` (a ``domain_key``)."""
    row = conn.execute(
        f"SELECT count(*) FROM subscribers WHERE {_domain_of('email_key')} = ?", (domain,)
    ).fetchone()
    return int(row[0])


def listing(conn: sqlite3.Connection | Store) -> list[Suppression]:
    """Every domain and address on the list, domains first, oldest first; the hashes of
    forgotten addresses are left out (they name nobody)."""
    rows = conn.execute(
        "SELECT kind, value, reason, created_at FROM suppressions WHERE kind != 'hash' "
        "ORDER BY kind = 'email', id"
    ).fetchall()
    return [Suppression(*row) for row in rows]


def is_listed(conn: sqlite3.Connection, key: str) -> bool:
    """Whether this very address (not its domain or hash) is on the list."""
    row = conn.execute(
        "SELECT 1 FROM suppressions WHERE kind = 'email' AND value = ?", (key,)
    ).fetchone()
    return row is not None


def is_forgotten(conn: sqlite3.Connection, key: str) -> bool:
    """Whether this address was erased (``subscribers forget``) and only its hash remains."""
    row = conn.execute(
        "SELECT 1 FROM suppressions WHERE kind = 'hash' AND value = ?", (address_hash(key),)
    ).fetchone()
    return row is not None


def forget(conn: sqlite3.Connection, key: str) -> None:
    """Keep only the hash of an address that is erased: it stays suppressed, unnamed."""
    suppress(conn, "hash", address_hash(key), "forgotten")
    conn.execute("DELETE FROM suppressions WHERE kind = 'email' AND value = ?", (key,))


def naming(conn: sqlite3.Connection | Store, key: str) -> list[Suppression]:
    """The entries that name this address, its hash or its domain (a GDPR access request,
    or why someone is not mailed)."""
    rows = conn.execute(
        f"SELECT kind, value, reason, created_at FROM suppressions x WHERE {_naming()} "
        "ORDER BY id",
        (key, address_hash(key), key.rpartition("@")[2]),
    ).fetchall()
    return [Suppression(*row) for row in rows]


def _naming() -> str:
    """The condition on ``x`` for entries naming an address: key, hash, domain (3 params)."""
    return (
        "((x.kind = 'email' AND x.value = ?) OR (x.kind = 'hash' AND x.value = ?) "
        "OR (x.kind = 'domain' AND x.value = ?))"
    )
