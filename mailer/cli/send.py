"""``mailer send``: a letter to a list, as a resumable campaign (or a dry run, or a test)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mailer.cli.app import (
    App,
    cli,
    delivery_options,
    echo,
    json_option,
    pass_app,
    plural,
    print_json,
)
from mailer.cli.progress import counting, end_line, sending_progress
from mailer.contacts.addresses import normalize_address
from mailer.dispatch import run as runner
from mailer.dispatch.plan import (
    check_segment,
    count_recipients,
    create_campaign,
    earlier_campaigns,
    letter_hash,
)
from mailer.errors import TransportError, UsageError
from mailer.letters.source import Letter, load_letter
from mailer.store.lists import get_list
from mailer.store.models import MailingList


def on_terminal() -> bool:
    """Whether a person can answer a question (stdin is a terminal)."""
    return sys.stdin.isatty()


def command_prefix(app: App) -> str:
    """How to call mailer again on the same database (for resume hints)."""
    return f"mailer --db {app.db_path}" if app.db_path else "mailer"


@cli.command()
@click.argument("letter", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--list", "list_name", metavar="NAME", help="The list to send to.")
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
@delivery_options
@json_option
@pass_app
def send(
    app: App,
    letter: Path,
    list_name: str | None,
    segment: str,
    yes: bool,
    again: bool,
    dry_run: bool,
    test_addresses: tuple[str, ...],
    concurrency: int | None,
    rate: float | None,
    as_json: bool,
) -> None:
    """Send LETTER to a list as a campaign that can be resumed after any stop."""
    if dry_run and test_addresses:
        # A dry run promises that nothing leaves; a test send sends. Say which one is meant.
        raise UsageError("--dry-run and --test cannot be used together: a dry run sends nothing")
    loaded = load_letter(letter)
    name = list_name or loaded.list_name
    if not name:
        raise UsageError("which list? pass --list NAME (or set list: in the letter)")
    store = app.store()
    config = app.config
    mailing_list = get_list(store, name)
    if test_addresses:
        _send_tests(app, loaded, mailing_list, test_addresses, as_json)
        return
    check_segment(store, mailing_list, segment)
    if dry_run:
        total = count_recipients(store, mailing_list.id, segment)
        with counting("rendering", total) as tick:
            rehearsal = runner.dry_run(config, store, loaded, mailing_list, segment, progress=tick)
        if as_json:
            print_json(rehearsal.as_dict())
        else:
            echo(
                f"dry run: {plural(rehearsal.recipients, 'message')} to list {name} would be "
                f"sent ({rehearsal.bytes:,} bytes, rendered in {rehearsal.seconds}s); "
                "nothing was sent"
            )
            for example in rehearsal.examples:
                echo(f"  {example}")
            more = rehearsal.recipients - len(rehearsal.examples)
            if more > 0:
                echo(f"  ... and {more:,} more")
        return
    runner.signer_for(config)
    transport = runner.make_transport(config)  # a bad relay setting stops us here, not later
    runner.check_letter(config, store, loaded, mailing_list, segment)
    count = count_recipients(store, mailing_list.id, segment)
    earlier = earlier_campaigns(store, mailing_list.id, letter_hash(loaded.source))
    warning = ""
    if earlier:
        last = earlier[-1]
        warning = (
            f"warning: this letter was already sent to list {name} "
            f"(campaign {last.id}, {last.created_at}, {last.state})"
        )
    question = f"Send {loaded.subject!r} to list {name} ({count} recipients"
    question += f", segment {segment!r})?" if segment else ")?"
    if warning:
        # A repeat is never confirmed by --yes alone: a script that always passes
        # --yes must not mail the same letter twice by accident.
        if again:
            echo(f"{warning}; sending again because of --again", err=True)
        elif on_terminal():
            echo(warning, err=True)
            click.confirm("Send it AGAIN? " + question, abort=True)
            yes = True
        else:
            raise UsageError(f"{warning}. Pass --again (with --yes) to send it once more")
    if not yes:
        if not on_terminal():
            raise UsageError("not on a terminal: pass --yes to confirm sending")
        click.confirm(question, abort=True)
    campaign = create_campaign(
        store,
        mailing_list=mailing_list,
        subject=loaded.subject,
        letter_path=str(loaded.path),
        letter_source=loaded.source,
        segment=segment,
    )
    echo(f"campaign {campaign.id}: {campaign.recipients} recipients", err=as_json)
    shown = sending_progress()
    try:
        result = runner.deliver(
            config,
            store,
            campaign.id,
            concurrency=concurrency,
            rate=rate,
            transport=transport,
            on_progress=shown,
            command=command_prefix(app),
        )
    finally:
        end_line(shown)
    if as_json:
        print_json(result.as_dict())
    else:
        echo(
            f"campaign {result.campaign}: sent {result.sent}, deferred {result.deferred}, "
            f"failed {result.failed} in {result.seconds}s ({result.state})"
        )
        if result.deferred:
            prefix = command_prefix(app)
            echo(
                f"deferred recipients are retried by `{prefix} campaigns run` "
                f"or `{prefix} campaigns resume {result.campaign}`"
            )


def _send_tests(
    app: App,
    loaded: Letter,
    mailing_list: MailingList,
    addresses: tuple[str, ...],
    as_json: bool,
) -> None:
    """Send to the given addresses only, and fail when any of them was refused."""
    allow = app.config.import_.allow_special_use_domains
    emails = [normalize_address(a, allow_special_use=allow).email for a in addresses]
    results = runner.send_test(app.config, app.store(), loaded, mailing_list, emails)
    if as_json:
        print_json({"test": [{"email": e, "code": r.code, "text": r.text} for e, r in results]})
    else:
        for email, reply in results:
            verdict = "sent" if reply.accepted else "NOT sent"
            echo(f"{verdict} to {email}: {reply.code} {reply.text}")
    refused = [e for e, r in results if not r.accepted]
    if refused:
        raise TransportError(f"test message refused for {', '.join(refused)}")
