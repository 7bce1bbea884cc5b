"""The ``subscriptions`` table: who is on which list, in what standing, with what consent.

Every row that goes into this table goes through here: one person joining
(``insert``), many joining in an import (``INSERT`` with ``executemany``), a
confirmation (``confirm``), leaving (``leave``).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from mailer import clock
from mailer.store.database import Store
from mailer.store.events import dump, record_event
from mailer.store.models import (
    SUBSCRIPTION_STATUSES,
    Consent,
    ConsentProof,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from mailer.store.subscribers import set_status

#: One subscription: list, subscriber, status, created, updated, consent at, method,
#: source, detail (JSON). The bulk import writes with it too.
INSERT = (
    "INSERT INTO subscriptions (list_id, subscriber_id, status, created_at, updated_at, "
    "consent_at, consent_method, consent_source, consent_detail) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def insert(
    conn: sqlite3.Connection,
    list_id: int,
    subscriber_id: int,
    status: SubscriptionStatus,
    consent: Consent,
) -> None:
    """Put a person on a list; a confirmed subscription records when consent was given."""
    now = clock.now_iso()
    conn.execute(
        INSERT,
        (
            list_id,
            subscriber_id,
            status,
            now,
            now,
            now if status is SubscriptionStatus.CONFIRMED else None,
            consent.method,
            consent.source,
            dump(consent.detail),
        ),
    )


def standing(
    conn: sqlite3.Connection | Store, list_id: int, subscriber_id: int
) -> sqlite3.Row | None:
    """The row (status, consent detail, when they left) of one person on one list."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT status, consent_detail, unsubscribed_at FROM subscriptions "
        "WHERE list_id = ? AND subscriber_id = ?",
        (list_id, subscriber_id),
    ).fetchone()
    return row


def confirm(
    conn: sqlite3.Connection,
    list_id: int,
    subscriber_id: int,
    *,
    source: str,
    detail: dict[str, Any],
    exists: bool,
) -> None:
    """Make a subscription confirmed through the web, with its proof of consent."""
    now = clock.now_iso()
    if not exists:
        conn.execute(
            INSERT,
            (list_id, subscriber_id, SubscriptionStatus.CONFIRMED, now, now, now, "web",
             source, dump(detail)),
        )
        return
    conn.execute(
        "UPDATE subscriptions SET status = 'confirmed', updated_at = ?, consent_at = ?, "
        "consent_method = 'web', consent_source = ?, consent_detail = ?, "
        "unsubscribed_at = NULL WHERE list_id = ? AND subscriber_id = ?",
        (now, now, source, dump(detail), list_id, subscriber_id),
    )


def leave(
    conn: sqlite3.Connection,
    subscriber_id: int,
    list_id: int | None,
    *,
    method: str,
    source: str = "",
    campaign: int | None = None,
) -> list[int]:
    """Leave one list (or every list when ``list_id`` is None); returns the lists left.

    Leaving the last list also sets the subscriber's own status to
    unsubscribed, so that no later import brings the address back. Repeating
    it changes nothing. ``campaign`` is the letter whose link or mailbox was
    used, kept in the event so that reports can say which letter people left
    after.
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
        detail: dict[str, Any] = {"method": method, "source": source}
        if campaign:
            detail["campaign"] = campaign
        record_event(conn, subscriber_id, "unsubscribed", detail, list_id=lid)
    remaining = conn.execute(
        "SELECT count(*) FROM subscriptions WHERE subscriber_id = ? AND status != 'unsubscribed'",
        (subscriber_id,),
    ).fetchone()[0]
    if remaining == 0:
        row = conn.execute("SELECT status FROM subscribers WHERE id = ?", (subscriber_id,))
        found = row.fetchone()
        if found is not None and found["status"] == SubscriberStatus.ACTIVE:
            set_status(
                conn, subscriber_id, SubscriberStatus.UNSUBSCRIBED,
                reason=f"left every list ({method})",
            )
    return left


def on_list(conn: sqlite3.Connection | Store, list_id: int, subscriber_id: int) -> bool:
    """Whether the person is on the list (confirmed or not) and has not left it."""
    row = standing(conn, list_id, subscriber_id)
    return row is not None and row["status"] != SubscriptionStatus.UNSUBSCRIBED


def confirmed_member(conn: sqlite3.Connection | Store, list_id: int, email: str) -> bool:
    """Whether the address is a confirmed member of the list (as its key compares)."""
    row = conn.execute(
        "SELECT 1 FROM subscriptions s JOIN subscribers p ON p.id = s.subscriber_id "
        "WHERE s.list_id = ? AND s.status = 'confirmed' AND p.email_key = mailer_address_key(?)",
        (list_id, email),
    ).fetchone()
    return row is not None


def of_subscriber(conn: sqlite3.Connection | Store, subscriber_id: int) -> list[Subscription]:
    """Each list a subscriber belongs to, with the subscription's status and consent proof."""
    rows = conn.execute(
        "SELECT l.name AS list, s.* FROM subscriptions s JOIN lists l ON l.id = s.list_id "
        "WHERE s.subscriber_id = ? ORDER BY l.name",
        (subscriber_id,),
    ).fetchall()
    return [
        Subscription(
            list=r["list"],
            status=SubscriptionStatus(r["status"]),
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            unsubscribed_at=r["unsubscribed_at"],
            consent=ConsentProof(
                at=r["consent_at"],
                method=r["consent_method"],
                source=r["consent_source"],
                detail=json.loads(r["consent_detail"] or "{}"),
            ),
            digest=r["digest"],
        )
        for r in rows
    ]


def counts(conn: sqlite3.Connection | Store, list_id: int) -> dict[str, int]:
    """Members by subscription status (``lists.summary`` adds the recipient query's count)."""
    found: dict[str, int] = dict.fromkeys(SUBSCRIPTION_STATUSES, 0)
    for row in conn.execute(
        "SELECT status, count(*) AS n FROM subscriptions WHERE list_id = ? GROUP BY status",
        (list_id,),
    ).fetchall():
        found[row["status"]] = row["n"]
    return found
