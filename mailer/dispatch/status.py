"""Reading and steering campaigns: counters, the list of them, details, cancel and retry."""

from __future__ import annotations

from typing import Any

from mailer import clock
from mailer.bounces.model import KINDS
from mailer.dispatch.plan import Campaign, get_campaign
from mailer.errors import ConflictError
from mailer.store import Store
from mailer.store.bounces import bounce_counts, unverified_count

STATES = ("pending", "sent", "deferred", "failed")
#: How many failures ``show`` lists (the count is always complete).
FAILURES_SHOWN = 100


def counters(store: Store, campaign_id: int) -> dict[str, int]:
    """Recipients of a campaign by delivery state."""
    counts = dict.fromkeys(STATES, 0)
    for row in store.all(
        "SELECT state, count(*) FROM deliveries WHERE campaign_id = ? GROUP BY state",
        (campaign_id,),
    ):
        counts[row[0]] = row[1]
    return counts


def summary(store: Store, campaign: Campaign) -> dict[str, Any]:
    """A campaign as ``campaigns ls`` shows it."""
    counts = counters(store, campaign.id)
    return {
        "id": campaign.id,
        "subject": campaign.subject,
        "list": campaign.list_name,
        "segment": campaign.segment,
        "state": campaign.state,
        "recipients": campaign.recipients,
        **counts,
        "created_at": campaign.created_at,
    }


def all_campaigns(store: Store) -> list[dict[str, Any]]:
    """Every campaign, newest first, with its counters."""
    rows = store.all("SELECT * FROM campaigns ORDER BY id DESC")
    return [summary(store, Campaign.from_row(r)) for r in rows]


def detail(store: Store, campaign_id: int) -> dict[str, Any]:
    """Everything ``campaigns show`` prints: counters, timing, the failures with their codes."""
    campaign = get_campaign(store, campaign_id)
    data = summary(store, campaign)
    data["letter"] = campaign.letter_path
    data["started_at"] = campaign.started_at
    data["finished_at"] = campaign.finished_at
    data["seconds"] = _seconds(campaign.started_at, campaign.finished_at)
    first_sent = store.one(
        "SELECT min(sent_at), max(sent_at) FROM deliveries WHERE campaign_id = ? "
        "AND state = 'sent'",
        (campaign_id,),
    )
    data["first_sent_at"] = first_sent[0] if first_sent else None
    data["last_sent_at"] = first_sent[1] if first_sent else None
    next_retry = store.one(
        "SELECT min(next_attempt_at) FROM deliveries WHERE campaign_id = ? AND state = 'deferred'",
        (campaign_id,),
    )
    data["next_retry_at"] = next_retry[0] if next_retry else None
    data["bounces"] = {kind: 0 for kind in KINDS} | bounce_counts(store, campaign_id)
    data["unverified_reports"] = unverified_count(store, campaign_id)
    data["failures"] = [
        {"email": r[0], "code": r[1], "text": r[2], "attempts": r[3]}
        for r in store.all(
            "SELECT email, last_code, last_text, attempts FROM deliveries "
            "WHERE campaign_id = ? AND state = 'failed' ORDER BY subscriber_id LIMIT ?",
            (campaign_id, FAILURES_SHOWN),
        )
    ]
    data["deferrals"] = [
        {"email": r[0], "code": r[1], "text": r[2], "attempts": r[3], "next_attempt_at": r[4]}
        for r in store.all(
            "SELECT email, last_code, last_text, attempts, next_attempt_at FROM deliveries "
            "WHERE campaign_id = ? AND state = 'deferred' ORDER BY subscriber_id LIMIT ?",
            (campaign_id, FAILURES_SHOWN),
        )
    ]
    return data


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start:
        return None
    finish = clock.parse_iso(end) if end else clock.now()
    return round((finish - clock.parse_iso(start)).total_seconds(), 1)


def remaining(store: Store, campaign_id: int) -> int:
    """Recipients still to be tried: pending, or deferred (due or not)."""
    row = store.one(
        "SELECT count(*) FROM deliveries WHERE campaign_id = ? "
        "AND state IN ('pending', 'deferred')",
        (campaign_id,),
    )
    return int(row[0]) if row else 0


def set_state(store: Store, campaign_id: int, state: str) -> None:
    """Move a campaign to ``state``, stamping when it started and finished."""
    now = clock.now_iso()
    with store.transaction() as conn:
        if state == "sending":
            conn.execute(
                "UPDATE campaigns SET state = 'sending', started_at = coalesce(started_at, ?), "
                "finished_at = NULL WHERE id = ? AND state != 'cancelled'",
                (now, campaign_id),
            )
        elif state == "done":
            conn.execute(
                "UPDATE campaigns SET state = 'done', finished_at = ? "
                "WHERE id = ? AND state != 'cancelled'",
                (now, campaign_id),
            )
        else:
            conn.execute(
                "UPDATE campaigns SET state = ? WHERE id = ? AND state != 'cancelled'",
                (state, campaign_id),
            )


def cancel(store: Store, campaign_id: int) -> dict[str, Any]:
    """Stop a campaign for good: nobody still pending or deferred will get it."""
    campaign = get_campaign(store, campaign_id)
    if campaign.state == "done":
        raise ConflictError(f"campaign {campaign_id} is finished; there is nothing to cancel")
    with store.transaction() as conn:
        conn.execute(
            "UPDATE campaigns SET state = 'cancelled', finished_at = ? WHERE id = ?",
            (clock.now_iso(), campaign_id),
        )
    return summary(store, get_campaign(store, campaign_id))


def retry_failed(store: Store, campaign_id: int) -> int:
    """Put recipients that failed temporarily (expired) back to pending; returns how many."""
    campaign = get_campaign(store, campaign_id)
    if campaign.state == "cancelled":
        raise ConflictError(f"campaign {campaign_id} was cancelled; it cannot be retried")
    with store.transaction() as conn:
        count = conn.execute(
            "UPDATE deliveries SET state = 'pending', first_attempt_at = NULL, "
            "next_attempt_at = NULL WHERE campaign_id = ? AND state = 'failed' "
            "AND last_text LIKE 'expired:%'",
            (campaign_id,),
        ).rowcount
        if count:
            conn.execute(
                "UPDATE campaigns SET state = 'sending', finished_at = NULL WHERE id = ?",
                (campaign_id,),
            )
    return int(count)


def due_campaigns(store: Store) -> list[int]:
    """Campaigns that ``campaigns run`` should pick up: being sent, with work due now."""
    rows = store.all(
        "SELECT c.id FROM campaigns c WHERE c.state IN ('created', 'sending') AND EXISTS "
        "(SELECT 1 FROM deliveries d WHERE d.campaign_id = c.id AND (d.state = 'pending' "
        "OR (d.state = 'deferred' AND d.next_attempt_at <= ?))) ORDER BY c.id",
        (clock.now_iso(),),
    )
    return [int(r[0]) for r in rows]
