"""``mailer report``: the lists' growth and churn, and each campaign's rates, as a page."""

from __future__ import annotations

from pathlib import Path

import click

from mailer.cli.app import App, cli, page_option, pass_app, write_page
from mailer.reports.growth import WEEKS, list_report
from mailer.reports.growth_page import list_page


@cli.command("report")
@click.option(
    "--weeks", type=click.IntRange(1, 520), default=WEEKS, show_default=True,
    help="How many weeks back the report goes (this week included).",
)
@click.option(
    "--list", "names", multiple=True, metavar="NAME",
    help="Only this list and the campaigns that went to it (repeat for several; "
    "default: every list).",
)
@page_option("list-report.html")
@pass_app
def report(app: App, weeks: int, names: tuple[str, ...], output: Path | None) -> None:
    """Write the lists' report: one HTML file with each list's joins, leaves, bounces and
    complaints per week, and the rates of the campaigns started in those weeks."""
    target = app.page_output(output, "list-report.html")
    write_page(target, list_page(app.config, list_report(app.store(), weeks, names)))
