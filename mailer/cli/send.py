"""``mailer send``: a letter to a list, as a resumable campaign (or a dry run, or a test)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mailer import tokens
from mailer.cli.app import (
    App,
    cli,
    delivery_options,
    echo,
    json_option,
    mailer_command,
    pass_app,
    plural,
    print_json,
    resume_hint,
)
from mailer.cli.progress import counting, end_line, sending_progress
from mailer.contacts.addresses import normalize_address
from mailer.dispatch import run as runner
from mailer.dispatch import schedule
from mailer.dispatch.plan import (
    AlreadySent,
    LanguageShare,
    SendPlan,
    create_campaign,
    plan_send,
)
from mailer.dispatch.run import RunResult
from mailer.dispatch.schedule import SendTime
from mailer.dispatch.spares import Spares
from mailer.dispatch.transports.base import Transport
from mailer.doctor.findings import Status
from mailer.doctor.preflight import preflight
from mailer.errors import CampaignPaused, TransportError, UsageError
from mailer.letters.editions import Editions, load_editions
from mailer.store.lists import get_list
from mailer.store.models import Campaign, MailingList


def on_terminal() -> bool:
    """Whether a person can answer a question (stdin is a terminal)."""
    return sys.stdin.isatty()


@cli.command()
@click.argument("letter", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--list",
    "list_names",
    metavar="NAME",
    multiple=True,
    help="A list to send to (repeatable: each address gets the letter once).",
)
@click.option(
    "--segment",
    default="",
    metavar="EXPR",
    help="Only subscribers matching EXPR, e.g. 'country=PE and city~lima'.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--again", is_flag=True, help="Send a letter this list already received (with --yes)."
)
@click.option("--dry-run", is_flag=True, help="Render every message, send nothing.")
@click.option(
    "--test",
    "test_addresses",
    multiple=True,
    metavar="EMAIL",
    help="Send only to EMAIL (repeatable); no campaign is created.",
)
@click.option(
    "--at",
    metavar="TIME",
    help="Send at this local time ('2026-12-01 08:00') instead of now: the campaign waits.",
)
@click.option(
    "--tz",
    metavar="ZONE",
    help="The zone --at is in (e.g. Europe/Berlin; default: [sending] timezone, else the "
    "system's).",
)
@delivery_options
@json_option
@pass_app
def send(
    app: App,
    letter: Path,
    list_names: tuple[str, ...],
    segment: str,
    yes: bool,
    again: bool,
    dry_run: bool,
    test_addresses: tuple[str, ...],
    at: str | None,
    tz: str | None,
    concurrency: int | None,
    rate: float | None,
    workers: int | None,
    as_json: bool,
) -> None:
    """Send LETTER to a list as a campaign that can be resumed after any stop, or schedule
    it for a later time with --at."""
    if dry_run and test_addresses:
        # A dry run promises that nothing leaves; a test send sends. Say which one is meant.
        raise UsageError("--dry-run and --test cannot be used together: a dry run sends nothing")
    when = _send_time(app, at, tz, now_only=dry_run or bool(test_addresses),
                      tuned=concurrency is not None or rate is not None or workers is not None)
    editions = load_editions(letter)
    names = list_names or ((editions.original.list_name,) if editions.original.list_name else ())
    if not names:
        raise UsageError("which list? pass --list NAME (or set list: in the letter)")
    now = not (dry_run or test_addresses or when)
    spares = fork_spares(app, concurrency=concurrency, rate=rate, workers=workers) if now else None
    store = app.store()
    lists = [get_list(store, name) for name in names]
    named = editions.original.list_name
    if list_names and named and named not in list_names:
        echo(f"warning: the letter names list {named}, which is not among --list", err=True)
    if test_addresses:
        _send_tests(app, editions, lists, test_addresses, as_json)
        return
    plan = plan_send(store, editions, lists, segment)
    if dry_run:
        _dry_run(app, plan, as_json)
        return
    tokens.signer_for(app.config, missing="error")  # no key: say so before asking anything
    runner.make_transport(app.config)  # a bad relay setting stops us here, not later
    runner.check_first(app.config, store, plan)
    _warn_about_setup(app)
    campaign = _confirmed_campaign(app, plan, yes=yes, again=again, when=when)
    if when is not None:
        _show_scheduled(app, campaign, plan, as_json)
        return
    echo(f"campaign {campaign.id}: {campaign.recipients} recipients", err=as_json)
    _deliver(app, campaign.id, concurrency=concurrency, rate=rate, workers=workers,
             as_json=as_json, spares=spares)


def _warn_about_setup(app: App) -> None:
    """What the configuration alone shows mailbox providers will hold against the letter
    (``mailer doctor`` checks DNS too); said before asking, sent all the same."""
    for finding in preflight(app.config):
        if finding.status is not Status.PASS:
            echo(f"warning: {finding.check}: {finding.found}", err=True)
            echo(f"  fix: {finding.fix} (and see `mailer doctor`)", err=True)


def _send_time(
    app: App, at: str | None, tz: str | None, *, now_only: bool, tuned: bool
) -> SendTime | None:
    """The time ``--at`` (and ``--tz``) give, read before anything else; None to send now."""
    if at is None:
        if tz is not None:
            raise UsageError("--tz says which zone --at is in: pass --at TIME too")
        return None
    if now_only:
        raise UsageError("--at schedules a campaign; --dry-run and --test make none")
    if tuned:
        raise UsageError(
            "--concurrency, --rate and --workers apply to a send now; a scheduled campaign "
            "is sent with [smtp] connections, [sending] rate and [sending] workers"
        )
    return schedule.read_time(at, tz or "", app.config.sending.timezone)


def _show_scheduled(app: App, campaign: Campaign, plan: SendPlan, as_json: bool) -> None:
    """What a scheduled campaign waits for, and what will start it."""
    assert campaign.scheduled_at is not None
    if as_json:
        print_json({"campaign": campaign.id, "state": campaign.state,
                    "scheduled_at": campaign.scheduled_at,
                    "scheduled_zone": campaign.scheduled_zone,
                    "recipients_now": plan.recipients})
        return
    when = schedule.describe(campaign.scheduled_at, campaign.scheduled_zone)
    echo(f"campaign {campaign.id}: scheduled for {when}; {plural(plan.recipients, 'recipient')} "
         "now, counted again when it starts")
    echo(f"it starts at the first `{mailer_command(app)} campaigns run` (cron) or "
         f"`{mailer_command(app)} worker` after that time")


def _confirmed_campaign(
    app: App, plan: SendPlan, *, yes: bool, again: bool, when: SendTime | None = None
) -> Campaign:
    """Ask (on a terminal) or take ``--yes``, then make the campaign (scheduled, with ``when``).

    A repeat is never confirmed by ``--yes`` alone: it needs ``--again``, or
    an answer to its own question on a terminal.
    """
    lists = "lists" if len(plan.lists) > 1 else "list"
    question = f"Send {plan.letter.subject!r} to {lists} {plan.list_names} ("
    if when is not None:
        question = (
            f"Schedule {plan.letter.subject!r} to {lists} {plan.list_names} for "
            f"{schedule.describe(when.at, when.zone)} (counted again when it starts: now "
        )
        if when.note:
            echo(f"note: {when.note}", err=True)
    question += f"{plan.recipients} recipients"
    question += f", segment {plan.segment!r})?" if plan.segment else ")?"
    show_languages(plan.languages, err=True)
    if plan.earlier is not None:
        warning = f"warning: {AlreadySent(plan.earlier_list, plan.earlier)}"
        if again:
            echo(f"{warning}; sending again because of --again", err=True)
        elif on_terminal():
            echo(warning, err=True)
            click.confirm("Send it AGAIN? " + question, abort=True)
            again = yes = True
        else:
            raise UsageError(f"{warning}. Pass --again (with --yes) to send it once more")
    if not yes:
        if not on_terminal():
            raise UsageError("not on a terminal: pass --yes to confirm sending")
        click.confirm(question, abort=True)
    return create_campaign(app.store(), plan, again=again, when=when)


def deliver(
    app: App,
    campaign_id: int,
    *,
    concurrency: int | None,
    rate: float | None,
    workers: int | None = None,
    transport: Transport | None = None,
    start_now: bool = False,
    force: bool = False,
    spares: Spares | None = None,
) -> RunResult:
    """Deliver what is due of a campaign, with a progress line on a terminal; its workers
    are ``spares`` forked ahead, else forked now if the database is still closed."""
    if spares is None and transport is None:
        spares = fork_spares(app, concurrency=concurrency, rate=rate, workers=workers)
    shown = sending_progress()
    try:
        return runner.deliver(
            app.config,
            app.store(),
            campaign_id,
            concurrency=concurrency,
            rate=rate,
            workers=workers,
            transport=transport,
            on_progress=shown,
            start_now=start_now,
            force=force,
            spares=spares,
        )
    finally:
        end_line(shown)


def fork_spares(
    app: App, *, concurrency: int | None, rate: float | None, workers: int | None
) -> Spares:
    """The campaign's worker processes, forked before the database is opened
    (``dispatch.spares``) so that they start at once; those not needed are dismissed when
    the command ends. None once the database is open (an empty ``Spares``)."""
    if app.store_is_open:
        return Spares()
    spares = runner.fork_spares(app.config, concurrency=concurrency, rate=rate, workers=workers)
    click.get_current_context().call_on_close(spares.dismiss)
    return spares


def _deliver(
    app: App,
    campaign_id: int,
    *,
    concurrency: int | None,
    rate: float | None,
    workers: int | None,
    as_json: bool,
    spares: Spares | None,
) -> None:
    result = deliver(app, campaign_id, concurrency=concurrency, rate=rate, workers=workers,
                     spares=spares)
    if as_json:
        print_json(result)
        stop_if_paused(result)
        return
    echo(
        f"campaign {result.campaign}: sent {result.sent}, deferred {result.deferred}, "
        f"failed {result.failed} in {result.seconds}s ({result.state})"
    )
    stop_if_paused(result)
    if result.deferred:
        echo(
            f"deferred recipients are retried by `{mailer_command(app)} campaigns run` "
            f"or `{resume_hint(app, result.campaign)}`"
        )


def stop_if_paused(result: RunResult) -> None:
    """After the result is printed: a campaign a guard paused is a failed run, saying why."""
    if result.paused:
        raise CampaignPaused(
            f"campaign {result.campaign} paused: {result.paused}",
            campaign_id=result.campaign,
            left=result.pending + result.deferred,
        )


def _dry_run(app: App, plan: SendPlan, as_json: bool) -> None:
    with counting("rendering", plan.recipients, quiet=as_json) as tick:
        rehearsal = runner.dry_run(app.config, app.store(), plan, progress=tick)
    if as_json:
        print_json(rehearsal)
        return
    lists = "lists" if len(plan.lists) > 1 else "list"
    echo(
        f"dry run: {plural(rehearsal.recipients, 'message')} to {lists} {plan.list_names} "
        f"would be sent ({rehearsal.bytes:,} bytes, rendered in {rehearsal.seconds}s); "
        "nothing was sent"
    )
    show_languages(rehearsal.languages)
    for example in rehearsal.examples:
        echo(f"  {example}")
    more = rehearsal.recipients - len(rehearsal.examples)
    if more > 0:
        echo(f"  ... and {more:,} more")


def show_languages(shares: tuple[LanguageShare, ...], *, err: bool = False) -> None:
    """Who gets which edition, and who of them reads another language (a fallback)."""
    if len(shares) == 1 and not shares[0].fallbacks:
        return
    for share in shares:
        line = f"  {share.language or 'original'}: {plural(share.recipients, 'recipient')}"
        if share.fallbacks:
            readers = ", ".join(
                f"{count} reading {reader or 'an unknown language'}"
                for reader, count in sorted(share.fallbacks.items())
            )
            line += f" (in place of their own: {readers})"
        echo(line, err=err)


def _send_tests(
    app: App,
    editions: Editions,
    lists: list[MailingList],
    addresses: tuple[str, ...],
    as_json: bool,
) -> None:
    """Send to the given addresses only, and fail when any of them was refused."""
    allow = app.config.import_.allow_special_use_domains
    emails = [normalize_address(a, allow_special_use=allow).email for a in addresses]
    results = runner.send_test(app.config, app.store(), editions, lists, emails)
    if as_json:
        print_json({"test": results})
    else:
        for result in results:
            verdict = "sent" if result.accepted else "NOT sent"
            echo(f"{verdict} to {result.email}: {result.code} {result.text}")
    refused = [result.email for result in results if not result.accepted]
    if refused:
        raise TransportError(f"test message refused for {', '.join(refused)}")
