"""``mailer letters``: write a new letter, render it for one reader, check it for a list."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from mailer import tokens
from mailer.cli.app import App, cli, echo, json_option, output_option, pass_app, print_json
from mailer.cli.progress import counting
from mailer.config import Config
from mailer.errors import NotFoundError, UsageError
from mailer.letters.check import check_letter
from mailer.letters.compile import CompiledLetter, compile_letter, sample_recipient
from mailer.letters.source import Letter, load_letter, new_letter
from mailer.store import deliveries
from mailer.store.lists import get_list
from mailer.store.models import MailingList, Recipient
from mailer.store.subscribers import find_subscriber
from mailer.tokens import Signer

_FORMATS = ("eml", "html", "text")


def preview_signer(config: Config) -> Signer:
    """The configured signer, or a throwaway one (said on stderr) so previews still work."""
    if not config.web.secret_key:
        echo(
            "note: MAILER_SECRET_KEY is not set; using a throwaway key, "
            "so the unsubscribe links in this output will not verify",
            err=True,
        )
    return tokens.signer_for(config, missing="throwaway")


def _stand_in_list(name: str) -> MailingList:
    """A list that only exists in the letter (no database yet): enough to render."""
    return MailingList(
        id=0,
        name=name,
        title=name,
        description="",
        double_optin=False,
        public=False,
        created_at="",
    )


def _mailing_list(app: App, letter: Letter, name: str | None) -> MailingList | None:
    """The list named on the command line or in the letter, from the store if there is one."""
    wanted = name or letter.list_name
    if wanted is None:
        return None
    if not app.config.db_path.exists():
        if name is not None:
            raise NotFoundError(f"no database at {app.config.db_path} (run `mailer init`)")
        return _stand_in_list(wanted)
    return get_list(app.store(), wanted)


def _compile(app: App, letter: Letter, mailing_list: MailingList | None) -> CompiledLetter:
    return compile_letter(
        letter,
        config=app.config,
        mailing_list=mailing_list,
        signer=preview_signer(app.config),
    )


@cli.group()
def letters() -> None:
    """Write, render and check circular letters (Markdown files)."""


@letters.command("new")
@click.argument("title")
@click.option("--list", "list_name", help="The list the letter is for (front matter list:).")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("letters"),
    show_default=True,
    help="Folder to write the letter into.",
)
def new(title: str, list_name: str | None, directory: Path) -> None:
    """Write letters/YYYY-MM-DD-<slug>.md: front matter and a circular-letter skeleton."""
    path = new_letter(title, directory=directory, list_name=list_name)
    echo(str(path))


@letters.command("render")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--to", "to", metavar="EMAIL", help="Render for this subscriber (from the database).")
@click.option(
    "--sample",
    is_flag=True,
    help="Render for a sample subscriber (the default; front matter sample:).",
)
@click.option("--list", "list_name", help="Render as sent to this list (default: the letter's).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(_FORMATS),
    default="eml",
    show_default=True,
    help="The whole message, or only its HTML or text part.",
)
@output_option
@pass_app
def render(
    app: App,
    file: Path,
    to: str | None,
    sample: bool,
    list_name: str | None,
    fmt: str,
    output: Path | None,
) -> None:
    """Show exactly what one subscriber (or a sample subscriber) would receive."""
    if to and sample:
        raise UsageError("give --to EMAIL or --sample, not both")
    app.check_output(output, inputs=(file,))
    letter = load_letter(file)
    mailing_list = _mailing_list(app, letter, list_name)
    if to:
        subscriber = find_subscriber(app.store(), to)
        if subscriber is None:
            raise NotFoundError(f"no subscriber {to!r} (see `mailer subscribers ls`)")
        recipient = subscriber.as_recipient()
    else:
        recipient = sample_recipient(letter)
    compiled = _compile(app, letter, mailing_list)
    message, html, text = compiled.build_rendered(recipient)
    data = {"eml": message.data, "html": html.encode(), "text": text.encode()}[fmt]
    if output is not None:
        output.write_bytes(data)
        echo(f"wrote {output} ({len(data)} bytes, for {recipient.email})", err=True)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


@letters.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--list", "list_name", help="Check for every member of this list (default: the letter's)."
)
@json_option
@pass_app
def check(app: App, file: Path, list_name: str | None, as_json: bool) -> None:
    """Render for every recipient; report errors (exit 1) and warnings."""
    letter = load_letter(file)
    mailing_list = _mailing_list(app, letter, list_name)
    compiled = _compile(app, letter, mailing_list)
    recipients: Iterator[Recipient]
    total = None
    if mailing_list is not None and mailing_list.id:
        # The one recipient query, as a send uses it: who is checked is who would be mailed.
        recipients = deliveries.iter_recipients(app.store(), mailing_list.id)
        total = deliveries.count_recipients(app.store(), mailing_list.id)
        scope = f"the recipients of list {mailing_list.name}"
    else:
        recipients = iter([sample_recipient(letter)])
        scope = "the sample subscriber (no list in the database)"
    with counting("checking", total) as tick:
        report = check_letter(compiled, recipients, progress=tick)
    if as_json:
        print_json({"file": str(file), **dataclasses.asdict(report)})
    else:
        echo(f"checked {report.checked} message(s) for {scope}")
        for warning in report.warnings:
            echo(f"warning: {warning}")
        for error in report.errors:
            echo(f"error: {error}")
        if report.error_count > len(report.errors):
            echo(f"... {report.error_count - len(report.errors)} more error(s)")
        echo(f"{report.error_count} error(s), {len(report.warnings)} warning(s)")
    if not report.ok:
        click.get_current_context().exit(1)
