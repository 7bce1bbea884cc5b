"""What a campaign's rates are, and the lines they are read against.

Each rate is written once here, for every report that shows it:

- **delivered**: recipients the relay took, of all the campaign's recipients;
- **hard bounces**: people with a proven hard bounce, of the recipients tried
  (a recipient still pending was never tried, so cannot have bounced);
- **complaints**: people who reported the letter as spam, of those it was
  delivered to, as Gmail's Postmaster Tools counts its spam rate;
- **unsubscribes**: people who left by the letter's own link or mailbox, of
  those it was delivered to (see ``unsubscribes_of``).

The reference lines: Gmail's sender guidelines (2024) ask bulk senders to
keep the spam rate below 0.1% and never to reach 0.3%, and 0.3% is Yahoo's
limit too.
Neither publishes a bounce threshold; Amazon SES asks for a hard-bounce rate
below 5% (and may pause an account above 10%), and 2% is mailer's own line
for "look at this list": well clear of that, and more than a kept list loses
to dead addresses between two letters.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailer.store import reports
from mailer.store.database import Store
from mailer.store.reports import CampaignOutcome


@dataclass(frozen=True)
class Reference:
    """A line a rate is read against: its value (a fraction) and where it comes from."""

    value: float
    label: str


COMPLAINT_LINES = (
    Reference(0.001, "0.1%: Gmail's recommended ceiling"),
    Reference(0.003, "0.3%: Gmail's and Yahoo's limit"),
)
HARD_BOUNCE_LINES = (
    Reference(0.02, "2%: mailer's line for a list to look at"),
    Reference(0.05, "5%: Amazon SES's ceiling"),
)
#: Where the lines come from, as a report says it under its chart.
LINES_NOTE = (
    "The lines: Gmail asks bulk senders to keep complaints below 0.1% and never to reach "
    "0.3%, which is Yahoo's limit too. Neither publishes a bounce limit: Amazon SES asks for "
    "fewer than 5% hard bounces, and 2% is mailer's own line for a list to look at."
)
#: Days after a letter in which a leave that names no campaign is put down to it.
UNSUBSCRIBE_WINDOW_DAYS = reports.LAST_LETTER_DAYS


@dataclass(frozen=True)
class Unsubscribes:
    """People who left after a campaign: ``named`` by the event itself (the letter's own
    link or mailbox), ``by_time`` put down to it because it was the last letter they
    were sent within ``UNSUBSCRIBE_WINDOW_DAYS`` (events from before events named
    their campaign)."""

    named: int = 0
    by_time: int = 0

    @property
    def total(self) -> int:
        return self.named + self.by_time


def unsubscribes_of(store: Store, since: str) -> dict[int, Unsubscribes]:
    """Unsubscribes since ``since``, by the campaign they are put down to."""
    named = reports.unsubscribes_named(store, since)
    by_time = reports.unsubscribes_after(store, since)
    return {
        campaign: Unsubscribes(named.get(campaign, 0), by_time.get(campaign, 0))
        for campaign in sorted(named.keys() | by_time.keys())
    }


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class Rates:
    """One campaign's counts and its rates (fractions; None where nothing was counted)."""

    outcome: CampaignOutcome
    unsubscribes: Unsubscribes

    @property
    def delivered(self) -> float | None:
        return _share(self.outcome.sent, self.outcome.recipients)

    @property
    def hard_bounces(self) -> float | None:
        return _share(self.outcome.hard, self.outcome.tried)

    @property
    def complaints(self) -> float | None:
        return _share(self.outcome.complaints, self.outcome.sent)

    @property
    def unsubscribed(self) -> float | None:
        return _share(self.unsubscribes.total, self.outcome.sent)


def percent(value: float | None) -> str:
    """A rate as people read it: ``0.25%``, ``12.5%``; ``–`` when there is none."""
    if value is None:
        return "–"
    shown = f"{value * 100:.2f}".rstrip("0").rstrip(".")
    return f"{shown}%"
