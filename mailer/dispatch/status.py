"""Reading and steering campaigns: their counters and details, cancel and retry.

The views are dataclasses: the command line prints them, and ``--json`` is
their one serialisation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

from mailer import clock
from mailer.bounces.model import KINDS
from mailer.dispatch.guards import paused_reason
from mailer.dispatch.journal import CampaignBusy, Journal
from mailer.dispatch.segment import parse_segment
from mailer.errors import ConflictError
from mailer.store import Store, bounces, campaigns, deliveries
from mailer.store.deliveries import Attempt, RecipientOutcome
from mailer.store.models import Campaign, CampaignState, DeliveryState

#: How many failures ``show`` lists (the count is always complete).
FAILURES_SHOWN = 100


@dataclass(frozen=True)
class CampaignSummary:
    """A campaign as ``campaigns ls`` shows it: what, to whom, and how far."""

    id: int
    subject: str
    list: str
    segment: str
    state: CampaignState
    kind: str
    recipients: int
    pending: int
    sent: int
    deferred: int
    failed: int
    created_at: str
    #: When it was to start (UTC, as stored), and the zone that time was given in.
    scheduled_at: str | None
    scheduled_zone: str


@dataclass(frozen=True)
class CampaignDetail(CampaignSummary):
    """Everything ``campaigns show`` prints: counters, timing, bounces, the failures.

    ``recipients_now`` is, for a campaign still scheduled, how many it would
    reach if it started now (its recipients are counted when it starts).
    """

    letter: str
    recipients_now: int | None
    started_at: str | None
    finished_at: str | None
    seconds: float | None
    first_sent_at: str | None
    last_sent_at: str | None
    next_retry_at: str | None
    lists: dict[str, int]
    bounces: dict[str, int]
    unverified_reports: int
    failures: list[Attempt]
    deferrals: list[Attempt]
    #: When its rows per recipient were dropped (its counts kept): ``campaigns prune``.
    pruned_at: str | None
    #: Why a guard paused it, while it is paused ("" otherwise).
    paused: str = ""


def summary(store: Store, campaign: Campaign) -> CampaignSummary:
    """One campaign with its counters."""
    return CampaignSummary(
        id=campaign.id,
        subject=campaign.subject,
        list=", ".join(entry.name for entry in campaigns.lists_of(store, campaign.id))
        or campaign.list_name,
        segment=campaign.segment,
        state=campaign.state,
        kind=campaign.kind,
        recipients=campaign.recipients,
        **deliveries.counters(store, campaign.id),
        created_at=campaign.created_at,
        scheduled_at=campaign.scheduled_at,
        scheduled_zone=campaign.scheduled_zone,
    )


def all_campaigns(store: Store) -> list[CampaignSummary]:
    """Every campaign, newest first, with its counters."""
    return [summary(store, campaign) for campaign in campaigns.newest_first(store)]


def detail(store: Store, campaign_id: int) -> CampaignDetail:
    """One campaign in full."""
    campaign = campaigns.get(store, campaign_id)
    first_sent, last_sent, next_retry = deliveries.timing(store, campaign_id)
    return CampaignDetail(
        **vars(summary(store, campaign)),
        letter=campaign.letter_path,
        recipients_now=_recipients_now(store, campaign),
        started_at=campaign.started_at,
        finished_at=campaign.finished_at,
        seconds=_seconds(campaign.started_at, campaign.finished_at),
        first_sent_at=first_sent,
        last_sent_at=last_sent,
        next_retry_at=next_retry,
        lists=deliveries.per_list(store, campaign_id),
        bounces={kind: 0 for kind in KINDS} | bounces.kinds_of(store, campaign_id),
        unverified_reports=bounces.unverified_count(store, campaign_id),
        failures=_recipients(store, campaign_id, DeliveryState.FAILED),
        deferrals=_recipients(store, campaign_id, DeliveryState.DEFERRED),
        pruned_at=campaign.pruned_at,
        paused=paused_reason(store, campaign_id, campaign.state),
    )


#: What ``campaigns recipients --status`` takes: the delivery states, and ``bounced``.
RECIPIENT_STATUSES = (*(str(state) for state in DeliveryState), "bounced")


def recipients(
    store: Store, campaign_id: int, status: str | None = None
) -> Iterator[RecipientOutcome]:
    """Who got what of a campaign, one recipient at a time (a campaign may have millions).

    What a crashed run left in the journal is committed first, so every row
    is true.
    """
    campaigns.get(store, campaign_id)
    settle_journal(store, campaign_id)
    return deliveries.outcomes_of(store, campaign_id, status)


def _recipients_now(store: Store, campaign: Campaign) -> int | None:
    """How many a scheduled campaign would reach now, by the one recipient query."""
    if campaign.state is not CampaignState.SCHEDULED:
        return None
    ids = campaigns.live_list_ids(store, campaign.id)
    return deliveries.count_recipients(store, ids, parse_segment(campaign.segment))


def _recipients(store: Store, campaign_id: int, state: DeliveryState) -> list[Attempt]:
    return [
        # A recipient given up on says so in front of the relay's last words.
        dataclasses.replace(a, text=f"expired: {a.text}") if a.expired else a
        for a in deliveries.attempts_in(store, campaign_id, state, FAILURES_SHOWN)
    ]


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start:
        return None
    finish = clock.parse_iso(end) if end else clock.now()
    return round((finish - clock.parse_iso(start)).total_seconds(), 1)


def settle_journal(store: Store, campaign_id: int) -> None:
    """Commit what a crashed sender left in the campaign's log (no-op while one is sending)."""
    journal = Journal(store, campaign_id)
    try:
        journal.open()
    except CampaignBusy:
        return  # a live sender commits its own log
    journal.close()


def cancel(store: Store, campaign_id: int) -> CampaignSummary:
    """Stop a campaign for good: nobody still pending or deferred will get it.

    What a crashed run left in the journal is committed first, so the counts
    are true.
    """
    campaigns.get(store, campaign_id)
    settle_journal(store, campaign_id)
    campaign = campaigns.get(store, campaign_id)
    if campaign.state is CampaignState.DONE:
        raise ConflictError(f"campaign {campaign_id} is finished; there is nothing to cancel")
    campaigns.set_state(store, campaign_id, CampaignState.CANCELLED)
    return summary(store, campaigns.get(store, campaign_id))


def retry(store: Store, campaign_id: int) -> int:
    """Put recipients whose retries ran out back to pending; how many."""
    campaigns.get(store, campaign_id)
    settle_journal(store, campaign_id)
    campaign = campaigns.get(store, campaign_id)
    if campaign.state is CampaignState.CANCELLED:
        raise ConflictError(f"campaign {campaign_id} was cancelled; it cannot be retried")
    if campaign.pruned_at is not None:
        raise ConflictError(
            f"campaign {campaign_id} was pruned on {campaign.pruned_at[:10]}; it cannot be "
            "retried (send the letter again to reach those it missed)"
        )
    with store.transaction() as conn:
        count = deliveries.retry_expired(conn, campaign_id)
        if count:
            campaigns.reopen(conn, campaign_id)
    return count
