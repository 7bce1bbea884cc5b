"""``mailer subscribers import`` and ``export``: contact files in and out."""

from __future__ import annotations

import contextlib
import csv
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from mailer import clock
from mailer.cli.app import (
    App,
    echo,
    json_option,
    output_option,
    pass_app,
    print_json,
    written,
)
from mailer.cli.progress import counting, reading
from mailer.cli.subscribers import subscribers
from mailer.contacts.columns import escape_cell
from mailer.contacts.exporter import FORMATS, export_person, export_subscribers
from mailer.contacts.formats import label as export_label
from mailer.contacts.importer import ImportReport, InvalidRow, import_csv
from mailer.dispatch.welcome import welcome_imported
from mailer.errors import UsageError
from mailer.store.lists import get_list

#: Invalid rows shown in the summary; ``--report`` has them all.
SHOWN_INVALID = 20


def _print_summary(report: ImportReport, list_name: str) -> None:
    what = "checked (dry run: nothing written)" if report.dry_run else "imported"
    echo(f"{what} {report.path} into {list_name}")
    if report.export:
        echo(f"  read as {export_label(report.export)}")
    for label, value in (
        ("rows read", report.rows),
        ("added", report.added),
        ("already subscribed", report.already_subscribed),
        ("updated", report.updated),
        ("suppressed", report.suppressed),
        ("invalid", report.invalid),
        ("duplicates", report.duplicates),
    ):
        echo(f"  {label:<20}{value:>10}")
    echo(f"  {'seconds':<20}{report.seconds:>10.2f}")
    if report.invalid_rows:
        echo("invalid rows:")
        for row in report.invalid_rows[:SHOWN_INVALID]:
            echo(f"  line {row.line}: {row.email or '(empty)'}: {row.reason}")
        if report.invalid > SHOWN_INVALID:
            echo(f"  ... and {report.invalid - SHOWN_INVALID} more (--report FILE lists all)")


@contextlib.contextmanager
def _invalid_rows(path: Path | None) -> Iterator[Callable[[InvalidRow], None] | None]:
    """A writer of the invalid rows into the ``--report`` CSV file, or None without one."""
    if path is None:
        yield None
        return
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "email", "reason"])

        def write(row: InvalidRow) -> None:
            writer.writerow([row.line, escape_cell(row.email), escape_cell(row.reason)])

        yield write


@subscribers.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--list", "list_name", required=True, help="The list to import into.")
@click.option(
    "--update", is_flag=True, help="Overwrite names, attributes and languages of known addresses."
)
@click.option("--strict", is_flag=True, help="Abort, changing nothing, at the first invalid row.")
@click.option("--dry-run", is_flag=True, help="Count what would happen; write nothing.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the invalid rows (line, email, reason) to this CSV file.",
)
@click.option(
    "--check-deliverability",
    is_flag=True,
    help="Also check by DNS that each domain accepts mail (once per domain).",
)
@click.option(
    "--encoding",
    metavar="ENC",
    help="The file's encoding if not UTF-8, e.g. cp1252 (Excel's CSV), latin-1, utf-16.",
)
@click.option(
    "--email-column",
    metavar="NAME",
    help="The header of the email column, when it has a name mailer does not know.",
)
@click.option(
    "--name-column",
    metavar="NAME",
    help="The header of the (full) name column, when it has a name mailer does not know.",
)
@click.option(
    "--welcome",
    is_flag=True,
    help="Send the list's welcome letter to the members this import adds.",
)
@json_option
@pass_app
def import_(
    app: App,
    file: Path,
    list_name: str,
    update: bool,
    strict: bool,
    dry_run: bool,
    report_path: Path | None,
    check_deliverability: bool,
    encoding: str | None,
    email_column: str | None,
    name_column: str | None,
    welcome: bool,
    as_json: bool,
) -> None:
    """Import subscribers from a CSV FILE into a list.

    The header row names the email column (email, e-mail, email address,
    correo, courriel, E-Mail-Adresse, ...), or --email-column says which
    one it is. Name columns are optional (a full name, or first and
    last names, in English, Spanish, German, French or Portuguese), a
    language column (language, lang, idioma, Sprache, langue, ...) sets
    each person's language, and every other column becomes an attribute.
    Exports of Google Contacts, Outlook and Mailchimp are recognised; a
    Mailchimp export's opt-in and confirm times become the consent proof.
    The delimiter (, ; or tab) is detected; the file is UTF-8 with or
    without BOM unless --encoding says otherwise. Addresses that opted out,
    bounced, complained or were blocked or forgotten are never subscribed.
    Importing the same file again changes nothing. Nobody is sent the
    list's welcome letter unless --welcome is given.
    """
    app.check_output(report_path, inputs=(file,))
    store = app.store()
    mailing_list = get_list(store, list_name)
    settings = app.config.import_
    started = clock.now_iso()
    with contextlib.ExitStack() as stack:
        report = import_csv(
            store,
            file,
            mailing_list,
            update=update,
            strict=strict,
            dry_run=dry_run,
            check_deliverability=check_deliverability or settings.check_deliverability,
            allow_special_use=settings.allow_special_use_domains,
            batch_size=settings.batch_size,
            encoding=encoding,
            email_column=email_column,
            name_column=name_column,
            progress=None if as_json else stack.enter_context(reading(file)),
            on_invalid=stack.enter_context(_invalid_rows(report_path)),
        )
    welcomed = 0
    if welcome and not dry_run:
        welcomed = welcome_imported(app.config, store, mailing_list.id, file.name, started)
    if as_json:
        print_json({"import": report, "welcomed": welcomed} if welcome else report)
    else:
        _print_summary(report, mailing_list.name)
        if welcome and mailing_list.welcome_campaign_id is None:
            echo(f"note: list {mailing_list.name} has no welcome letter (lists update --welcome)",
                 err=True)
        elif welcome:
            echo(f"welcome letter: sent to {welcomed} new member(s)")


@subscribers.command("export")
@click.option("--list", "list_name", help="Only this list's members (default: everyone).")
@click.option("--email", help="Everything stored about this one address (GDPR access).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="csv (default) or jsonl; --email always gives jsonl.",
)
@output_option
@pass_app
def export(
    app: App, list_name: str | None, email: str | None, fmt: str | None, output: Path | None
) -> None:
    """Export subscribers as CSV (email, name, status, attributes) or JSON Lines.

    The CSV imports back into the same subscribers, attributes and statuses.
    With --email, print one JSON document with the subscriber, subscriptions
    and consent, events, deliveries, bounces and suppressions.
    """
    app.check_output(output)
    store = app.store()
    if email is not None:
        if list_name is not None:
            raise UsageError("--email and --list cannot be combined")
        if fmt == "csv":
            raise UsageError("--email gives JSON Lines; use --format jsonl or leave it out")
        person = export_person(store, email)
        with written(output) as out:
            out.write(json.dumps(person, ensure_ascii=False, sort_keys=True, default=str) + "\n")
        return
    list_id = get_list(store, list_name).id if list_name is not None else None
    # On a terminal the rows themselves show how far it is; written away, a line does.
    quiet = output is None and sys.stdout.isatty()
    with written(output) as out, counting("exporting", quiet=quiet) as tick:
        count = export_subscribers(store, out, list_id=list_id, fmt=fmt or "csv", progress=tick)
    if output is not None:
        echo(f"wrote {count} subscribers to {output}", err=True)
