"""``mailer campaigns``: list, inspect, resume, cancel and retry campaigns."""

from __future__ import annotations

import dataclasses

import click

from mailer.cli.app import (
    App,
    cli,
    delivery_options,
    echo,
    json_option,
    pass_app,
    print_json,
    print_table,
    resume_hint,
    shorten,
)
from mailer.cli.send import deliver
from mailer.dispatch import run as runner
from mailer.dispatch import status
from mailer.dispatch.journal import CampaignBusy
from mailer.dispatch.run import RunResult
from mailer.errors import CampaignStopped, MailerError, TransportError

#: Characters of a subject ``campaigns ls`` shows (``show`` and ``--json`` give it whole).
SUBJECT_WIDTH = 40
COLUMNS = [
    "id", "kind", "state", "list", "subject", "recipients", "sent", "deferred", "failed", "pending"
]


@cli.group()
def campaigns() -> None:
    """List, show, resume, cancel and retry campaigns."""


@campaigns.command("ls")
@json_option
@pass_app
def ls(app: App, as_json: bool) -> None:
    """Show every campaign, newest first, with its counters."""
    rows = status.all_campaigns(app.store())
    if as_json:
        print_json(rows)
        return
    print_table(rows, COLUMNS, subject=lambda subject: shorten(subject, SUBJECT_WIDTH))


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
    for key in ("created_at", "started_at", "finished_at", "seconds", "next_retry_at"):
        if getattr(data, key) is not None:
            echo(f"{key}: {getattr(data, key)}")
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


def _print_result(result: RunResult, as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    echo(
        f"campaign {result.campaign}: sent {result.sent}, deferred {result.deferred}, "
        f"failed {result.failed}, pending {result.pending} ({result.state})"
    )


@campaigns.command("resume")
@click.argument("campaign_id", metavar="ID", type=int)
@delivery_options
@json_option
@pass_app
def resume(
    app: App, campaign_id: int, concurrency: int | None, rate: float | None, as_json: bool
) -> None:
    """Deliver everything pending and every deferred recipient that is due."""
    _print_result(deliver(app, campaign_id, concurrency=concurrency, rate=rate), as_json)


@campaigns.command("cancel")
@click.argument("campaign_id", metavar="ID", type=int)
@pass_app
def cancel(app: App, campaign_id: int) -> None:
    """Stop campaign ID for good: nobody still pending or deferred will get it."""
    summary = status.cancel(app.store(), campaign_id)
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


@campaigns.command("run")
@json_option
@pass_app
def run(app: App, as_json: bool) -> None:
    """Resume every campaign with work due now (for a cron job every few minutes)."""
    outcomes: list[dict[str, object]] = []

    def report(result: RunResult | MailerError, campaign_id: int) -> None:
        if isinstance(result, CampaignBusy):
            # A live sender has it (a long `mailer send`, an earlier cron run): not a failure.
            outcomes.append({"campaign": campaign_id, "busy": True})
            if not as_json:
                echo(f"campaign {campaign_id}: {result}")
            return
        if isinstance(result, MailerError):
            text = str(result)
            if isinstance(result, CampaignStopped):
                text += f": resume with `{resume_hint(app, campaign_id)}`"
            outcomes.append({"campaign": campaign_id, "error": text})
            if not as_json:
                echo(f"campaign {campaign_id}: {text}", err=True)
            return
        outcomes.append(dataclasses.asdict(result))
        if not as_json:
            _print_result(result, False)

    runner.run_due(app.config, app.store(), on_result=report)
    if as_json:
        print_json(outcomes)
    elif not outcomes:
        echo("no campaign has work due")
    failed = [str(o["campaign"]) for o in outcomes if "error" in o]
    if failed:
        # A cron job should hear about it; the next run tries these again.
        raise TransportError(f"campaigns not resumed this time: {', '.join(failed)}")
