"""Queries on subscribers, their subscriptions and the suppression list.

The rule that runs through this module: consent is never silently restored.
An address that unsubscribed, bounced, complained, was blocked or forgotten is
not brought back by ``add`` or an import; only a fresh, proven consent (a
confirmed web subscription) may do that.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mailer import clock
from mailer.contacts.addresses import Address, address_hash, address_key, domain_key
from mailer.errors import InputError, NotFoundError
from mailer.store.database import Store
from mailer.store.events import history, record_event
from mailer.store.models import (
    SUBSCRIBER_STATUSES,
    SUPPRESSING_STATUSES,
    Consent,
    MailingList,
    Subscriber,
)


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
        raise NotFoundError(f"no subscriber {email!r}")
    return found


def get_subscriber_by_id(conn: sqlite3.Connection | Store, subscriber_id: int) -> Subscriber | None:
    row = conn.execute("SELECT * FROM subscribers WHERE id = ?", (subscriber_id,)).fetchone()
    return Subscriber.from_row(row) if row else None


def suppression_reason(conn: sqlite3.Connection | Store, address: Address) -> str | None:
    """Why this address may not be (re)subscribed, or None when it may."""
    row = conn.execute(
        "SELECT kind, reason FROM suppressions WHERE (kind = 'email' AND value = ?) "
        "OR (kind = 'hash' AND value = ?) OR (kind = 'domain' AND value = ?) LIMIT 1",
        (address.key, address_hash(address.key), address.domain),
    ).fetchone()
    if row:
        return f"suppressed ({row['reason'] or row['kind']})"
    return None


def suppress(conn: sqlite3.Connection, kind: str, value: str, reason: str) -> None:
    """Add an address, hash or domain to the suppression list (idempotent).

    Addresses and domains are stored by their key, so that every spelling
    (case, Punycode or Unicode) of what is suppressed matches it.
    """
    if kind == "email":
        value = address_key(value)
    elif kind == "domain":
        value = domain_key(value)
    conn.execute(
        "INSERT OR IGNORE INTO suppressions (kind, value, reason, created_at) VALUES (?, ?, ?, ?)",
        (kind, value, reason, clock.now_iso()),
    )


@dataclass(frozen=True)
class AddOutcome:
    """What ``add_subscriber`` did: added, already subscribed, updated or suppressed."""

    outcome: str
    subscriber: Subscriber | None
    reason: str = ""


def _subscription_status(mailing_list: MailingList, confirmed: bool) -> str:
    return "confirmed" if confirmed or not mailing_list.double_optin else "unconfirmed"


def add_subscriber(
    store: Store,
    mailing_list: MailingList,
    address: Address,
    *,
    name: str = "",
    attributes: dict[str, Any] | None = None,
    consent: Consent,
    update: bool = False,
    confirmed: bool = False,
) -> AddOutcome:
    """Subscribe an address to a list in one transaction, never undoing an opt-out.

    A name is one line (it is printed in greetings and headers): one holding a
    line break is refused.
    """
    if any(ch in name for ch in "\r\n\0\u2028\u2029"):
        raise InputError(f"name {name[:40]!r}: a name may not contain a line break")
    attributes = attributes or {}
    now = clock.now_iso()
    with store.transaction() as conn:
        existing = find_subscriber(conn, address.email)
        reason = suppression_reason(conn, address)
        if existing is not None and existing.status in SUPPRESSING_STATUSES:
            reason = f"suppressed ({existing.status})"
        if reason:
            return AddOutcome("suppressed", existing, reason)
        membership = None
        if existing is not None:
            membership = conn.execute(
                "SELECT status FROM subscriptions WHERE list_id = ? AND subscriber_id = ?",
                (mailing_list.id, existing.id),
            ).fetchone()
            if membership is not None and membership["status"] == "unsubscribed":
                # Checked before any write: a refused add changes nothing, --update included.
                return AddOutcome("suppressed", existing, "suppressed (unsubscribed from list)")
        outcome = "added"
        if existing is None:
            cursor = conn.execute(
                "INSERT INTO subscribers (email, email_key, name, attributes, status, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, 'active', ?, ?)",
                (address.email, address.key, name, _dump(attributes), now, now),
            )
            subscriber_id = int(cursor.lastrowid or 0)
            record_event(conn, subscriber_id, "created", {"method": consent.method})
        else:
            subscriber_id = existing.id
            merged = {**existing.attributes, **attributes}
            new_name = name or existing.name
            # Only a real change is an update, so that repeating the command is a no-op.
            if update and (new_name != existing.name or merged != existing.attributes):
                conn.execute(
                    "UPDATE subscribers SET name = ?, attributes = ?, updated_at = ? WHERE id = ?",
                    (new_name, _dump(merged), now, subscriber_id),
                )
                record_event(conn, subscriber_id, "updated", {"method": consent.method})
                outcome = "updated"
        if membership is not None:
            if outcome != "updated":
                outcome = "exists"
        else:
            status = _subscription_status(mailing_list, confirmed)
            conn.execute(
                "INSERT INTO subscriptions (list_id, subscriber_id, status, created_at, "
                "updated_at, consent_at, consent_method, consent_source, consent_detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    mailing_list.id,
                    subscriber_id,
                    status,
                    now,
                    now,
                    now if status == "confirmed" else None,
                    consent.method,
                    consent.source,
                    _dump(consent.detail),
                ),
            )
            record_event(
                conn,
                subscriber_id,
                "subscribed",
                {"status": status, "method": consent.method, "source": consent.source},
                list_id=mailing_list.id,
            )
            if existing is not None and outcome != "updated":
                outcome = "subscribed"
        subscriber = get_subscriber_by_id(conn, subscriber_id)
    return AddOutcome(outcome, subscriber)


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def iter_subscribers(
    store: Store, *, list_id: int | None = None, status: str | None = None
) -> Iterator[Subscriber]:
    """Subscribers in id order, optionally only members of a list or of one status."""
    if status is not None and status not in SUBSCRIBER_STATUSES:
        raise InputError(f"unknown status {status!r} (one of: {', '.join(SUBSCRIBER_STATUSES)})")
    sql = "SELECT p.* FROM subscribers p"
    params: list[Any] = []
    where = []
    if list_id is not None:
        sql += " JOIN subscriptions s ON s.subscriber_id = p.id AND s.list_id = ?"
        params.append(list_id)
    if status is not None:
        where.append("p.status = ?")
        params.append(status)
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY p.id"
    for row in store.execute(sql, params):
        yield Subscriber.from_row(row)


def subscriptions_of(conn: sqlite3.Connection | Store, subscriber_id: int) -> list[dict[str, Any]]:
    """Each list a subscriber belongs to, with the subscription's status and consent proof."""
    rows = conn.execute(
        "SELECT l.name AS list, s.* FROM subscriptions s JOIN lists l ON l.id = s.list_id "
        "WHERE s.subscriber_id = ? ORDER BY l.name",
        (subscriber_id,),
    ).fetchall()
    return [
        {
            "list": r["list"],
            "status": r["status"],
            "created_at": r["created_at"],
            "updated_at": r["updated_at"],
            "unsubscribed_at": r["unsubscribed_at"],
            "consent": {
                "at": r["consent_at"],
                "method": r["consent_method"],
                "source": r["consent_source"],
                "detail": json.loads(r["consent_detail"] or "{}"),
            },
        }
        for r in rows
    ]


def subscriber_detail(store: Store, email: str) -> dict[str, Any]:
    """Everything shown by ``subscribers show``: the person, the lists, the history.

    ``reports`` are the bounces, complaints and requests that name them, the
    unverified ones too (they changed nothing, but a person asking why they
    stopped getting mail, or an admin seeing forged mail, wants to see them).
    """
    subscriber = get_subscriber(store, email)
    reports = [
        {
            "received_at": row["received_at"],
            "kind": row["kind"],
            "reason": row["reason"],
            "campaign_id": row["campaign_id"],
            "proof": row["proof"],
            "verified": bool(row["proof"]),
        }
        for row in held_bounces(store.conn, subscriber.id, address_key(subscriber.email))
    ]
    return {
        **subscriber.as_dict(),
        "subscriptions": subscriptions_of(store.conn, subscriber.id),
        "history": history(store.conn, subscriber.id),
        "reports": reports,
    }


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
    conn.execute(
        "UPDATE subscribers SET status = ?, updated_at = ? WHERE id = ?",
        (status, clock.now_iso(), subscriber_id),
    )
    record_event(
        conn,
        subscriber_id,
        "status",
        {"from": row["status"], "to": status, "reason": reason, **(detail or {})},
    )
    return True


def unsubscribe(
    conn: sqlite3.Connection,
    subscriber_id: int,
    list_id: int | None,
    *,
    method: str,
    source: str = "",
) -> list[int]:
    """Leave one list (or every list when ``list_id`` is None); returns the lists left.

    Leaving the last list also sets the subscriber's own status to unsubscribed,
    so that no later import brings the address back. Repeating it changes nothing.
    """
    now = clock.now_iso()
    sql = "SELECT list_id FROM subscriptions WHERE subscriber_id = ? AND status != 'unsubscribed'"
    params: list[Any] = [subscriber_id]
    if list_id is not None:
        sql += " AND list_id = ?"
        params.append(list_id)
    left = [r["list_id"] for r in conn.execute(sql, params).fetchall()]
    for lid in left:
        conn.execute(
            "UPDATE subscriptions SET status = 'unsubscribed', unsubscribed_at = ?, "
            "updated_at = ? WHERE list_id = ? AND subscriber_id = ?",
            (now, now, lid, subscriber_id),
        )
        record_event(
            conn, subscriber_id, "unsubscribed", {"method": method, "source": source}, list_id=lid
        )
    remaining = conn.execute(
        "SELECT count(*) FROM subscriptions WHERE subscriber_id = ? AND status != 'unsubscribed'",
        (subscriber_id,),
    ).fetchone()[0]
    if remaining == 0:
        row = conn.execute(
            "SELECT status FROM subscribers WHERE id = ?", (subscriber_id,)
        ).fetchone()
        if row is not None and row["status"] == "active":
            set_status(conn, subscriber_id, "unsubscribed", reason=f"left every list ({method})")
    return left


def block(store: Store, email: str, *, reason: str = "blocked by an admin") -> Subscriber | None:
    """Suppress an address everywhere, whether or not it is a subscriber yet."""
    key = address_key(email)
    with store.transaction() as conn:
        suppress(conn, "email", key, reason)
        subscriber = find_subscriber(conn, email)
        if subscriber is not None:
            set_status(conn, subscriber.id, "blocked", reason=reason)
            subscriber = get_subscriber_by_id(conn, subscriber.id)
    return subscriber


def held_bounces(
    conn: sqlite3.Connection, subscriber_id: int | None, key: str
) -> list[sqlite3.Row]:
    """The bounce events about an address: linked to its subscriber, or naming it."""
    conn.create_function("mailer_address_key", 1, address_key, deterministic=True)
    return list(
        conn.execute(
            "SELECT * FROM bounces WHERE subscriber_id = ? OR (subscriber_id IS NULL "
            "AND recipient != '' AND mailer_address_key(recipient) = ?) ORDER BY id",
            (subscriber_id, key),
        ).fetchall()
    )


def forget(store: Store, email: str) -> None:
    """Erase a person (GDPR): delete their data, keep only a hash that suppresses them.

    Works for an address that was never a subscriber too (blocked, or met in
    a bounce or complaint): what names it goes, the hash stays. Bounce events
    are kept for the campaigns' counts, with the address and diagnostic
    replaced by a placeholder unique to the row (the table keeps one row per
    message, recipient and kind). ``NotFoundError`` when nothing is held.
    """
    key = address_key(email)
    with store.transaction() as conn:
        subscriber = find_subscriber(conn, email)
        subscriber_id = subscriber.id if subscriber is not None else None
        bounces = held_bounces(conn, subscriber_id, key)
        listed = conn.execute(
            "SELECT 1 FROM suppressions WHERE kind = 'email' AND value = ?", (key,)
        ).fetchone()
        if subscriber is None and not bounces and listed is None:
            raise NotFoundError(f"nothing is stored about {email!r}")
        suppress(conn, "hash", address_hash(key), "forgotten")
        conn.execute("DELETE FROM suppressions WHERE kind = 'email' AND value = ?", (key,))
        conn.executemany(
            "UPDATE bounces SET recipient = 'forgotten-' || id, diagnostic = '' WHERE id = ?",
            [(row["id"],) for row in bounces],
        )
        if subscriber_id is not None:
            conn.execute("DELETE FROM deliveries WHERE subscriber_id = ?", (subscriber_id,))
            conn.execute("DELETE FROM subscribers WHERE id = ?", (subscriber_id,))
