"""``campaigns prune``: old campaigns' rows per recipient dropped, their counts kept.

The rules, in order:

1. Only a campaign that ended (``done`` or ``cancelled``) longer ago than
   the age given is pruned; one that can still be resumed (``created``,
   ``scheduled``, ``sending``, ``paused``, a welcome letter) never is. Named
   by id, such a campaign is an error that says why, and nothing changes;
   found by age alone, it is reported as kept.
2. The age is at least ``[bounces] match_days``: within it a bounce that
   names only an address is matched through the letters sent to it.
3. The counts go onto the campaign first (``store.pruning.keep_counts``),
   then its rows but the failures go, so ``campaigns show``, ``campaigns
   ls`` and every report read the same figures before and after.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from mailer import clock
from mailer.dispatch.status import settle_journal
from mailer.errors import CampaignKept, UsageError
from mailer.store import Store, campaigns, pruning
from mailer.store.models import CampaignState

_AGE = re.compile(r"(\d+)\s*([dw]?)")


def parse_age(text: str) -> timedelta:
    """``90d``, ``12w`` or ``90`` (days) as a time span; anything else is a usage error."""
    found = _AGE.fullmatch(text.strip().lower())
    if found is None:
        raise UsageError(f"--older-than {text!r}: expected days or weeks, such as 90d or 12w")
    number = int(found.group(1))
    return timedelta(weeks=number) if found.group(2) == "w" else timedelta(days=number)


@dataclass(frozen=True)
class PrunedCampaign:
    """One campaign pruned (or, in a dry run, to be): the rows dropped, the failures kept."""

    id: int
    subject: str
    state: CampaignState
    finished_at: str
    rows: int
    failures_kept: int


@dataclass(frozen=True)
class KeptCampaign:
    """An old campaign left whole, and why."""

    id: int
    state: CampaignState
    reason: str


@dataclass(frozen=True)
class PruneReport:
    """What a prune did (or would do): the campaigns pruned, those kept, the rows dropped."""

    before: str
    dry_run: bool
    pruned: list[PrunedCampaign]
    kept: list[KeptCampaign]

    @property
    def rows(self) -> int:
        return sum(campaign.rows for campaign in self.pruned)


def _why_kept(state: CampaignState) -> str:
    if state is CampaignState.SCHEDULED:
        return "is scheduled: it has not been sent yet (cancel it first to prune it)"
    return f"is {state}: it can still be resumed (let it finish or cancel it first)"


def prune(
    store: Store,
    *,
    older_than: timedelta,
    match_days: int,
    ids: Sequence[int] = (),
    dry_run: bool = False,
) -> PruneReport:
    """Prune the campaigns (of ``ids``, if given) that ended before ``older_than`` ago."""
    if older_than < timedelta(days=match_days):
        raise UsageError(
            f"--older-than must be at least [bounces] match_days ({match_days} days): "
            "bounces that name only an address are matched through the letters sent that long"
        )
    before = clock.iso(clock.now() - older_than)
    for campaign_id in ids:
        campaign = campaigns.get(store, campaign_id)  # an unknown id is an error
        if campaign.state not in pruning.FINISHED:
            raise CampaignKept(campaign_id, _why_kept(campaign.state))
        if (campaign.finished_at or campaign.created_at) >= before:
            raise CampaignKept(campaign_id, f"ended {campaign.finished_at}, within the age given")
    found = pruning.finished_before(store, before, ids)
    kept = [KeptCampaign(c.id, c.state, _why_kept(c.state))
            for c in found if c.state not in pruning.FINISHED]
    pruned = [
        PrunedCampaign(c.id, c.subject, c.state, c.finished_at, c.rows, c.failures)
        for c in found if c.state in pruning.FINISHED
    ]
    if not dry_run:
        pruned = [_prune_one(store, campaign) for campaign in pruned]
    return PruneReport(before=before, dry_run=dry_run, pruned=pruned, kept=kept)


def _prune_one(store: Store, campaign: PrunedCampaign) -> PrunedCampaign:
    """Keep one campaign's counts, then drop its rows; what was dropped."""
    settle_journal(store, campaign.id)  # what a crashed run left counts too
    if not pruning.keep_counts(store, campaign.id, clock.now_iso()):
        return dataclasses.replace(campaign, rows=0)
    return dataclasses.replace(campaign, rows=pruning.drop_rows(store, campaign.id))
