"""``mailer inbound``: take in mail that arrives (the MTA pipe, a Maildir, IMAP), and its log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mailer.bounces.sources import ImapSource, read_file, read_maildir, read_mbox, read_stdin
from mailer.cli.app import App, cli, echo, json_option, pass_app, print_json, print_table
from mailer.cli.incoming import envelope_recipient, one_source, piped, source_options
from mailer.inbound.intake import IntakeReport, read_limit, take_in
from mailer.inbound.routes import RouteKind
from mailer.store.inbound import recent
from mailer.store.models import Outcome


class InboundGroup(click.Group):
    """A group whose default command is ``receive``: ``mailer inbound -`` takes a message.

    An MTA's pipe is written once in its configuration; the shortest command
    is the one least likely to be mistyped there.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] != "--help":
            args = ["receive", *args]
        return super().parse_args(ctx, args)


@cli.group(cls=InboundGroup)
def inbound() -> None:
    """Take in mail that arrives: replies, posts to lists, bounces.

    `mailer inbound -` (or `--maildir DIR`, `--mbox FILE`, `--imap`) is short
    for `mailer inbound receive ...`.
    """


@inbound.command("receive")
@source_options
@click.option("--to", "to", metavar="ADDRESS",
              help="Route every message as if it came to ADDRESS (else the MTA's "
                   "ORIGINAL_RECIPIENT, X-Original-To or Delivered-To).")
@json_option
@pass_app
def receive(
    app: App,
    file: str | None,
    maildir: Path | None,
    mbox: Path | None,
    use_imap: bool,
    to: str | None,
    as_json: bool,
) -> None:
    """Route each message by the address it came to, and store or drop it.

    FILE is one message; - reads one message from standard input (for an MTA
    pipe). Replies to a circular are stored under their campaign (and
    forwarded to [replies] forward_to), posts to a list's address are held,
    bounces and requests to leave go to the bounce code, and the rest
    (unknown addresses, loops, auto-replies, bounces to other addresses,
    messages over [inbound] max_size) is dropped and logged.

    With -, the exit status is 0 once the message is stored or deliberately
    dropped, and 75 (EX_TEMPFAIL) on any failure (locked or missing
    database, full disk, broken configuration), so that the MTA keeps the
    message and tries again later.
    """
    one_source(file, maildir, mbox, use_imap)
    if file == "-":
        _print_report(piped(lambda: _take_piped(app, to or "")), as_json)
        return
    store, config = app.store(), app.config
    limit = read_limit(config)
    if use_imap:
        with ImapSource(config.imap) as source:
            report = take_in(store, source.messages(), config, to=to or "",
                             done=lambda item: source.mark_done(item.key))
    elif maildir is not None:
        report = take_in(store, read_maildir(maildir, limit=limit), config, to=to or "")
    elif mbox is not None:
        report = take_in(store, read_mbox(mbox), config, to=to or "")
    else:
        report = take_in(store, [read_file(Path(str(file)), limit=limit)], config, to=to or "")
    _print_report(report, as_json)


def _take_piped(app: App, to: str) -> IntakeReport:
    incoming = read_stdin(envelope_to=envelope_recipient(), limit=read_limit(app.config))
    return take_in(app.store(), [incoming], app.config, to=to)


def _print_report(report: IntakeReport, as_json: bool) -> None:
    if as_json:
        print_json(report)
        return
    echo(
        f"{report.messages} message(s): {report.replies} reply(ies) "
        f"({report.unverified} unverified), {report.posts} post(s) held, "
        f"{report.bounces} to the bounce code, {report.duplicates} already seen"
    )
    if report.forwarded:
        echo(f"  {report.forwarded} reply(ies) forwarded")
    for reason, count in sorted(report.dropped.items()):
        echo(f"  dropped, {reason}: {count}")
    for change in report.changes:
        echo(f"  {change}")


@inbound.command("ls")
@click.option("--route", type=click.Choice([kind.value for kind in RouteKind]),
              help="Only messages of this route.")
@click.option("--outcome", type=click.Choice([o.value for o in Outcome]),
              help="Only messages stored, or only those dropped.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Show at most this many (newest first).")
@json_option
@pass_app
def ls(app: App, route: str | None, outcome: str | None, limit: int, as_json: bool) -> None:
    """Show the mail taken in lately: where each message went and what became of it."""
    found = recent(app.store(), limit=limit, route=route, outcome=outcome)
    if as_json:
        print_json(found)
        return
    shown: dict[str, Any] = {"reason": lambda text: text[:60]}
    print_table(
        found,
        ["received_at", "route", "outcome", "recipient", "sender", "size", "reason"],
        **shown,
    )
