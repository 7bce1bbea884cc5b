"""One campaign's report: what happened to its messages, and what its letter was.

The figures come from ``store/reports.py`` (grouped in SQL) and
``dispatch.status.detail`` (the counters ``campaigns show`` prints); this
module only chooses the time unit, fills the gaps of the timeline, folds
the long tails into "other", and measures the letter by building one
message of each edition.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from mailer import clock, tokens
from mailer.config import Config
from mailer.dispatch.plan import LanguageShare, campaign_editions, language_shares
from mailer.dispatch.run import campaign_lists
from mailer.dispatch.status import CampaignDetail, detail
from mailer.errors import MailerError
from mailer.letters.check import SIZE_LIMIT
from mailer.letters.compile import sample_recipient
from mailer.letters.editions import CompiledEditions
from mailer.letters.sender import web_base_url
from mailer.reports.rates import Rates, Unsubscribes, unsubscribes_of
from mailer.store import Store, campaigns, reports
from mailer.store.models import Campaign
from mailer.store.reports import Deferral, DomainOutcome, ReasonCount

#: Domains (and deferral causes) shown one by one; the rest are added up as one.
TOP = 10
OTHER_DOMAINS = "other domains"
#: The longest span (from the first message taken to the last) drawn per unit.
_UNITS = (
    ("minute", timedelta(hours=2), timedelta(minutes=1), "%Y-%m-%dT%H:%M"),
    ("hour", timedelta(days=4), timedelta(hours=1), "%Y-%m-%dT%H"),
    ("day", timedelta(days=180), timedelta(days=1), "%Y-%m-%d"),
)


@dataclass(frozen=True)
class EditionSize:
    """The size in bytes of one message of an edition (the whole MIME message, as sent)."""

    language: str
    size: int

    @property
    def clipped(self) -> bool:
        """Whether Gmail would cut it short (``letters check`` warns above this too)."""
        return self.size > SIZE_LIMIT


@dataclass(frozen=True)
class CampaignReport:
    """Everything the campaign report shows.

    ``timeline`` is the messages the relay took per ``unit`` (every bucket from
    the first to the last, empty ones too); ``domains`` and ``deferrals`` keep
    the ``TOP`` largest and fold the rest into one row; ``sizes_note`` says
    why the letter could not be measured, when it could not.
    """

    detail: CampaignDetail
    generated_at: str
    unit: str
    timeline: list[tuple[str, int]]
    domains: list[DomainOutcome]
    reasons: list[ReasonCount]
    deferrals: list[Deferral]
    sent_after_retries: int
    rates: Rates | None
    languages: tuple[LanguageShare, ...]
    sizes: list[EditionSize]
    sizes_note: str
    #: The letter's page in the web archive, when it is there (a public list's, sent).
    archive_url: str = ""
    #: Replies gathered under the campaign, and how many people wrote them.
    replies: tuple[int, int] = (0, 0)

    @property
    def empty(self) -> bool:
        """Whether nothing was tried yet: no outcome to draw."""
        d = self.detail
        return d.sent + d.deferred + d.failed == 0


def campaign_report(config: Config, store: Store, campaign_id: int) -> CampaignReport:
    """Gather campaign ``campaign_id``'s report (``CampaignNotFound`` if there is none)."""
    shown = detail(store, campaign_id)
    campaign = campaigns.get(store, campaign_id)
    unit, timeline = _timeline(store, campaign_id, shown.first_sent_at, shown.last_sent_at)
    sizes, note = _sizes(config, store, campaign)
    return CampaignReport(
        detail=shown,
        generated_at=clock.now_iso(),
        unit=unit,
        timeline=timeline,
        domains=fold(reports.outcomes_by_domain(store, campaign_id), _add_domains),
        reasons=reports.bounce_reasons(store, campaign_id),
        deferrals=fold(reports.deferrals(store, campaign_id), _add_deferrals),
        sent_after_retries=reports.sent_after_retries(store, campaign_id),
        rates=_rates(store, campaign),
        languages=_languages(store, campaign),
        sizes=sizes,
        sizes_note=note,
        archive_url=_archive_url(config, store, campaign_id),
        replies=reports.replies_to(store, campaign_id),
    )


def _archive_url(config: Config, store: Store, campaign_id: int) -> str:
    if campaigns.archived_one(store, campaign_id) is None:
        return ""
    return f"{web_base_url(config)}/archive/{campaign_id}"


def time_unit(first: datetime, last: datetime) -> str:
    """The bucket that suits a span: minutes up to two hours, hours up to four days,
    days up to half a year, weeks beyond."""
    for unit, longest, _step, _format in _UNITS:
        if last - first <= longest:
            return unit
    return "week"


def _timeline(
    store: Store, campaign_id: int, first: str | None, last: str | None
) -> tuple[str, list[tuple[str, int]]]:
    if first is None or last is None:
        return "minute", []
    start, end = clock.parse_iso(first), clock.parse_iso(last)
    unit = time_unit(start, end)
    counts = dict(reports.sent_by_time(store, campaign_id, unit))
    return unit, [(key, counts.get(key, 0)) for key in buckets(unit, start, end)]


def buckets(unit: str, start: datetime, end: datetime) -> list[str]:
    """Every bucket name of ``unit`` from ``start`` to ``end``, as ``sent_by_time``
    names them."""
    if unit == "week":
        step, pattern = timedelta(weeks=1), "%Y-%m-%d"
        start = start - timedelta(days=start.weekday())
    else:
        step, pattern = next((s, f) for u, _, s, f in _UNITS if u == unit)
    names: list[str] = []
    moment = start
    while moment.strftime(pattern) <= end.strftime(pattern):
        names.append(moment.strftime(pattern))
        moment += step
    return names


Row = TypeVar("Row")


def fold(rows: Sequence[Row], add: Callable[[Sequence[Row]], Row]) -> list[Row]:
    """The first ``TOP`` rows, and the others added up into one (``add``) if there are any."""
    if len(rows) <= TOP + 1:
        return list(rows)
    return [*rows[:TOP], add(rows[TOP:])]


def _add_domains(rows: Sequence[DomainOutcome]) -> DomainOutcome:
    sums = [sum(getattr(r, f.name) for r in rows)
            for f in dataclasses.fields(DomainOutcome)[1:]]
    return DomainOutcome(f"{OTHER_DOMAINS} ({len(rows)})", *sums)


def _add_deferrals(rows: Sequence[Deferral]) -> Deferral:
    return Deferral(f"{OTHER_DOMAINS} and codes ({len(rows)})", None,
                    sum(r.waiting for r in rows), sum(r.expired for r in rows))


def _rates(store: Store, campaign: Campaign) -> Rates | None:
    found = reports.campaign_outcomes(store, campaign_id=campaign.id)
    if not found:
        return None  # never started
    unsubscribes = unsubscribes_of(store, found[0].started_at)
    return Rates(found[0], unsubscribes.get(campaign.id, Unsubscribes()))


def _languages(store: Store, campaign: Campaign) -> tuple[LanguageShare, ...]:
    """Recipients by the edition they get, as ``send`` counted them before sending."""
    try:
        editions = campaign_editions(store, campaign)
    except MailerError:
        return ()  # a letter that no longer reads: the report says what else it knows
    lists = campaign_lists(store, campaign)
    counts = {(list_id or 0, language): n
              for (list_id, language), n in reports.reader_languages(store, campaign.id).items()}
    return language_shares(editions, lists, counts)


def _sizes(config: Config, store: Store, campaign: Campaign) -> tuple[list[EditionSize], str]:
    """One message of each edition somebody got, built for its first reader, measured.

    The signing key is a throwaway one: tokens are as long with any key, and
    a report needs no working link. Without recipients (a scheduled campaign)
    the letter's own sample reader stands in.
    """
    try:
        editions = campaign_editions(store, campaign)
        lists = campaign_lists(store, campaign)
        compiled = CompiledEditions(
            editions, config=config, lists=lists, campaign_id=campaign.id,
            signer=tokens.signer_for(config, missing="throwaway"),
        )
        readers = reports.first_readers(store, campaign.id) or [
            dataclasses.replace(sample_recipient(editions.original),
                                list_id=lists[0].id if lists else None)
        ]
        sizes: dict[str, int] = {}
        for reader in readers:
            language = compiled.language_for(reader)
            if language not in sizes:
                sizes[language] = len(compiled.build(reader).data)
    except MailerError as exc:
        return [], f"the letter could not be built again to measure it: {exc}"
    return [EditionSize(language, size) for language, size in sorted(sizes.items())], ""
