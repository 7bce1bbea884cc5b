"""A campaign's plan: who gets the letter, snapshotted once, and the campaign's record.

The recipients are the list's confirmed members whose own status is active,
minus every suppressed address, hash or domain, narrowed by the segment.
They are copied into ``deliveries`` by one ``INSERT … SELECT`` inside one
transaction: SQLite streams the rows itself, so memory stays flat whatever
the list's size, and a crash leaves either the whole snapshot or none.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mailer import clock
from mailer.contacts.addresses import address_hash
from mailer.dispatch.segment import COLUMNS, parse_segment, segment_sql
from mailer.errors import NotFoundError, UsageError
from mailer.store import Store
from mailer.store.models import MailingList

#: Rows read per query when walking recipients (dry runs, sender pages).
PAGE_SIZE = 1000


@dataclass(frozen=True)
class Campaign:
    """A campaign as stored: the letter's snapshot, the list, the segment, the state."""

    id: int
    list_id: int | None
    list_name: str
    subject: str
    letter_path: str
    letter_source: str
    letter_hash: str
    segment: str
    state: str
    recipients: int
    created_at: str
    started_at: str | None
    finished_at: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Campaign:
        """The campaign a ``campaigns`` row describes."""
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


def letter_hash(source: str) -> str:
    """The fingerprint that says "this letter was sent before" (its exact source text)."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def _register_functions(conn: sqlite3.Connection) -> None:
    conn.create_function("mailer_address_hash", 1, address_hash, deterministic=True)


def recipients_query(
    store: Store, list_id: int, segment: str, columns: str
) -> tuple[str, list[Any]]:
    """``SELECT columns FROM …`` for the recipients of a list and segment, with parameters."""
    where, params = segment_sql(segment, "p")
    hash_check = ""
    if store.one("SELECT 1 FROM suppressions WHERE kind = 'hash' LIMIT 1"):
        _register_functions(store.conn)
        hash_check = (
            " AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.kind = 'hash' "
            "AND x.value = mailer_address_hash(p.email_key))"
        )
    sql = (
        f"SELECT {columns} FROM subscriptions s JOIN subscribers p ON p.id = s.subscriber_id "
        "WHERE s.list_id = ? AND s.status = 'confirmed' AND p.status = 'active' "
        "AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.kind = 'email' "
        "AND x.value = p.email_key) "
        "AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.kind = 'domain' "
        "AND x.value = substr(p.email_key, instr(p.email_key, '@') + 1))"
        f"{hash_check} AND ({where})"
    )
    return sql, [list_id, *params]


def check_segment(store: Store, mailing_list: MailingList, segment: str) -> None:
    """Refuse a segment naming an attribute no member of the list has.

    Such a field is nearly always misspelt, and a misspelt field in a negative
    condition (``contry!=PE``) would quietly select everyone.
    """
    conditions = parse_segment(segment)
    member = (
        "SELECT 1 FROM subscriptions s JOIN subscribers p ON p.id = s.subscriber_id "
        "WHERE s.list_id = ? AND s.status = 'confirmed'"
    )
    if store.one(f"{member} LIMIT 1", (mailing_list.id,)) is None:
        return  # an empty list: nothing to check against, nobody to send to
    for condition in conditions:
        if condition.field.lower() in COLUMNS:
            continue
        path = f'$."{condition.field}"'
        if (
            store.one(
                f"{member} AND json_type(p.attributes, ?) IS NOT NULL LIMIT 1",
                (mailing_list.id, path),
            )
            is None
        ):
            raise UsageError(
                f"segment: no member of list {mailing_list.name} has a field "
                f"{condition.field!r} (fields: {', '.join(COLUMNS)} and the members' attributes)"
            )


def count_recipients(store: Store, list_id: int, segment: str = "") -> int:
    """How many would receive a campaign to this list and segment, now."""
    sql, params = recipients_query(store, list_id, segment, "count(*)")
    row = store.one(sql, params)
    return int(row[0]) if row else 0


def iter_recipients(
    store: Store, list_id: int, segment: str = "", *, page_size: int = PAGE_SIZE
) -> Iterator[sqlite3.Row]:
    """The recipients (id, email, name, attributes), read in pages by id."""
    sql, params = recipients_query(store, list_id, segment, "p.id, p.email, p.name, p.attributes")
    last = 0
    while True:
        rows = store.all(f"{sql} AND p.id > ? ORDER BY p.id LIMIT ?", [*params, last, page_size])
        yield from rows
        if len(rows) < page_size:
            return
        last = rows[-1]["id"]


def earlier_campaigns(store: Store, list_id: int, source_hash: str) -> list[Campaign]:
    """Campaigns (not cancelled before sending anything) that sent this letter to this list."""
    rows = store.all(
        "SELECT * FROM campaigns c WHERE list_id = ? AND letter_hash = ? AND (state != "
        "'cancelled' OR EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = c.id "
        "AND d.state = 'sent')) ORDER BY id",
        (list_id, source_hash),
    )
    return [Campaign.from_row(r) for r in rows]


def create_campaign(
    store: Store,
    *,
    mailing_list: MailingList,
    subject: str,
    letter_path: str,
    letter_source: str,
    segment: str = "",
) -> Campaign:
    """Record a campaign and snapshot its recipients, all in one transaction."""
    sql, params = recipients_query(store, mailing_list.id, segment, "?, p.id, p.email")
    with store.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO campaigns (list_id, list_name, subject, letter_path, letter_source, "
            "letter_hash, segment, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'created', ?)",
            (
                mailing_list.id,
                mailing_list.name,
                subject,
                letter_path,
                letter_source,
                letter_hash(letter_source),
                segment,
                clock.now_iso(),
            ),
        )
        campaign_id = int(cursor.lastrowid or 0)
        inserted = conn.execute(
            f"INSERT INTO deliveries (campaign_id, subscriber_id, email) {sql} ORDER BY p.id",
            [campaign_id, *params],
        ).rowcount
        conn.execute("UPDATE campaigns SET recipients = ? WHERE id = ?", (inserted, campaign_id))
    return get_campaign(store, campaign_id)


def get_campaign(store: Store, campaign_id: int) -> Campaign:
    """The campaign with this id; ``NotFoundError`` naming it if there is none."""
    row = store.one("SELECT * FROM campaigns WHERE id = ?", (campaign_id,))
    if row is None:
        raise NotFoundError(f"no campaign {campaign_id} (see `mailer campaigns ls`)")
    return Campaign.from_row(row)
