"""The campaign report as a page: each figure of ``CampaignReport`` as a chart and a table.

A section with nothing to show says so in words instead of drawing an empty
chart; a campaign that has tried nobody yet shows only what it is and its
letter.
"""

from __future__ import annotations

from mailer.config import Config
from mailer.letters.check import SIZE_LIMIT
from mailer.reports import charts
from mailer.reports.campaign import CampaignReport
from mailer.reports.charts import (
    BLUE,
    GREEN,
    GREY,
    ORANGE,
    PURPLE,
    SKY,
    VERMILION,
    Panel,
    Series,
)
from mailer.reports.page import Section, chart, number, render, table
from mailer.reports.rates import (
    COMPLAINT_LINES,
    HARD_BOUNCE_LINES,
    LINES_NOTE,
    UNSUBSCRIBE_WINDOW_DAYS,
    Reference,
    percent,
)


def campaign_page(config: Config, report: CampaignReport) -> str:
    """The whole HTML page of a campaign's report."""
    sections = [] if report.empty else [
        _timeline(report), _domains(report), _reasons(report), _deferrals(report),
        _rates(report),
    ]
    sections += [_sizes(report), _languages(report), _lists(report)]
    sections = [_pruned(report, section) for section in sections]
    return render(config, "campaign.html.j2", report=report, facts=_facts(report),
                  sections=sections, nothing_yet=_nothing_yet(report),
                  generated_at=report.generated_at)


def _facts(report: CampaignReport) -> list[tuple[str, str]]:
    """The campaign at a glance: what, to whom, when, and its counters."""
    d = report.detail
    facts = [
        ("kind", d.kind), ("lists", d.list), ("state", str(d.state)),
        ("recipients", number(d.recipients)), ("sent", number(d.sent)),
        ("deferred", number(d.deferred)), ("failed", number(d.failed)),
        ("pending", number(d.pending)),
    ]
    if d.segment:
        facts.insert(2, ("segment", d.segment))
    for key in ("scheduled_at", "started_at", "finished_at"):
        value = getattr(d, key)
        if value:
            facts.append((key.replace("_at", "").replace("_", " "), f"{value} (UTC)"))
    if d.seconds is not None:
        facts.append(("seconds", f"{d.seconds:,}"))
    if d.pruned_at is not None:
        facts.append(("pruned", f"{d.pruned_at} (UTC): rows per recipient dropped"))
    replies, people = report.replies
    if replies:
        facts.append(("replies", f"{number(replies)} from {number(people)} "
                                 f"(mailer replies ls --campaign {d.id})"))
    return facts


#: The sections drawn from a campaign's rows per recipient, which ``campaigns prune`` drops.
PER_RECIPIENT = ("timeline", "domains", "deferrals", "languages")


def _pruned(report: CampaignReport, section: Section) -> Section:
    """A section drawn from rows per recipient says, once they are pruned, that they are gone
    rather than draw from what is left (the failures alone); any other section as it is."""
    if section.id not in PER_RECIPIENT or report.detail.pruned_at is None:
        return section
    return Section(section.id, section.title, empty=(
        f"Its rows per recipient were dropped on {report.detail.pruned_at[:10]} (mailer "
        "campaigns prune): its counts, failures and bounces are kept, this is not."))


def _nothing_yet(report: CampaignReport) -> str:
    if not report.empty:
        return ""
    d = report.detail
    if d.scheduled_at is not None and d.started_at is None:
        return (f"Nothing has been sent yet: the campaign is scheduled for {d.scheduled_at} "
                "(UTC), and its recipients are counted when it starts.")
    if d.recipients == 0:
        return "Nothing has been sent: the campaign has no recipients."
    return "Nothing has been sent yet: no recipient has been tried."


def _no_recipients(report: CampaignReport) -> str:
    if report.detail.started_at is None:
        return "Its recipients are counted when it starts."
    return "The campaign has no recipients."


def _timeline(report: CampaignReport) -> Section:
    unit = report.unit
    title = f"Messages taken by the relay per {unit} (UTC)"
    if not report.timeline:
        return Section("timeline", title, empty="No message has been taken by the relay yet.")
    labels = [key.replace("T", " ") + (":00" if unit == "hour" else "")
              for key, _ in report.timeline]
    values = [count for _, count in report.timeline]
    svg = charts.over_time("timeline", title, labels, values, unit=f"messages per {unit}")
    rows = [[label, count] for label, count in zip(labels, values, strict=True)]
    return Section("timeline", title, chart(svg),
                   table(f"Messages per {unit}", [f"{unit} (UTC)", "messages"], rows))


def _domains(report: CampaignReport) -> Section:
    title = "Outcomes by destination domain"
    rows = report.domains
    series = [
        Series("sent", [r.sent for r in rows], GREEN),
        Series("deferred", [r.deferred for r in rows], ORANGE),
        Series("failed", [r.failed for r in rows], VERMILION),
        Series("pending", [r.pending for r in rows], GREY),
    ]
    svg = charts.bars("domains", title, [r.domain for r in rows], series, unit="recipients")
    cells = [[r.domain, r.recipients, r.sent, r.deferred, r.failed, r.pending, r.hard,
              r.complaints] for r in rows]
    columns = ["domain", "recipients", "sent", "deferred", "failed", "pending",
               "hard bounces", "complaints"]
    return Section("domains", title, chart(svg), table("Recipients by domain", columns, cells),
                   notes=["Hard bounces and complaints are those proven, by the recipient's "
                          "domain; a message the relay took can still bounce later."])


def _reasons(report: CampaignReport) -> Section:
    title = "Bounce reasons"
    unverified = report.detail.unverified_reports
    notes = [f"Reports that named recipients of this campaign but proved nothing: "
             f"{number(unverified)}. They changed nobody and are not counted here."
             ] if unverified else []
    if not report.reasons:
        return Section("reasons", title, notes=notes,
                       empty="No proven bounce or delay report came back for this campaign.")
    labels = [f"{r.reason or 'unclassified'} ({r.kind})" for r in report.reasons]
    svg = charts.bars("reasons", title, labels,
                      [Series("reports", [r.count for r in report.reasons], PURPLE)],
                      unit="reports")
    rows = [[r.kind, r.reason or "unclassified", r.count] for r in report.reasons]
    return Section("reasons", title, chart(svg),
                   table("Proven reports by kind and reason", ["kind", "reason", "reports"],
                         rows), notes=notes)


def _deferrals(report: CampaignReport) -> Section:
    title = "Deferrals by domain and SMTP code"
    retried = report.sent_after_retries
    notes = [f"Recipients the relay took only at a later attempt: {number(retried)}."
             ] if retried else []
    if not report.deferrals:
        return Section("deferrals", title, notes=notes,
                       empty="No recipient is waiting for a retry or was given up on.")
    rows = report.deferrals
    labels = [f"{r.domain} · {r.code if r.code is not None else 'no answer'}" for r in rows]
    series = [Series("waiting for a retry", [r.waiting for r in rows], ORANGE),
              Series("given up (expired)", [r.expired for r in rows], VERMILION)]
    svg = charts.bars("deferrals", title, labels, series, unit="recipients")
    cells = [[r.domain, str(r.code) if r.code is not None else "no answer", r.waiting,
              r.expired] for r in rows]
    return Section("deferrals", title, chart(svg),
                   table("Recipients whose last answer was temporary",
                         ["domain", "last code", "waiting", "given up"], cells), notes=notes)


def _rates(report: CampaignReport) -> Section:
    title = "Hard bounces and complaints against the mailbox providers' lines"
    rates = report.rates
    if rates is None:
        return Section("rates", title, empty="The campaign has not started.")
    o, u = rates.outcome, rates.unsubscribes
    svg = charts.rates("rates", title, [f"campaign {o.id}"], [
        Panel("hard bounces", [rates.hard_bounces], SKY, HARD_BOUNCE_LINES),
        Panel("complaints", [rates.complaints], PURPLE, COMPLAINT_LINES),
    ])
    rows = [
        ["delivered", o.sent, f"{number(o.recipients)} recipients", percent(rates.delivered)],
        ["hard bounces", o.hard, f"{number(o.tried)} tried", percent(rates.hard_bounces)],
        ["complaints", o.complaints, f"{number(o.sent)} delivered", percent(rates.complaints)],
        ["unsubscribes", u.total, f"{number(o.sent)} delivered", percent(rates.unsubscribed)],
    ]
    notes = [LINES_NOTE, (
        f"Unsubscribes: {number(u.named)} by this letter's own link or mailbox, "
        f"{number(u.by_time)} by people whose leaving named no letter and whose last letter, "
        f"in the {UNSUBSCRIBE_WINDOW_DAYS} days before, was this one."
    )]
    return Section("rates", title, chart(svg),
                   table("Rates", ["measure", "people", "of", "rate"], rows), notes=notes)


#: The line a message's size is read against, in KB.
CLIPPED_LINE = Reference(SIZE_LIMIT / 1024, f"{SIZE_LIMIT // 1024} KB: Gmail clips a longer one")


def _sizes(report: CampaignReport) -> Section:
    title = "Size of one message"
    if not report.sizes:
        return Section("size", title, empty=report.sizes_note)
    labels = [s.language or "the original" for s in report.sizes]
    svg = charts.bars("size", title, labels,
                      [Series("one message", [s.size / 1024 for s in report.sizes], BLUE)],
                      unit="KB", lines=[CLIPPED_LINE])
    rows = [[label, s.size, f"{s.size / 1024:.1f} KB",
             "over 100 KB: Gmail clips it" if s.clipped else ""]
            for label, s in zip(labels, report.sizes, strict=True)]
    return Section("size", title, chart(svg), table=table(
        "One message of each edition, as sent", ["edition", "bytes", "size", ""], rows),
        notes=[f"Gmail shows a message of more than {SIZE_LIMIT // 1024} KB cut short."])


def _languages(report: CampaignReport) -> Section:
    title = "Recipients per language"
    shares = [s for s in report.languages if s.recipients]
    if not shares:
        return Section("languages", title, empty=_no_recipients(report))
    labels = [s.language or "the original" for s in shares]
    svg = charts.bars("languages", title, labels,
                      [Series("recipients", [s.recipients for s in shares], BLUE)],
                      unit="recipients")
    rows = [[label, s.recipients, sum(s.fallbacks.values())]
            for label, s in zip(labels, shares, strict=True)]
    return Section("languages", title, chart(svg), table(
        "Recipients by the edition they get", ["edition", "recipients",
                                               "reading another language"], rows))


def _lists(report: CampaignReport) -> Section:
    title = "Recipients per list"
    lists = report.detail.lists
    if not any(lists.values()):
        return Section("lists", title, empty=_no_recipients(report))
    svg = charts.bars("lists", title, list(lists),
                      [Series("recipients", list(lists.values()), GREEN)], unit="recipients")
    return Section("lists", title, chart(svg), table(
        "Recipients by the list they got it through", ["list", "recipients"],
        [[name, count] for name, count in lists.items()]))
