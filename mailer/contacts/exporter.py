"""Export: subscribers as CSV or JSON Lines, and everything held about one person.

The CSV is written so that ``mailer subscribers import`` reads it back into
the same subscribers, names, attributes and statuses. The rules that make the
round trip hold:

* columns are ``email``, ``name``, ``status``, then one per attribute (sorted);
* an attribute whose name the importer would read as something else (``email``,
  ``name``, ``status``, ``first name``, ...) or that has surrounding spaces is
  written as ``attribute:NAME``, which the importer maps back to ``NAME``;
* an empty cell means "no such attribute", and cells are stripped on import,
  so attribute values that are empty or have surrounding spaces do not
  survive; values that are not text (set through other tools) come back as
  their JSON text;
* a cell a spreadsheet would run as a formula (starting with ``=``, ``+``,
  ``-`` or ``@``, after any apostrophes) is written behind one more
  apostrophe, and the importer removes exactly one: opened in a spreadsheet
  the export shows text, never runs it, and it still imports back unchanged;
* ``status`` is the subscriber's own status; in an export of one list it is
  the member's status on that list: the subscriber's status when it is not
  active, else ``unsubscribed`` for someone who left the list, ``unconfirmed``
  for someone whose double opt-in is pending, else ``active``. The importer
  keeps these opt-outs and never subscribes them, and lets the unconfirmed
  join unconfirmed.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Iterator
from typing import Any, TextIO

from mailer.contacts.addresses import address_hash, address_key
from mailer.contacts.importer import (
    ATTRIBUTE_PREFIX,
    EMAIL_COLUMNS,
    FIRST_NAME_COLUMNS,
    FORMULA_START,
    LAST_NAME_COLUMNS,
    NAME_COLUMNS,
    STATUS_COLUMN,
    canonical_column,
)
from mailer.errors import InputError, NotFoundError
from mailer.store.database import Store
from mailer.store.events import history
from mailer.store.subscribers import find_subscriber, held_bounces, subscriptions_of

FORMATS = ("csv", "jsonl")
_RESERVED = frozenset(
    (*EMAIL_COLUMNS, *NAME_COLUMNS, *FIRST_NAME_COLUMNS, *LAST_NAME_COLUMNS, STATUS_COLUMN)
)


def attribute_column(key: str) -> str:
    """The CSV column for attribute ``key``: the key itself unless the importer would misread it."""
    if (
        canonical_column(key) in _RESERVED
        or key != key.strip()
        or not key
        or key.startswith(ATTRIBUTE_PREFIX)
    ):
        return ATTRIBUTE_PREFIX + key
    return key


@contextlib.contextmanager
def _snapshot(store: Store) -> Iterator[None]:
    """A read transaction: one consistent view, without taking the write lock."""
    if store.conn.in_transaction:
        yield
        return
    store.execute("BEGIN")
    try:
        yield
    finally:
        store.conn.execute("COMMIT")


def escape_cell(text: str) -> str:
    """A CSV cell a spreadsheet shows as text: a would-be formula gets a leading apostrophe."""
    if text.lstrip("'")[:1] in FORMULA_START:
        return "'" + text
    return text


def _cell(value: Any) -> str:
    return escape_cell(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))


def _select(list_id: int | None) -> tuple[str, tuple[Any, ...]]:
    """Subscribers (of one list, with their status on it) in id order."""
    if list_id is None:
        return (
            "SELECT p.*, NULL AS member_status FROM subscribers p ORDER BY p.id",
            (),
        )
    return (
        "SELECT p.*, s.status AS member_status, s.consent_at, s.consent_method, "
        "s.consent_source FROM subscribers p JOIN subscriptions s "
        "ON s.subscriber_id = p.id AND s.list_id = ? ORDER BY p.id",
        (list_id,),
    )


def _status(row: Any) -> str:
    status: str = row["status"]
    if status == "active" and row["member_status"] in ("unsubscribed", "unconfirmed"):
        return str(row["member_status"])
    return status


def _attribute_keys(store: Store, list_id: int | None) -> list[str]:
    """Every attribute name in use (one pass in SQL, so the header can come first)."""
    if list_id is None:
        rows = store.all(
            "SELECT DISTINCT j.key FROM subscribers p, json_each(p.attributes) j ORDER BY j.key"
        )
    else:
        rows = store.all(
            "SELECT DISTINCT j.key FROM subscriptions s JOIN subscribers p "
            "ON p.id = s.subscriber_id, json_each(p.attributes) j "
            "WHERE s.list_id = ? ORDER BY j.key",
            (list_id,),
        )
    return [row[0] for row in rows]


def iter_export_rows(store: Store, *, list_id: int | None = None) -> Iterator[dict[str, Any]]:
    """One dict per subscriber as the JSON Lines export writes it, streamed from the store."""
    sql, params = _select(list_id)
    for row in store.execute(sql, params):
        item: dict[str, Any] = {
            "email": row["email"],
            "name": row["name"],
            "status": _status(row),
            "attributes": json.loads(row["attributes"] or "{}"),
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }
        if list_id is not None:
            item["subscription"] = {
                "status": row["member_status"],
                "consent_at": row["consent_at"],
                "consent_method": row["consent_method"],
                "consent_source": row["consent_source"],
            }
        yield item


def export_subscribers(
    store: Store, out: TextIO, *, list_id: int | None = None, fmt: str = "csv"
) -> int:
    """Write every subscriber (or one list's members) to ``out``; returns how many."""
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r} (one of: {', '.join(FORMATS)})")
    count = 0
    # Read in one snapshot, so the header and the rows agree even while others write.
    with _snapshot(store):
        if fmt == "jsonl":
            for item in iter_export_rows(store, list_id=list_id):
                out.write(json.dumps(item, ensure_ascii=False, sort_keys=True) + "\n")
                count += 1
            return count
        keys = _attribute_keys(store, list_id)
        # The standard CRLF: the writer then quotes any cell holding \r or \n.
        writer = csv.writer(out)
        header = ["email", "name", "status", *(attribute_column(k) for k in keys)]
        writer.writerow([escape_cell(title) for title in header])
        sql, params = _select(list_id)
        for row in store.execute(sql, params):
            attributes = json.loads(row["attributes"] or "{}")
            writer.writerow(
                [
                    escape_cell(row["email"]),
                    escape_cell(row["name"]),
                    _status(row),
                    *(_cell(attributes[k]) if k in attributes else "" for k in keys),
                ]
            )
            count += 1
    return count


def export_person(store: Store, email: str) -> dict[str, Any]:
    """Everything stored about one address (a GDPR access request).

    The subscriber record, each subscription with its consent proof, the
    history of events, the deliveries and bounces, and any suppression entry
    that names the address, its hash or its domain. ``NotFoundError`` when
    nothing at all is held.
    """
    key = address_key(email)
    domain = key.rpartition("@")[2]
    with _snapshot(store):
        suppressions = [
            dict(row)
            for row in store.all(
                "SELECT kind, value, reason, created_at FROM suppressions "
                "WHERE (kind = 'email' AND value = ?) OR (kind = 'hash' AND value = ?) "
                "OR (kind = 'domain' AND value = ?) ORDER BY id",
                (key, address_hash(key), domain),
            )
        ]
        subscriber = find_subscriber(store, email)
        subscriber_id = subscriber.id if subscriber is not None else None
        bounces = [dict(row) for row in held_bounces(store.conn, subscriber_id, key)]
        if subscriber is None:
            if not suppressions and not bounces:
                raise NotFoundError(f"nothing is stored about {email!r}")
            return {
                "email": key,
                "subscriber": None,
                "bounces": bounces,
                "suppressions": suppressions,
            }
        deliveries = [
            dict(row)
            for row in store.all(
                "SELECT d.*, c.subject AS campaign_subject, c.list_name AS campaign_list "
                "FROM deliveries d LEFT JOIN campaigns c ON c.id = d.campaign_id "
                "WHERE d.subscriber_id = ? ORDER BY d.campaign_id",
                (subscriber.id,),
            )
        ]
        return {
            "email": subscriber.email,
            "subscriber": subscriber.as_dict(),
            "subscriptions": subscriptions_of(store.conn, subscriber.id),
            "events": history(store.conn, subscriber.id),
            "deliveries": deliveries,
            "bounces": bounces,
            "suppressions": suppressions,
            "removed_list_optouts": [
                dict(row)
                for row in store.all(
                    "SELECT list_name, unsubscribed_at FROM list_optouts "
                    "WHERE subscriber_id = ? ORDER BY list_name",
                    (subscriber.id,),
                )
            ],
        }
