"""``mailer campaigns``: list, inspect, resume, cancel, retry and prune campaigns."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from mailer.cli.app import (
    App,
    cli,
    delivery_options,
    echo,
    json_option,
    page_option,
    pass_app,
    plural,
    print_json,
    print_table,
    resume_hint,
    shorten,
    shown,
    write_page,
)
from mailer.cli.progress import working
from mailer.cli.send import deliver, fork_spares, stop_if_paused
from mailer.dispatch import prune as pruning
from mailer.dispatch import run as runner
from mailer.dispatch import schedule, status
from mailer.dispatch.journal import CampaignBusy
from mailer.dispatch.run import RunResult
from mailer.dispatch.schedule import Started
from mailer.errors import CampaignStopped, Interrupted, MailerError, TransportError
from mailer.reports.campaign import campaign_report
from mailer.reports.campaign_page import campaign_page

#: Characters of a subject ``campaigns ls`` shows (``show`` and ``--json`` give it whole).
SUBJECT_WIDTH = 40
COLUMNS = [
    "id", "kind", "state", "list", "subject", "recipients", "sent", "deferred", "failed", "pending"
]


@cli.group()
def campaigns() -> None:
    """List, show, resume, reschedule, cancel, retry and prune campaigns."""


@campaigns.command("ls")
@json_option
@pass_app
def ls(app: App, as_json: bool) -> None:
    """Show every campaign, newest first, with its counters (and its time, if scheduled)."""
    rows = status.all_campaigns(app.store())
    if as_json:
        print_json(rows)
        return
    columns = COLUMNS
    if any(row.scheduled_at for row in rows):
        columns = [*COLUMNS, "scheduled"]
    table = [
        {**dataclasses.asdict(row), "scheduled": schedule.local_time(row.scheduled_at,
                                                                     row.scheduled_zone)
         if row.scheduled_at else ""}
        for row in rows
    ]
    print_table(table, columns, subject=lambda subject: shorten(subject, SUBJECT_WIDTH))


@campaigns.command("show")
@click.argument("campaign_id", metavar="ID", type=int)
@json_option
@pass_app
def show(app: App, campaign_id: int, as_json: bool) -> None:
    """Counters, timing and the failures (with SMTP code and text) of campaign ID."""
    data = status.detail(app.store(), campaign_id)
    if as_json:
        print_json(data)
        return
    for key in ("id", "kind", "subject", "list", "segment", "letter", "state", "recipients",
                "sent", "deferred", "failed", "pending"):
        echo(f"{key}: {getattr(data, key)}")
    if data.paused:
        echo(f"paused: {data.paused}")
    if data.scheduled_at is not None:
        echo(f"scheduled_for: {schedule.describe(data.scheduled_at, data.scheduled_zone)}")
    if data.recipients_now is not None:
        echo(f"recipients_now: {data.recipients_now} (counted again when it starts)")
    for key in ("created_at", "started_at", "finished_at", "seconds", "next_retry_at"):
        if getattr(data, key) is not None:
            echo(f"{key}: {getattr(data, key)}")
    if data.pruned_at is not None:
        echo(f"pruned_at: {data.pruned_at} (the rows per recipient were dropped; "
             "the counts, failures and bounces are kept)")
    if len(data.lists) > 1:
        echo("per list: " + ", ".join(f"{name} {n}" for name, n in data.lists.items()))
    counts = ", ".join(f"{kind} {n}" for kind, n in data.bounces.items())
    echo(f"bounces: {counts}")
    if data.unverified_reports:
        echo(
            f"unverified reports: {data.unverified_reports} (naming recipients of this "
            "campaign but proving nothing; they changed nobody)"
        )
    if data.failures:
        echo("failures:")
        print_table(data.failures, ["email", "code", "text", "attempts"])
    if data.deferrals:
        echo("deferred:")
        print_table(data.deferrals, ["email", "code", "text", "attempts", "next_attempt_at"])


@campaigns.command("report")
@click.argument("campaign_id", metavar="ID", type=int)
@page_option("campaign-ID-report.html")
@pass_app
def report(app: App, campaign_id: int, output: Path | None) -> None:
    """Write campaign ID's report: one HTML file with charts and tables of its deliveries
    over time, outcomes by domain, bounce reasons, deferrals, rates and its letter."""
    target = app.page_output(output, f"campaign-{campaign_id}-report.html")
    page = campaign_page(app.config, campaign_report(app.config, app.store(), campaign_id))
    write_page(target, page)


@campaigns.command("recipients")
@click.argument("campaign_id", metavar="ID", type=int)
@click.option(
    "--status", "wanted", type=click.Choice(status.RECIPIENT_STATUSES),
    help="Only the recipients in this status (bounced: a proven bounce names them).",
)
@json_option
@pass_app
def recipients(app: App, campaign_id: int, wanted: str | None, as_json: bool) -> None:
    """Who got what of campaign ID: address, status, when, and the SMTP reply or bounce
    reason, one line each (tab-separated), written as they are read."""
    rows = status.recipients(app.store(), campaign_id, wanted)
    if as_json:
        # One array, written row by row: nothing of a million-row campaign is kept.
        click.echo("[", nl=False)
        for number, row in enumerate(rows):
            text = json.dumps(dataclasses.asdict(row), ensure_ascii=False)
            click.echo(("," if number else "") + "\n  " + text, nl=False)
        click.echo("\n]")
        return
    echo("email\tstatus\tat\tcode\treply")
    for row in rows:
        cells = (row.email, row.status, row.at or "", row.code or "", row.reply)
        echo("\t".join(shown(cell) for cell in cells))


def _print_result(result: RunResult, as_json: bool) -> None:
    if as_json:
        print_json(result)
    else:
        echo(
            f"campaign {result.campaign}: sent {result.sent}, deferred {result.deferred}, "
            f"failed {result.failed}, pending {result.pending} ({result.state})"
        )
    stop_if_paused(result)


@campaigns.command("resume")
@click.argument("campaign_id", metavar="ID", type=int)
@click.option(
    "--now", "start_now", is_flag=True,
    help="Start a scheduled campaign now instead of at its time.",
)
@click.option(
    "--force", is_flag=True,
    help="Go on past the bounce or complaint rate (or the repeated refusal) that paused it.",
)
@delivery_options
@json_option
@pass_app
def resume(
    app: App,
    campaign_id: int,
    start_now: bool,
    force: bool,
    concurrency: int | None,
    rate: float | None,
    workers: int | None,
    as_json: bool,
) -> None:
    """Deliver everything pending and every deferred recipient that is due (a scheduled
    campaign: once its time has come, or now with --now)."""
    result = deliver(
        app, campaign_id, concurrency=concurrency, rate=rate, workers=workers,
        start_now=start_now, force=force,
    )
    _print_result(result, as_json)


@campaigns.command("reschedule")
@click.argument("campaign_id", metavar="ID", type=int)
@click.option(
    "--at", required=True, metavar="TIME", help="The new local time ('2026-12-01 08:00')."
)
@click.option(
    "--tz", default="", metavar="ZONE",
    help="The zone --at is in (default: the zone the campaign was scheduled in).",
)
@json_option
@pass_app
def reschedule(app: App, campaign_id: int, at: str, tz: str, as_json: bool) -> None:
    """Give scheduled campaign ID another time (only until it starts)."""
    when = schedule.reschedule(app.store(), campaign_id, at, tz)
    if as_json:
        print_json({"campaign": campaign_id, "scheduled_at": when.at, "scheduled_zone": when.zone})
        return
    if when.note:
        echo(f"note: {when.note}", err=True)
    echo(f"campaign {campaign_id}: scheduled for {schedule.describe(when.at, when.zone)}")


@campaigns.command("cancel")
@click.argument("campaign_id", metavar="ID", type=int)
@pass_app
def cancel(app: App, campaign_id: int) -> None:
    """Stop campaign ID for good (or before it starts): nobody still pending or deferred
    will get it."""
    summary = status.cancel(app.store(), campaign_id)
    if summary.scheduled_at is not None and summary.recipients == 0:
        when = schedule.describe(summary.scheduled_at, summary.scheduled_zone)
        echo(f"cancelled campaign {campaign_id}, scheduled for {when}: nobody will get it")
        return
    echo(
        f"cancelled campaign {campaign_id}: {summary.sent} sent, "
        f"{summary.pending + summary.deferred} will not be sent"
    )


@campaigns.command("retry")
@click.argument("campaign_id", metavar="ID", type=int)
@pass_app
def retry(app: App, campaign_id: int) -> None:
    """Put recipients that failed temporarily (expired) back to pending."""
    count = status.retry(app.store(), campaign_id)
    echo(
        f"{count} recipients of campaign {campaign_id} put back; "
        f"send them with `{resume_hint(app, campaign_id)}`"
    )


class RunReport:
    """What ``campaigns run`` and ``worker`` say of each campaign they start or deliver.

    One line each (or, with ``as_json``, one entry each, printed at the end);
    ``err`` sends every line to standard error, as a service's log.
    """

    def __init__(self, app: App, *, as_json: bool = False, err: bool = False) -> None:
        self.app = app
        self.as_json = as_json
        self.err = err
        self.outcomes: list[dict[str, object]] = []

    def started(self, started: Started) -> None:
        """A scheduled campaign whose time came: snapshotted, now sending (or done: nobody)."""
        self.outcomes.append({"started": True, **dataclasses.asdict(started)})
        when = schedule.local_time(started.scheduled_at, started.scheduled_zone)
        reach = (f"{started.recipients} recipients" if started.recipients
                 else "nobody to send to; done")
        self._line(f"campaign {started.campaign}: started, {reach} (scheduled for {when})")

    def result(self, result: RunResult | MailerError, campaign_id: int) -> None:
        """A delivery run's counts, or why the campaign could not be started or delivered."""
        if isinstance(result, CampaignBusy):
            # A live sender has it (a long `mailer send`, an earlier cron run): not a failure.
            self.outcomes.append({"campaign": campaign_id, "busy": True})
            self._line(f"campaign {campaign_id}: {result}")
            return
        if isinstance(result, Interrupted):
            # Only the worker reports these: stopped by a signal, the campaign still sending.
            self.outcomes.append({"campaign": campaign_id, "stopped": result.left})
            self._line(f"campaign {campaign_id}: stopped with {result.left} recipients left "
                       "(the journal is saved); the next run carries on with it")
            return
        if isinstance(result, MailerError):
            text = str(result)
            if isinstance(result, CampaignStopped):
                text += f": resume with `{resume_hint(self.app, campaign_id)}`"
            self.outcomes.append({"campaign": campaign_id, "error": text})
            self._line(f"campaign {campaign_id}: {text}", err=True)
            return
        self.outcomes.append(dataclasses.asdict(result))
        self._line(
            f"campaign {result.campaign}: sent {result.sent}, deferred {result.deferred}, "
            f"failed {result.failed}, pending {result.pending} ({result.state})"
        )
        if result.paused:
            self._line(f"campaign {result.campaign} paused: {result.paused}: after a fix, "
                       f"`{resume_hint(self.app, campaign_id)}`", err=True)

    @property
    def failed(self) -> list[str]:
        """The campaigns that could not be started or delivered this time, or were paused."""
        return [str(o["campaign"]) for o in self.outcomes if "error" in o or o.get("paused")]

    def _line(self, text: str, *, err: bool = False) -> None:
        if not self.as_json:
            echo(text, err=err or self.err)


@campaigns.command("run")
@json_option
@pass_app
def run(app: App, as_json: bool) -> None:
    """Start every scheduled campaign whose time has come and resume every campaign with
    work due now (for a cron job every few minutes).

    The lists' digests due are made first and go out in the same run.
    """
    # Forked before the database is opened, in case a campaign is due (about ten
    # milliseconds, dismissed at the end when none is).
    spares = fork_spares(app, concurrency=None, rate=None, workers=None)
    report = RunReport(app, as_json=as_json)
    runner.run_due(app.config, app.store(), on_result=report.result, on_start=report.started,
                   spares=spares)
    if as_json:
        print_json(report.outcomes)
    elif not report.outcomes:
        echo("no campaign has work due")
    if report.failed:
        # A cron job should hear about it; the next run tries these again.
        raise TransportError(f"campaigns not resumed this time: {', '.join(report.failed)}")


@campaigns.command("prune")
@click.argument("campaign_ids", metavar="[ID]...", nargs=-1, type=int)
@click.option(
    "--older-than", required=True, metavar="AGE",
    help="Only campaigns that ended longer ago than AGE (90d, 12w; at least "
    "[bounces] match_days).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be dropped; change nothing.")
@json_option
@pass_app
def prune(
    app: App, campaign_ids: tuple[int, ...], older_than: str, dry_run: bool, as_json: bool
) -> None:
    """Drop the rows per recipient of campaigns that ended long ago (of the IDs given, or
    all), keeping their counts, failures and bounces."""
    store = app.store()
    with working(store, "pruning", quiet=as_json):
        report = pruning.prune(
            store,
            older_than=pruning.parse_age(older_than),
            match_days=app.config.bounces.match_days,
            ids=campaign_ids,
            dry_run=dry_run,
        )
    if as_json:
        print_json({**dataclasses.asdict(report), "rows": report.rows})
        return
    verb = "would drop" if dry_run else "dropped"
    for kept in report.kept:
        echo(f"campaign {kept.id} {kept.reason}: kept whole")
    for campaign in report.pruned:
        echo(f"campaign {campaign.id} ({campaign.state} {campaign.finished_at[:10]}, "
             f"{shorten(campaign.subject, SUBJECT_WIDTH)}): {verb} {plural(campaign.rows, 'row')}"
             f", kept its counts and {plural(campaign.failures_kept, 'failure')}")
    if not report.pruned:
        echo(f"no campaign that ended before {report.before[:10]} has rows to drop")
    else:
        echo(f"{verb} {plural(report.rows, 'delivery row')} of "
             f"{plural(len(report.pruned), 'campaign')}")

