"""Sending at a set time: the time a person gives, and the start of a campaign when it comes.

A time is given as the wall-clock time of a zone (``send --at "2026-12-01
08:00" --tz Europe/Berlin``) and stored in UTC beside the zone's name, so it
is shown back the way it was given. A scheduled campaign keeps the letter
as it was checked, its lists and its segment; its recipients are
snapshotted only when it starts (``start``), so whoever leaves or is
blocked in between gets nothing and whoever joins gets it.

Local times that a change of the clocks makes odd: a time the clocks skip
(02:30 on the night they go forward) is refused, since any time put in its
place would be a guess; a time that happens twice (the night they go back)
means the first of the two, and the ``SendTime`` says so in its ``note``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from mailer import clock, zones
from mailer.dispatch.segment import parse_segment
from mailer.errors import ConflictError, UsageError
from mailer.store import Store, campaigns
from mailer.store.models import Campaign, CampaignState

#: The forms ``--at`` takes: ISO date and time, a space or ``T`` between, seconds optional.
_WHEN = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d))?")


@dataclass(frozen=True)
class SendTime:
    """When a campaign is to start: the moment in UTC (as stored), and the zone it was given in.

    ``note`` is set when the local time was one that happens twice.
    """

    at: str
    zone: str
    note: str = ""


def read_time(text: str, *zone_names: str) -> SendTime:
    """Read ``YYYY-MM-DD HH:MM[:SS]`` as local time in the first of ``zone_names`` that is
    not empty, else the system's zone; ``UsageError`` for a time that is unreadable,
    past, or skipped by the clocks.
    """
    name = next((each for each in zone_names if each), "") or zones.system_zone_name()
    tz = zones.zone(name)
    match = _WHEN.fullmatch(text.strip())
    try:
        if match is None:
            raise ValueError(text)
        year, month, day, hour, minute, second = (int(part or 0) for part in match.groups())
        local = datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise UsageError(
            f"--at {text!r}: write the local time as YYYY-MM-DD HH:MM (e.g. 2026-12-01 08:00), "
            "seconds optional, and the zone with --tz"
        ) from None
    moment, note = _resolve(local, tz, name)
    now = clock.now()
    if moment <= now:
        raise UsageError(
            f"--at {text!r}: {describe(clock.iso(moment), name)} is in the past "
            f"(it is now {describe(clock.iso(now), name)})"
        )
    return SendTime(clock.iso(moment), name, note)


def _resolve(local: datetime, tz: ZoneInfo, name: str) -> tuple[datetime, str]:
    """The moment a wall-clock time in ``tz`` names, and a note when it names two."""
    first = local.replace(tzinfo=tz, fold=0)
    second = local.replace(tzinfo=tz, fold=1)
    before, after = first.utcoffset(), second.utcoffset()
    if before == after or before is None or after is None:
        return first, ""
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != local:
        raise UsageError(
            f"{_wall(local)} does not exist in {name}: the clocks go forward "
            f"{_span(after - before)} that night; choose a time before or after the change"
        )
    return first, (
        f"{_wall(local)} happens twice in {name} (the clocks go back that night); "
        f"the first is meant: {_wall(local)} {first.tzname()}, {_wall(first.astimezone(UTC))} UTC"
    )


def _wall(moment: datetime) -> str:
    """A wall-clock time as a person writes it: seconds only when there are some."""
    return moment.strftime("%Y-%m-%d %H:%M:%S" if moment.second else "%Y-%m-%d %H:%M")


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60}:{minutes % 60:02d} h"


def local_time(at: str, zone_name: str) -> str:
    """A stored time in the zone it was given in: ``2026-12-01 08:00 Europe/Berlin``.

    A zone this machine no longer knows is shown as UTC rather than not at all.
    """
    moment = clock.parse_iso(at)
    try:
        return f"{_wall(moment.astimezone(zones.zone(zone_name)))} {zone_name}"
    except zones.UnknownZone:
        return f"{_wall(moment)} UTC"


def describe(at: str, zone_name: str) -> str:
    """A stored time in its zone and in UTC: ``2026-12-01 08:00 Europe/Berlin (07:00 UTC)``."""
    shown = local_time(at, zone_name)
    if shown.endswith(" UTC"):
        return shown
    moment = clock.parse_iso(at)
    utc = _wall(moment)
    return f"{shown} ({utc[11:] if shown[:10] == utc[:10] else utc} UTC)"


class NotDueYet(ConflictError):
    """A scheduled campaign was asked to start before its time."""

    def __init__(self, campaign_id: int, at: str, zone: str) -> None:
        self.campaign_id = campaign_id
        self.at = at
        self.zone = zone
        super().__init__(
            f"campaign {campaign_id} is scheduled for {describe(at, zone)} and starts then; "
            f"`campaigns resume {campaign_id} --now` starts it now"
        )


@dataclass(frozen=True)
class Started:
    """A scheduled campaign that has just started: how many it snapshotted, and its time."""

    campaign: int
    recipients: int
    scheduled_at: str
    scheduled_zone: str


def start(store: Store, campaign_id: int, *, early: bool = False) -> Started | None:
    """Start a scheduled campaign whose time has come (or, ``early``, whatever its time):
    snapshot its recipients now and make it ``sending``.

    None when the campaign is not scheduled: it never was, or another process
    started it a moment ago (the transition is one transaction, so only one
    process snapshots). ``NotDueYet`` when its time is still to come.
    """
    campaign = campaigns.get(store, campaign_id)
    if campaign.state is not CampaignState.SCHEDULED:
        return None
    now = clock.now_iso()
    _check_due(campaign, now, early)
    conditions = parse_segment(campaign.segment)  # checked when it was scheduled
    count = campaigns.start_scheduled(
        store, campaign_id, conditions, due_by=None if early else now
    )
    if count is None:
        _check_due(campaigns.get(store, campaign_id), now, early)  # rescheduled meanwhile
        return None
    return Started(campaign_id, count, campaign.scheduled_at or now, campaign.scheduled_zone)


def _check_due(campaign: Campaign, now: str, early: bool) -> None:
    at = campaign.scheduled_at
    if campaign.state is CampaignState.SCHEDULED and not early and at is not None and at > now:
        raise NotDueYet(campaign.id, at, campaign.scheduled_zone)


def reschedule(store: Store, campaign_id: int, at: str, tz: str = "") -> SendTime:
    """Give a scheduled campaign a new time: ``at`` in zone ``tz``, else the zone it was
    scheduled in; ``ConflictError`` once it has started or was cancelled.
    """
    campaign = campaigns.get(store, campaign_id)
    if campaign.state is not CampaignState.SCHEDULED:
        raise _not_scheduled(campaign)
    when = read_time(at, tz, campaign.scheduled_zone)
    if not campaigns.reschedule(store, campaign_id, when.at, when.zone):
        raise _not_scheduled(campaigns.get(store, campaign_id))  # started a moment ago
    return when


def _not_scheduled(campaign: Campaign) -> ConflictError:
    return ConflictError(
        f"campaign {campaign.id} is {campaign.state}, not scheduled: only a campaign "
        "that has not started can be given another time"
    )
