"""Read-only aggregates for the reports: campaigns' outcomes, lists' comings and goings.

Every figure is counted and grouped by SQLite, so that a campaign of a
hundred thousand recipients reports in well under a second: Python only
sees one row per group (a domain, a minute, a week). Two rules are written
once here and used by every query that needs them:

- **Proven** bounces and complaints (``proof != ''``) are the only ones
  counted; an unverified report names people but proves nothing. A "not
  spam" report is no complaint. A recipient counts once however many reports
  name them (the relay's own refusal and a later notice, say).
- **The domain** of an address is what follows its last ``@`` (a quoted
  local part may hold one), in lower case.
- **The letter** a leaving or a proven report that names no campaign is put
  down to is the last one the relay took for that person in the
  ``LAST_LETTER_DAYS`` before it (``last_letter``): an unsubscribe from
  before events named their campaign, or a provider's report that quoted no
  Message-ID of ours.

Timestamps are the store's UTC text; a week starts on Monday.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mailer.store.database import Store
from mailer.store.models import Recipient

#: A ``bounces`` row ``b`` that counts as a hard bounce of its recipient.
PROVEN_HARD = "(b.kind = 'hard' AND b.proof != '')"
#: A ``bounces`` row ``b`` that counts as a complaint ("not spam" reports do not).
PROVEN_COMPLAINT = "(b.kind = 'complaint' AND b.proof != '' AND b.reason != 'notspam')"
#: Who a ``bounces`` row ``b`` is about, once per person (a forgotten one keeps a placeholder).
_WHO = "coalesce(b.subscriber_id, b.recipient)"
#: How a person left a list by a letter's own means: its link, its page, its mailbox.
LETTER_METHODS = ("one-click", "web", "mailto")
#: Days before a leaving or a report in which a letter is the one it is put down to.
LAST_LETTER_DAYS = 7
#: Timestamp prefixes that make each time unit's buckets (``2026-12-01T09:05``...).
_PREFIX = {"minute": 16, "hour": 13, "day": 10}


def domain_of(column: str) -> str:
    """SQL for the lower-cased domain of the address in ``column``."""
    return f"lower(substr({column}, length(rtrim({column}, replace({column}, '@', ''))) + 1))"


def week_of(column: str) -> str:
    """SQL for the Monday (``YYYY-MM-DD``) of the week of the timestamp in ``column``."""
    return f"date({column}, 'weekday 0', '-6 days')"


def last_letter(who: str, at: str) -> str:
    """SQL for the campaign whose letter the relay last took for subscriber ``who`` in the
    ``LAST_LETTER_DAYS`` up to the time ``at`` (SQL expressions both), NULL for none.

    It goes through the campaigns started by then (``CROSS JOIN`` keeps SQLite to that
    order), each looked up by the deliveries' primary key, so it stays cheap however many
    deliveries are kept.
    """
    return (
        "(SELECT d.campaign_id FROM campaigns lc CROSS JOIN deliveries d "
        f"WHERE d.campaign_id = lc.id AND d.subscriber_id = {who} "
        f"AND lc.started_at <= {at} AND d.state = 'sent' "
        f"AND d.sent_at <= {at} AND d.sent_at >= strftime('%Y-%m-%dT%H:%M:%SZ', {at}, "
        f"'-{LAST_LETTER_DAYS} days') ORDER BY d.sent_at DESC, d.campaign_id DESC LIMIT 1)"
    )


def bounces_of(campaign: str) -> str:
    """SQL for a campaign's ``bounces`` rows as ``b`` (``FROM`` it, then ``AND`` more): those
    that name it, and the proven ones that name no campaign and are put down to it
    (``last_letter``). ``campaign`` is a numbered parameter (``?1``: it is used twice) or
    a column (``c.id``)."""
    return (
        f"(SELECT b.*, coalesce(b.campaign_id, {last_letter('b.subscriber_id', 'b.received_at')}"
        f") AS counted FROM bounces b WHERE b.campaign_id = {campaign} OR (b.campaign_id IS NULL "
        f"AND b.proof != '' AND b.subscriber_id IS NOT NULL)) b WHERE b.counted = {campaign}"
    )


def sent_by_time(store: Store, campaign_id: int, unit: str) -> list[tuple[str, int]]:
    """Messages of a campaign taken by the relay per ``unit`` (minute, hour, day or week),
    oldest first; each bucket is named by its start (``2026-12-01T09:05``, a week's Monday)."""
    key = week_of("sent_at") if unit == "week" else f"substr(sent_at, 1, {_PREFIX[unit]})"
    rows = store.all(
        f"SELECT {key} AS bucket, count(*) FROM deliveries WHERE campaign_id = ? "
        "AND state = 'sent' AND sent_at IS NOT NULL GROUP BY bucket ORDER BY bucket",
        (campaign_id,),
    )
    return [(str(row[0]), int(row[1])) for row in rows]


@dataclass(frozen=True)
class DomainOutcome:
    """Where a campaign's recipients at one domain stand, and how many of them bounced
    (hard, proven) or complained."""

    domain: str
    recipients: int
    sent: int
    deferred: int
    failed: int
    pending: int
    hard: int
    complaints: int


def outcomes_by_domain(store: Store, campaign_id: int) -> list[DomainOutcome]:
    """Every destination domain of a campaign, the most recipients first."""
    rows = store.all(
        f"SELECT {domain_of('d.email')} AS domain, count(*) AS recipients, "
        "sum(d.state = 'sent'), sum(d.state = 'deferred'), sum(d.state = 'failed'), "
        "sum(d.state = 'pending'), coalesce(sum(r.hard), 0), coalesce(sum(r.complained), 0) "
        "FROM deliveries d LEFT JOIN ("
        f"  SELECT b.subscriber_id, max({PROVEN_HARD}) AS hard, "
        f"  max({PROVEN_COMPLAINT}) AS complained FROM {bounces_of('?1')} "
        "  AND b.subscriber_id IS NOT NULL GROUP BY b.subscriber_id"
        ") r ON r.subscriber_id = d.subscriber_id "
        "WHERE d.campaign_id = ?1 GROUP BY domain ORDER BY recipients DESC, domain",
        (campaign_id,),
    )
    return [DomainOutcome(str(r[0]), *(int(value) for value in tuple(r)[1:])) for r in rows]


@dataclass(frozen=True)
class ReasonCount:
    """How many proven bounce reports of one kind gave one reason."""

    kind: str
    reason: str
    count: int


def bounce_reasons(store: Store, campaign_id: int) -> list[ReasonCount]:
    """A campaign's proven hard, soft and delay reports by reason, the most common first."""
    rows = store.all(
        f"SELECT b.kind, b.reason, count(*) AS n FROM {bounces_of('?1')} "
        "AND b.proof != '' AND b.kind IN ('hard', 'soft', 'delayed') "
        "GROUP BY b.kind, b.reason ORDER BY n DESC, b.kind, b.reason",
        (campaign_id,),
    )
    return [ReasonCount(str(r[0]), str(r[1]), int(r[2])) for r in rows]


@dataclass(frozen=True)
class Deferral:
    """Recipients at one domain whose last answer was temporary (an SMTP code, or None for
    no answer at all): still waiting for a retry, or given up on (expired)."""

    domain: str
    code: int | None
    waiting: int
    expired: int


def deferrals(store: Store, campaign_id: int) -> list[Deferral]:
    """A campaign's deferred and expired recipients by domain and last code, most first."""
    rows = store.all(
        f"SELECT {domain_of('email')} AS domain, last_code, sum(state = 'deferred'), "
        "sum(state = 'failed') FROM deliveries WHERE campaign_id = ? "
        "AND (state = 'deferred' OR (state = 'failed' AND expired = 1)) "
        "GROUP BY domain, last_code ORDER BY count(*) DESC, domain, last_code",
        (campaign_id,),
    )
    return [Deferral(str(r[0]), r[1], int(r[2]), int(r[3])) for r in rows]


def sent_after_retries(store: Store, campaign_id: int) -> int:
    """Recipients the relay took only at a later attempt (each was deferred at least once)."""
    row = store.one(
        "SELECT count(*) FROM deliveries WHERE campaign_id = ? AND state = 'sent' "
        "AND attempts > 1",
        (campaign_id,),
    )
    return int(row[0]) if row else 0


def replies_to(store: Store, campaign_id: int) -> tuple[int, int]:
    """The replies stored under a campaign (its signed replies address proved them), and
    how many people wrote them."""
    row = store.one(
        "SELECT count(*), count(DISTINCT subscriber_id) FROM replies WHERE campaign_id = ?",
        (campaign_id,),
    )
    return (int(row[0]), int(row[1])) if row else (0, 0)


def reader_languages(store: Store, campaign_id: int) -> dict[tuple[int | None, str], int]:
    """A campaign's recipients by the list they got it through and the language they read
    ("" when not known): what ``dispatch.plan.language_shares`` turns into editions."""
    rows = store.all(
        "SELECT coalesce(d.list_id, c.list_id), coalesce(p.language, ''), count(*) "
        "FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id "
        "LEFT JOIN subscribers p ON p.id = d.subscriber_id WHERE d.campaign_id = ? "
        "GROUP BY 1, 2",
        (campaign_id,),
    )
    return {(r[0], str(r[1])): int(r[2]) for r in rows}


@dataclass(frozen=True)
class CampaignOutcome:
    """A started campaign's totals: recipients, those tried at least once, those the relay
    took, and the people who hard-bounced or complained (proven)."""

    id: int
    subject: str
    kind: str
    state: str
    started_at: str
    recipients: int
    tried: int
    sent: int
    hard: int
    complaints: int


def campaign_outcomes(
    store: Store, *, campaign_id: int | None = None, since: str | None = None,
    list_ids: Sequence[int] | None = None,
) -> list[CampaignOutcome]:
    """Started campaigns (one, or those started at or after ``since``; with ``list_ids``,
    those that went to any of these lists), oldest first."""
    sql = (
        "SELECT c.id, c.subject, c.kind, c.state, c.started_at, c.recipients, "
        # A pruned campaign's rows per recipient are gone; its totals are kept on it.
        "CASE WHEN c.pruned_at IS NOT NULL THEN c.tried_total ELSE (SELECT count(*) "
        "FROM deliveries d WHERE d.campaign_id = c.id AND d.attempts > 0) END, "
        "CASE WHEN c.pruned_at IS NOT NULL THEN c.sent_total ELSE (SELECT count(*) "
        "FROM deliveries d WHERE d.campaign_id = c.id AND d.state = 'sent') END, "
        f"(SELECT count(DISTINCT {_WHO}) FROM {bounces_of('c.id')} AND {PROVEN_HARD}), "
        f"(SELECT count(DISTINCT {_WHO}) FROM {bounces_of('c.id')} AND {PROVEN_COMPLAINT}) "
        "FROM campaigns c WHERE c.started_at IS NOT NULL"
    )
    params: list[object] = []
    if campaign_id is not None:
        sql += " AND c.id = ?"
        params.append(campaign_id)
    if since is not None:
        sql += " AND c.started_at >= ?"
        params.append(since)
    if list_ids is not None:
        sql += (" AND EXISTS (SELECT 1 FROM campaign_lists l WHERE l.campaign_id = c.id "
                f"AND l.list_id IN ({', '.join('?' * len(list_ids)) or 'NULL'}))")
        params.extend(list_ids)
    rows = store.all(sql + " ORDER BY c.started_at, c.id", params)
    return [CampaignOutcome(*tuple(r)) for r in rows]


#: People who left a list by a letter's own means at or after a time: who, when, and the
#: campaign the event names (NULL when it names none). One parameter: the time.
_LEFT = (
    "SELECT e.subscriber_id, e.at, json_extract(e.detail, '$.campaign') AS campaign "
    "FROM events e WHERE e.kind = 'unsubscribed' AND e.at >= ? "
    f"AND json_extract(e.detail, '$.method') IN ({', '.join(repr(m) for m in LETTER_METHODS)})"
)


def unsubscribes_named(store: Store, since: str) -> dict[int, int]:
    """People who left by a letter's link or mailbox since ``since``, by the campaign the
    event names (leaving several lists at once counts once)."""
    rows = store.all(
        f"SELECT campaign, count(DISTINCT subscriber_id) FROM ({_LEFT}) "
        "WHERE campaign IS NOT NULL GROUP BY campaign",
        (since,),
    )
    return {int(r[0]): int(r[1]) for r in rows}


def unsubscribes_after(store: Store, since: str) -> dict[int, int]:
    """People who left by a letter's means since ``since`` in an event that names no
    campaign, by the campaign it is put down to (``last_letter``); those sent nothing in
    that window count nowhere."""
    rows = store.all(
        "SELECT campaign_id, count(DISTINCT subscriber_id) FROM ("
        f"  SELECT l.subscriber_id, {last_letter('l.subscriber_id', 'l.at')} AS campaign_id "
        f"  FROM ({_LEFT}) l WHERE l.campaign IS NULL"
        ") WHERE campaign_id IS NOT NULL GROUP BY campaign_id",
        (since,),
    )
    return {int(r[0]): int(r[1]) for r in rows}


@dataclass(frozen=True)
class WeekCount:
    """How many of something happened on one list in the week starting ``week``."""

    list_id: int
    week: str
    count: int


def joins_by_week(store: Store, since: str) -> list[WeekCount]:
    """Members who joined each list, by the week their consent was given (an import, an
    add, a confirmed double opt-in; one who came back counts in the week they came back)."""
    rows = store.all(
        f"SELECT list_id, {week_of('consent_at')} AS week, count(*) FROM subscriptions "
        "WHERE consent_at >= ? GROUP BY list_id, week",
        (since,),
    )
    return [WeekCount(int(r[0]), str(r[1]), int(r[2])) for r in rows]


def leaves_by_week(store: Store, since: str, *, complaints: bool) -> list[WeekCount]:
    """Members who left each list per week: those who complained (they leave every list
    they are on), or, with ``complaints`` False, everyone else who left."""
    rows = store.all(
        f"SELECT list_id, {week_of('at')} AS week, count(*) FROM events "
        "WHERE kind = 'unsubscribed' AND list_id IS NOT NULL AND at >= ? "
        "AND (coalesce(json_extract(detail, '$.method'), '') = 'complaint') = ? "
        "GROUP BY list_id, week",
        (since, complaints),
    )
    return [WeekCount(int(r[0]), str(r[1]), int(r[2])) for r in rows]


def bounced_by_week(store: Store, since: str) -> list[WeekCount]:
    """Members disabled by bounces per week, on each list they were members of then."""
    rows = store.all(
        f"SELECT s.list_id, {week_of('e.at')} AS week, count(DISTINCT e.subscriber_id) "
        "FROM events e JOIN subscriptions s ON s.subscriber_id = e.subscriber_id "
        "AND s.consent_at IS NOT NULL AND s.created_at <= e.at "
        "AND (s.unsubscribed_at IS NULL OR s.unsubscribed_at >= e.at) "
        "WHERE e.kind = 'status' AND json_extract(e.detail, '$.to') = 'bounced' "
        "AND e.at >= ? GROUP BY s.list_id, week",
        (since,),
    )
    return [WeekCount(int(r[0]), str(r[1]), int(r[2])) for r in rows]


def first_readers(store: Store, campaign_id: int) -> list[Recipient]:
    """For each language a campaign's recipients read, its first recipient (by id) as the
    recipient query gives them: who to build a sample message of each edition for."""
    rows = store.all(
        "SELECT p.id, d.email, p.name, p.attributes, p.language, "
        "coalesce(d.list_id, c.list_id), min(d.subscriber_id) "
        "FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id "
        "JOIN subscribers p ON p.id = d.subscriber_id WHERE d.campaign_id = ? "
        "GROUP BY p.language ORDER BY p.language",
        (campaign_id,),
    )
    return [Recipient.from_row(row) for row in rows]
