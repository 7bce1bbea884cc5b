"""The lists' report: who joined and who went, week by week, and each campaign's rates.

Per list and week (Monday to Sunday, UTC):

- **joined**: subscriptions whose consent was given that week (an import, an
  ``add``, a confirmed double opt-in); a person who left and came back counts
  in the week they came back;
- **left**: people who left the list, by any means but a complaint;
- **bounced**: members disabled by bounces, on each list they were on then;
- **complained**: people who reported a letter as spam (they leave every list
  they are on, and count on each).

The campaigns are those started in the same weeks, with the rates of
``rates.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailer import clock
from mailer.reports.campaign import buckets
from mailer.reports.rates import Rates, Unsubscribes, unsubscribes_of
from mailer.store import Store, lists, reports
from mailer.store.reports import WeekCount

#: Weeks a report covers unless told otherwise: half a year.
WEEKS = 26


@dataclass(frozen=True)
class ListWeeks:
    """One list's weeks, each count a list as long as the report's ``weeks``.

    ``members`` is how many a letter to the list would reach now.
    """

    name: str
    members: int
    joined: list[int]
    left: list[int]
    bounced: list[int]
    complained: list[int]

    @property
    def quiet(self) -> bool:
        """Whether nobody joined or went in any of the weeks."""
        return not any(self.joined + self.left + self.bounced + self.complained)

    @property
    def net(self) -> list[int]:
        """Each week's joins less its losses."""
        return [j - left - b - c for j, left, b, c in
                zip(self.joined, self.left, self.bounced, self.complained, strict=True)]


@dataclass(frozen=True)
class ListReport:
    """Everything ``mailer report`` shows: the weeks (their Mondays), each list's weeks,
    and the campaigns started since the first Monday, oldest first."""

    generated_at: str
    weeks: list[str]
    lists: list[ListWeeks]
    campaigns: list[Rates]


def first_monday(now: datetime, weeks: int) -> datetime:
    """Midnight (UTC) of the Monday that starts the first of the ``weeks`` up to ``now``."""
    monday = now - timedelta(days=now.weekday())
    return monday.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(weeks=weeks - 1)


def list_report(store: Store, weeks: int = WEEKS, names: Sequence[str] = ()) -> ListReport:
    """Gather the lists' report over the last ``weeks`` weeks (this one included): of every
    list, or of the lists ``names`` names and the campaigns that went to any of them
    (``ListNotFound`` for a list that does not exist)."""
    chosen = [lists.get_list(store, name) for name in dict.fromkeys(names)] if names else None
    now = clock.now()
    start = first_monday(now, weeks)
    since = clock.iso(start)
    names = buckets("week", start, now)
    joined = _by_list(reports.joins_by_week(store, since))
    left = _by_list(reports.leaves_by_week(store, since, complaints=False))
    bounced = _by_list(reports.bounced_by_week(store, since))
    complained = _by_list(reports.leaves_by_week(store, since, complaints=True))

    def weekly(counts: dict[tuple[int, str], int], list_id: int) -> list[int]:
        return [counts.get((list_id, week), 0) for week in names]

    found = [
        ListWeeks(
            each.name, lists.summary(store, each).counts["sendable"], weekly(joined, each.id),
            weekly(left, each.id), weekly(bounced, each.id), weekly(complained, each.id),
        )
        for each in (lists.all_lists(store) if chosen is None else chosen)
    ]
    unsubscribes = unsubscribes_of(store, since)
    outcomes = reports.campaign_outcomes(
        store, since=since, list_ids=None if chosen is None else [each.id for each in chosen])
    campaigns = [Rates(outcome, unsubscribes.get(outcome.id, Unsubscribes()))
                 for outcome in outcomes]
    return ListReport(clock.now_iso(), names, found, campaigns)


def _by_list(rows: list[WeekCount]) -> dict[tuple[int, str], int]:
    return {(row.list_id, row.week): row.count for row in rows}
