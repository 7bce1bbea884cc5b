"""The lists' report as a page: a chart and a table per list, then the campaigns' rates."""

from __future__ import annotations

from mailer.config import Config
from mailer.reports import charts
from mailer.reports.charts import BLACK, BLUE, PURPLE, SKY, VERMILION, Panel, Series
from mailer.reports.growth import ListReport, ListWeeks
from mailer.reports.page import Section, chart, number, render, table
from mailer.reports.rates import (
    COMPLAINT_LINES,
    HARD_BOUNCE_LINES,
    LINES_NOTE,
    UNSUBSCRIBE_WINDOW_DAYS,
    percent,
)

UNSUBSCRIBES_NOTE = (
    "Unsubscribes are put down to a campaign when the person left by its letter's own "
    "one-click link, page or mailbox (the event names it); a leaving that names no letter "
    "is put down to the last letter the relay took for them in the "
    f"{UNSUBSCRIBE_WINDOW_DAYS} days before, and to none if there was none. People removed "
    "by an admin, and those who complained, are not unsubscribes."
)


def list_page(config: Config, report: ListReport) -> str:
    """The whole HTML page of the lists' report."""
    weeks = report.weeks
    facts = [("weeks", f"{weeks[0]} to {weeks[-1]} ({len(weeks)})"),
             ("lists", number(len(report.lists))), ("campaigns", number(len(report.campaigns)))]
    sections = [_list(position, each, weeks) for position, each in enumerate(report.lists)]
    sections.append(_campaigns(report))
    return render(config, "lists.html.j2", report=report, facts=facts, sections=sections,
                  generated_at=report.generated_at)


def _list(position: int, weekly: ListWeeks, weeks: list[str]) -> Section:
    title = f"{weekly.name}: joins and losses per week ({number(weekly.members)} members now)"
    ident = f"list-{position + 1}"
    if weekly.quiet:
        return Section(ident, title, empty="Nobody joined or left in these weeks.")
    svg = charts.ups_and_downs(
        ident, title, weeks, Series("joined", weekly.joined, BLUE),
        [Series("left", weekly.left, SKY), Series("bounced", weekly.bounced, VERMILION),
         Series("complained", weekly.complained, BLACK)],
    )
    rows = [list(row) for row in zip(weeks, weekly.joined, weekly.left, weekly.bounced,
                                     weekly.complained, weekly.net, strict=True)]
    return Section(ident, title, chart(svg), table(
        f"{weekly.name} per week", ["week of", "joined", "left", "bounced", "complained", "net"],
        rows))


def _campaigns(report: ListReport) -> Section:
    title = "Rates per campaign"
    found = report.campaigns
    if not found:
        return Section("campaigns", title, empty="No campaign started in these weeks.")
    labels = [f"{rates.outcome.id}: {rates.outcome.subject}" for rates in found]
    svg = charts.rates("campaigns", title, labels, [
        Panel("hard bounces", [r.hard_bounces for r in found], SKY, HARD_BOUNCE_LINES),
        Panel("complaints", [r.complaints for r in found], PURPLE, COMPLAINT_LINES),
        Panel("unsubscribes", [r.unsubscribed for r in found], BLUE),
    ])
    rows = [
        [label, r.outcome.started_at[:10], r.outcome.recipients, percent(r.delivered),
         percent(r.hard_bounces), percent(r.complaints), percent(r.unsubscribed)]
        for label, r in zip(labels, found, strict=True)
    ]
    columns = ["campaign", "started", "recipients", "delivered", "hard bounces", "complaints",
               "unsubscribes"]
    return Section("campaigns", title, chart(svg), table("Rates per campaign", columns, rows),
                   notes=[LINES_NOTE, UNSUBSCRIBES_NOTE])
