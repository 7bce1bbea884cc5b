"""``mailer bounces``: read bounce and complaint mail, store it, act on it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from mailer import clock, tokens
from mailer.bounces.ingest import IngestReport, ingest
from mailer.bounces.parse import parse_message
from mailer.bounces.sources import (
    ImapSource,
    message_files,
    read_file,
    read_maildir,
    read_mbox,
    read_stdin,
)
from mailer.cli.app import App, cli, echo, json_option, pass_app, print_json, print_table
from mailer.cli.incoming import envelope_recipient, one_source, piped, source_options
from mailer.errors import UsageError
from mailer.store.bounces import find_bounces


@cli.group()
def bounces() -> None:
    """Read bounces and complaints, store them and apply the bounce policy."""


@bounces.command("parse")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@json_option
@pass_app
def parse(app: App, paths: tuple[Path, ...], as_json: bool) -> None:
    """Read each message file (a folder: every file in it) and print its events.

    Nothing is stored and no database is needed. With --json, one JSON object
    per file and line: {"file": ..., "events": [...]}.
    """
    config = app.config
    signer = tokens.signer_for(config, missing="none")
    rows = []
    for path in message_files(list(paths)):
        parsed = parse_message(
            read_file(path).raw, return_path=config.bounces.return_path, signer=signer
        )
        events = [dataclasses.asdict(event) for event in parsed.events]
        if as_json:
            echo(json.dumps({"file": str(path), "events": events}, ensure_ascii=False))
            continue
        for event in events:
            rows.append({"file": path.name, **event, "diagnostic": event["diagnostic"][:60]})
    if not as_json:
        print_table(
            rows,
            ["file", "recipient", "kind", "status", "reason", "campaign", "subscriber",
             "diagnostic"],
        )


@bounces.command("ingest")
@source_options
@json_option
@pass_app
def ingest_command(
    app: App,
    file: str | None,
    maildir: Path | None,
    mbox: Path | None,
    use_imap: bool,
    as_json: bool,
) -> None:
    """Store bounces and complaints and apply the bounce policy.

    FILE is one message; - reads one message from standard input (for an MTA
    pipe). The same message (same Message-ID) is never counted twice.

    With -, the exit status is 0 once the message is stored (a message
    nothing can be read from is stored as unknown) and 75 (EX_TEMPFAIL) on any
    failure (locked or missing database, broken configuration), so that the
    MTA keeps the message and tries again later.
    """
    one_source(file, maildir, mbox, use_imap)
    if file == "-":
        _print_report(_ingest_piped(app), as_json)
        return
    store = app.store()
    config = app.config
    if use_imap:
        with ImapSource(config.imap) as source:
            report = ingest(store, source.messages(), config,
                            done=lambda item: source.mark_done(item.key))
    else:
        if maildir is not None:
            report = ingest(store, read_maildir(maildir), config)
        elif mbox is not None:
            report = ingest(store, read_mbox(mbox), config)
        else:
            report = ingest(store, [read_file(Path(str(file)))], config)
    _print_report(report, as_json)


def _ingest_piped(app: App) -> IngestReport:
    """Ingest the message on standard input; every failure becomes EX_TEMPFAIL."""
    # Postfix's pipe names the address the message came to (a VERP address).
    return piped(
        lambda: ingest(app.store(), [read_stdin(envelope_to=envelope_recipient())], app.config)
    )


def _print_report(report: IngestReport, as_json: bool) -> None:
    if as_json:
        print_json(report)
        return
    echo(
        f"{report.messages} message(s): {report.events} event(s) stored, "
        f"{report.duplicates} already seen, {report.unsubscribes} unsubscribe request(s)"
    )
    if report.unverified:
        echo(
            f"  {report.unverified} event(s) unverified: they proved no letter of ours "
            "and changed nobody"
        )
    for change in report.changes:
        echo(f"  {change}")


@bounces.command("ls")
@click.option("--email", help="Only bounces for this address.")
@click.option("--campaign", "campaign_id", type=int, help="Only bounces of this campaign id.")
@click.option("--since", help="Only bounces received on or after this date (YYYY-MM-DD).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Show at most this many (newest first).")
@json_option
@pass_app
def ls(
    app: App,
    email: str | None,
    campaign_id: int | None,
    since: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """Show stored bounce events, newest first."""
    found = find_bounces(
        app.store(),
        email=email,
        campaign_id=campaign_id,
        since=_since(since) if since else None,
        limit=limit,
    )
    if as_json:
        print_json([{**dataclasses.asdict(b), "verified": b.verified} for b in found])
        return
    print_table(
        found,
        ["received_at", "recipient", "kind", "proof", "status", "reason", "campaign_id",
         "diagnostic"],
        proof=lambda proof: proof or "unverified",
        diagnostic=lambda text: text[:50],
    )


def _since(text: str) -> str:
    """A ``--since`` value (``2026-11-01`` or an ISO time) as the store's timestamp."""
    try:
        moment = clock.parse_iso(text.strip())
    except ValueError:
        raise UsageError(f"--since: not a date or time: {text!r} (use YYYY-MM-DD)") from None
    return clock.iso(moment)
