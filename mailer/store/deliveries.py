"""Who gets a letter, and what happened to each of them: the ``deliveries`` table.

Two rules live here, each written once:

- **Mailable**: a confirmed member of the list whose own status is active and
  whose address is not suppressed (``store.suppressions``), narrowed by the
  segment. ``recipients_sql`` is the one query; a campaign's snapshot, a dry
  run, a test of the letter (``letters check``) and the list counts all use
  it, so what is checked is what is sent.
- **Due**: pending, or deferred with its next attempt at or before now
  (``DUE``); the sender, its progress count and ``campaigns run`` use it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from mailer.store.database import Store, pages
from mailer.store.models import Condition, DeliveryState, Recipient
from mailer.store.segments import segment_sql
from mailer.store.suppressions import has_kind, suppressed_sql

#: Rows read per query when walking recipients (dry runs, checks).
PAGE_SIZE = 1000
#: The due condition on a ``deliveries`` row ``d``; one parameter: now.
DUE = "(d.state = 'pending' OR (d.state = 'deferred' AND d.next_attempt_at <= ?))"


def recipients_sql(
    conn: sqlite3.Connection | Store,
    list_ids: Sequence[int],
    position: int,
    conditions: Sequence[Condition],
    columns: str,
    *,
    each_post: bool = False,
) -> tuple[str, list[Any]]:
    """``SELECT columns FROM ...`` for the mailable members of ``list_ids[position]`` who
    are not mailable members of an earlier list in ``list_ids``, with parameters.

    A letter to several lists reaches each address once, as a member of the
    first list given that it is on; walking the positions in order gives
    everyone. The subscriber table is ``p`` and the subscription ``s``; the
    statement ends in its WHERE clause, so that callers may add ``AND ...``,
    ``ORDER BY`` and ``LIMIT``. ``each_post``: only the members who take each
    post as it is sent, not in a digest (a post's campaign).
    """
    where, params = segment_sql(conditions, "p")
    hashes = has_kind(conn, "hash")
    earlier = list_ids[:position]
    sql = (
        f"SELECT {columns} FROM subscriptions s JOIN subscribers p ON p.id = s.subscriber_id "
        "WHERE s.list_id = ? AND s.status = 'confirmed' AND p.status = 'active' "
        f"AND NOT {suppressed_sql('p.email_key', hashes=hashes)} AND ({where})"
    )
    if each_post:
        sql += " AND s.digest = 'off'"
    if earlier:
        marks = ", ".join("?" for _ in earlier)
        sql += (
            " AND NOT EXISTS (SELECT 1 FROM subscriptions e WHERE e.subscriber_id = p.id "
            f"AND e.status = 'confirmed' AND e.list_id IN ({marks}))"
        )
    return sql, [list_ids[position], *params, *earlier]


#: What the recipient query selects for a ``Recipient``: see ``Recipient.from_row``.
RECIPIENT_COLUMNS = "p.id, p.email, p.name, p.attributes, p.language, s.list_id"


def count_recipients(
    store: Store, list_ids: Sequence[int], conditions: Sequence[Condition] = ()
) -> int:
    """How many would receive a letter to these lists and segment, now (each address once)."""
    total = 0
    for position in range(len(list_ids)):
        sql, params = recipients_sql(store, list_ids, position, conditions, "count(*)")
        row = store.one(sql, params)
        total += int(row[0]) if row else 0
    return total


def iter_recipients(
    store: Store,
    list_ids: Sequence[int],
    conditions: Sequence[Condition] = (),
    *,
    page_size: int = PAGE_SIZE,
) -> Iterator[Recipient]:
    """The recipients, list by list in id order, read in pages (memory stays flat)."""
    for position in range(len(list_ids)):
        sql, params = recipients_sql(store, list_ids, position, conditions, RECIPIENT_COLUMNS)
        for row in pages(store, sql, params, "p.id", page_size=page_size):
            yield Recipient.from_row(row)


def languages_of(
    store: Store, list_ids: Sequence[int], conditions: Sequence[Condition] = ()
) -> dict[tuple[int, str], int]:
    """How many recipients read each language, by the list they get the letter through."""
    found: dict[tuple[int, str], int] = {}
    for position in range(len(list_ids)):
        sql, params = recipients_sql(
            store, list_ids, position, conditions, "s.list_id, p.language, count(*)"
        )
        for row in store.all(f"{sql} GROUP BY p.language", params):
            found[(row[0], row[1])] = row[2]
    return found


def snapshot(
    conn: sqlite3.Connection,
    campaign_id: int,
    list_ids: Sequence[int],
    conditions: Sequence[Condition],
    *,
    each_post: bool = False,
) -> int:
    """Copy the recipients into the campaign's ``deliveries``, one statement per list; how many.

    SQLite streams the rows itself, so memory stays flat whatever the lists'
    size; run inside the transaction that starts the campaign. ``each_post``
    leaves out digest members (``recipients_sql``).
    """
    total = 0
    for position in range(len(list_ids)):
        sql, params = recipients_sql(
            conn, list_ids, position, conditions, "?, p.id, p.email, s.list_id",
            each_post=each_post,
        )
        total += conn.execute(
            f"INSERT INTO deliveries (campaign_id, subscriber_id, email, list_id) {sql} "
            "ORDER BY p.id",
            [campaign_id, *params],
        ).rowcount
    return total


def add_welcome(
    conn: sqlite3.Connection, campaign_id: int, list_id: int, subscriber_id: int, email: str
) -> bool:
    """Add a new member to their list's welcome letter, unless this list ever welcomed them.

    Whether they were added: a person who leaves and joins again, or joins
    after the welcome letter was replaced, is not welcomed twice.
    """
    cursor = conn.execute(
        "INSERT INTO deliveries (campaign_id, subscriber_id, email, list_id) "
        "SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM deliveries d JOIN campaigns c "
        "ON c.id = d.campaign_id WHERE c.kind = 'welcome' AND d.subscriber_id = ? "
        "AND coalesce(d.list_id, c.list_id) = ?)",
        (campaign_id, subscriber_id, email, list_id, subscriber_id, list_id),
    )
    if cursor.rowcount:
        conn.execute(
            "UPDATE campaigns SET recipients = recipients + 1 WHERE id = ?", (campaign_id,)
        )
    return cursor.rowcount > 0


def add_welcome_imported(
    conn: sqlite3.Connection, campaign_id: int, list_id: int, source: str, since: str
) -> list[int]:
    """Add everyone the import of ``source`` made a confirmed member since ``since``
    and whom the list never welcomed; their ids (one statement for a whole import)."""
    rows = conn.execute(
        "INSERT INTO deliveries (campaign_id, subscriber_id, email, list_id) "
        "SELECT ?, s.id, s.email, ? FROM subscriptions m JOIN subscribers s "
        "ON s.id = m.subscriber_id WHERE m.list_id = ? AND m.status = 'confirmed' "
        "AND m.consent_method = 'import' AND m.consent_source = ? "
        "AND m.created_at >= ? AND NOT EXISTS (SELECT 1 FROM deliveries d JOIN campaigns c "
        "ON c.id = d.campaign_id WHERE c.kind = 'welcome' AND d.subscriber_id = s.id "
        "AND coalesce(d.list_id, c.list_id) = ?) RETURNING subscriber_id",
        (campaign_id, list_id, list_id, source, since, list_id),
    ).fetchall()
    if rows:
        conn.execute(
            "UPDATE campaigns SET recipients = recipients + ? WHERE id = ?",
            (len(rows), campaign_id),
        )
    return [row[0] for row in rows]


def per_list(store: Store, campaign_id: int) -> dict[str, int]:
    """A campaign's recipients by the list they got it through (in the order given);
    a pruned campaign's lists keep their counts."""
    rows = store.all(
        "SELECT l.list_name, coalesce(l.recipients, count(d.subscriber_id)) "
        "FROM campaign_lists l "
        "LEFT JOIN campaigns c ON c.id = l.campaign_id "
        "LEFT JOIN deliveries d ON d.campaign_id = l.campaign_id "
        "AND coalesce(d.list_id, c.list_id) = l.list_id "
        "WHERE l.campaign_id = ? GROUP BY l.position ORDER BY l.position",
        (campaign_id,),
    )
    return {row[0]: row[1] for row in rows}


@dataclass(frozen=True, slots=True)
class Share:
    """One sending worker's part of a campaign: the recipients whose subscriber id
    is ``index`` modulo ``count`` (``Share(0, 1)`` is everyone)."""

    index: int = 0
    count: int = 1


_WHOLE = Share()


def count_due(store: Store, campaign_id: int, as_of: str, share: Share = _WHOLE) -> int:
    """Recipients of a campaign (in ``share``) due for an attempt now."""
    row = store.one(
        f"SELECT count(*) FROM deliveries d WHERE d.campaign_id = ? AND {DUE} "
        "AND d.subscriber_id % ? = ?",
        (campaign_id, as_of, share.count, share.index),
    )
    return int(row[0]) if row else 0


@dataclass(frozen=True, slots=True)
class Due:
    """One recipient to attempt, and where they stand now (``standing``).

    ``standing`` is the subscriber's status when they are still a confirmed
    member of the list they get the letter through, else their subscription's
    status, or ``gone`` when neither is there any more (a removed list or
    person). ``list_id`` is that list.
    """

    subscriber_id: int
    email: str
    attempts: int
    first_attempt_at: str | None
    name: str
    attributes: str
    standing: str
    language: str
    list_id: int | None


def due_page(
    store: Store,
    campaign_id: int,
    list_id: int | None,
    *,
    after: int,
    as_of: str,
    limit: int,
    share: Share = _WHOLE,
) -> list[Due]:
    """The next page of due recipients (in ``share``) after subscriber id ``after``.

    ``list_id`` is the campaign's first list: the list of a delivery made
    before deliveries named their own.
    """
    rows = store.all(
        "SELECT d.subscriber_id, d.email, d.attempts, d.first_attempt_at, "
        "p.name, p.attributes, CASE WHEN s.status = 'confirmed' THEN p.status "
        "ELSE coalesce(s.status, 'gone') END, p.language, coalesce(d.list_id, ?) "
        "FROM deliveries d LEFT JOIN subscribers p ON p.id = d.subscriber_id "
        "LEFT JOIN subscriptions s ON s.subscriber_id = d.subscriber_id "
        "AND s.list_id = coalesce(d.list_id, ?) "
        f"WHERE d.campaign_id = ? AND d.subscriber_id > ? AND {DUE} "
        "AND d.subscriber_id % ? = ? ORDER BY d.subscriber_id LIMIT ?",
        (list_id, list_id, campaign_id, after, as_of, share.count, share.index, limit),
    )
    return [
        Due(row[0], row[1], row[2], row[3], row[4] or "", row[5] or "{}", row[6],
            row[7] or "", row[8])
        for row in rows
    ]


#: One outcome's new row values: state, attempts, code, text, message id, queue id,
#: first attempt, next attempt, sent at, expired, then the campaign and subscriber.
_UPDATE = (
    "UPDATE deliveries SET state = ?, attempts = ?, last_code = ?, last_text = ?, "
    "message_id = ?, queue_id = ?, first_attempt_at = coalesce(first_attempt_at, ?), "
    "next_attempt_at = ?, sent_at = ?, expired = ? "
    "WHERE campaign_id = ? AND subscriber_id = ? AND state != 'sent'"
)


def record_outcomes(conn: sqlite3.Connection, rows: Iterable[tuple[Any, ...]]) -> None:
    """Write outcomes (``_UPDATE``'s parameters each); a recipient once sent stays sent."""
    conn.executemany(_UPDATE, rows)


def counters(store: Store, campaign_id: int) -> dict[str, int]:
    """Recipients of a campaign by delivery state (kept on the campaign once pruned)."""
    kept = store.one(
        "SELECT pending_total, sent_total, deferred_total, failed_total FROM campaigns "
        "WHERE id = ? AND pruned_at IS NOT NULL",
        (campaign_id,),
    )
    if kept is not None:
        return {str(state): int(kept[i]) for i, state in enumerate(DeliveryState)}
    counts = dict.fromkeys(DeliveryState, 0)
    for row in store.all(
        "SELECT state, count(*) FROM deliveries WHERE campaign_id = ? GROUP BY state",
        (campaign_id,),
    ):
        counts[DeliveryState(row[0])] = row[1]
    return {str(state): count for state, count in counts.items()}


def remaining(store: Store, campaign_id: int) -> int:
    """Recipients still to be tried: pending, or deferred (due or not)."""
    row = store.one(
        "SELECT count(*) FROM deliveries WHERE campaign_id = ? "
        "AND state IN ('pending', 'deferred')",
        (campaign_id,),
    )
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class Attempt:
    """A recipient that failed or waits for a retry, with the relay's last words."""

    email: str
    code: int | None
    text: str
    attempts: int
    next_attempt_at: str | None
    expired: bool


def attempts_in(store: Store, campaign_id: int, state: DeliveryState, limit: int) -> list[Attempt]:
    """The first ``limit`` recipients of a campaign in ``state`` (failed or deferred)."""
    rows = store.all(
        "SELECT email, last_code, last_text, attempts, next_attempt_at, expired "
        "FROM deliveries WHERE campaign_id = ? AND state = ? ORDER BY subscriber_id LIMIT ?",
        (campaign_id, state, limit),
    )
    return [Attempt(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]


def timing(store: Store, campaign_id: int) -> tuple[str | None, str | None, str | None]:
    """(first sent, last sent, next retry) of a campaign (kept on it once pruned)."""
    row = store.one(
        "SELECT CASE WHEN c.pruned_at IS NULL THEN (SELECT min(sent_at) FROM deliveries "
        "WHERE campaign_id = ?1 AND state = 'sent') ELSE c.first_sent_at END, "
        "CASE WHEN c.pruned_at IS NULL THEN (SELECT max(sent_at) FROM deliveries "
        "WHERE campaign_id = ?1 AND state = 'sent') ELSE c.last_sent_at END, "
        "(SELECT min(next_attempt_at) FROM deliveries WHERE campaign_id = ?1 "
        "AND state = 'deferred') FROM campaigns c WHERE c.id = ?1",
        (campaign_id,),
    )
    return (row[0], row[1], row[2]) if row else (None, None, None)


def retry_expired(conn: sqlite3.Connection, campaign_id: int) -> int:
    """Put recipients whose retries ran out back to pending; how many."""
    return int(
        conn.execute(
            "UPDATE deliveries SET state = 'pending', expired = 0, first_attempt_at = NULL, "
            "next_attempt_at = NULL WHERE campaign_id = ? AND state = 'failed' AND expired = 1",
            (campaign_id,),
        ).rowcount
    )


def recent_recipient(
    conn: sqlite3.Connection, address_key: str, since: str
) -> tuple[int, int] | None:
    """(subscriber, campaign) of the latest letter sent to this address since ``since``.

    Only campaigns still sending, or finished since then, are looked at, each
    by its primary key, so this stays cheap however many deliveries are kept.
    """
    row = conn.execute(
        "SELECT d.subscriber_id, d.campaign_id FROM subscribers p "
        "JOIN campaigns c ON c.finished_at IS NULL OR c.finished_at >= ? "
        "JOIN deliveries d ON d.campaign_id = c.id AND d.subscriber_id = p.id "
        "WHERE p.email_key = ? AND d.state = 'sent' AND d.sent_at >= ? "
        "ORDER BY d.sent_at DESC LIMIT 1",
        (since, address_key, since),
    ).fetchone()
    return (int(row[0]), int(row[1])) if row is not None else None


def of_subscriber(store: Store, subscriber_id: int) -> list[dict[str, Any]]:
    """Every delivery to a person, with its campaign's subject and list (GDPR access)."""
    return [
        dict(row)
        for row in store.all(
            "SELECT d.*, c.subject AS campaign_subject, c.list_name AS campaign_list "
            "FROM deliveries d LEFT JOIN campaigns c ON c.id = d.campaign_id "
            "WHERE d.subscriber_id = ? ORDER BY d.campaign_id",
            (subscriber_id,),
        )
    ]


def delete_of(conn: sqlite3.Connection, subscriber_id: int) -> None:
    """Remove every delivery row of a person (they are forgotten)."""
    conn.execute("DELETE FROM deliveries WHERE subscriber_id = ?", (subscriber_id,))


def tally(conn: sqlite3.Connection | Store, campaign_id: int) -> tuple[int, int]:
    """(recipients tried at least once, recipients sent) of a campaign: where its guards start.

    One pass over the campaign's rows, made once per run.
    """
    row = conn.execute(
        "SELECT coalesce(sum(attempts > 0), 0), coalesce(sum(state = 'sent'), 0) "
        "FROM deliveries WHERE campaign_id = ?",
        (campaign_id,),
    ).fetchone()
    return (int(row[0]), int(row[1]))


#: What a recipient of a campaign is shown as: ``bounced`` when a proven bounce of
#: that campaign names them (refused at once, or a report that came back later),
#: else the delivery's state. ``b`` is their latest such bounce.
_SHOWN_STATUS = "CASE WHEN b.id IS NOT NULL THEN 'bounced' ELSE d.state END"
_LATEST_BOUNCE = (
    "LEFT JOIN bounces b ON b.id = (SELECT max(x.id) FROM bounces x "
    "WHERE x.subscriber_id = d.subscriber_id AND x.campaign_id = d.campaign_id "
    "AND x.kind IN ('hard', 'soft') AND x.proof != '')"
)


@dataclass(frozen=True, slots=True)
class RecipientOutcome:
    """What one recipient of a campaign got: the status, when, and the words that say why.

    ``at`` is when it was sent, bounced or last given a time (a deferred
    recipient's next attempt); ``reply`` the relay's last reply, or the
    bounce's reason and diagnostic.
    """

    email: str
    status: str
    at: str | None
    code: int | None
    reply: str


def outcomes_of(
    store: Store, campaign_id: int, status: str | None = None, *, page_size: int = PAGE_SIZE
) -> Iterator[RecipientOutcome]:
    """A campaign's recipients with their outcomes, in subscriber order, read in pages.

    ``status`` keeps one of pending, sent, deferred, failed, bounced. Memory
    stays flat whatever the campaign's size: each page starts after the
    last subscriber of the one before.
    """
    sql = (
        f"SELECT d.subscriber_id AS id, d.email, {_SHOWN_STATUS} AS shown, "
        "CASE WHEN b.id IS NOT NULL THEN b.received_at WHEN d.state = 'sent' THEN d.sent_at "
        "WHEN d.state = 'deferred' THEN d.next_attempt_at ELSE d.first_attempt_at END, "
        "d.last_code, CASE WHEN b.id IS NOT NULL THEN trim(b.kind || ' ' || b.reason || ': ' "
        "|| b.diagnostic) ELSE d.last_text END "
        f"FROM deliveries d {_LATEST_BOUNCE} WHERE d.campaign_id = ?"
    )
    params: list[Any] = [campaign_id]
    if status is not None:
        sql += " AND shown = ?"
        params.append(status)
    for row in pages(store, sql, params, "d.subscriber_id", page_size=page_size):
        yield RecipientOutcome(row[1], row[2], row[3], row[4], row[5] or "")
