"""``mailer letters``: write a new letter, render it for one reader, check it for a list."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable
from pathlib import Path

import click

from mailer import tokens
from mailer.cli.app import App, cli, echo, json_option, output_option, pass_app, print_json
from mailer.cli.progress import counting
from mailer.cli.send import show_languages
from mailer.config import Config
from mailer.dispatch.plan import LanguageShare, plan_send
from mailer.errors import NotFoundError, UsageError
from mailer.languages import normalize_tag
from mailer.letters.check import check_editions
from mailer.letters.compile import sample_recipient
from mailer.letters.editions import (
    CompiledEditions,
    Editions,
    load_editions,
    new_translation,
)
from mailer.letters.files import human_size
from mailer.letters.source import Letter, new_letter
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


def _lists(app: App, letter: Letter, names: tuple[str, ...]) -> list[MailingList]:
    """The lists named on the command line or in the letter, from the store if there is one."""
    wanted = names or ((letter.list_name,) if letter.list_name else ())
    if not wanted:
        return []
    if not app.config.db_path.exists():
        if names:
            raise NotFoundError(f"no database at {app.config.db_path} (run `mailer init`)")
        return [_stand_in_list(name) for name in wanted]
    return [get_list(app.store(), name) for name in wanted]


def _compile(app: App, editions: Editions, lists: list[MailingList]) -> CompiledEditions:
    return CompiledEditions(
        editions, config=app.config, lists=lists, signer=preview_signer(app.config)
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
    "--lang",
    "language",
    metavar="TAG",
    help="Render this language's edition (default: the reader's language).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(_FORMATS),
    default="eml",
    show_default=True,
    help="The whole message, or only its HTML (its images inline, for a browser) or text part.",
)
@output_option
@pass_app
def render(
    app: App,
    file: Path,
    to: str | None,
    sample: bool,
    list_name: str | None,
    language: str | None,
    fmt: str,
    output: Path | None,
) -> None:
    """Show exactly what one subscriber (or a sample subscriber) would receive."""
    if to and sample:
        raise UsageError("give --to EMAIL or --sample, not both")
    app.check_output(output, inputs=(file,))
    editions = load_editions(file)
    lists = _lists(app, editions.original, (list_name,) if list_name else ())
    first = lists[0].id if lists else None
    if to:
        subscriber = find_subscriber(app.store(), to)
        if subscriber is None:
            raise NotFoundError(f"no subscriber {to!r} (see `mailer subscribers ls`)")
        recipient = subscriber.as_recipient(first)
    else:
        recipient = dataclasses.replace(sample_recipient(editions.original), list_id=first)
    if language is not None:
        wanted = normalize_tag(language)
        if wanted not in editions.languages:
            offered = ", ".join(editions.languages) or "none"
            raise UsageError(f"no edition in {wanted!r} (editions: {offered})")
        recipient = dataclasses.replace(recipient, language=wanted)
    compiled = _compile(app, editions, lists)
    message, html, text = compiled.build_rendered(recipient)
    if fmt == "html":  # a file for a browser, which cannot follow cid: references
        html = compiled.viewable(recipient, html)
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
    "--list",
    "list_names",
    multiple=True,
    help="Check for every recipient of this list (repeatable; default: the letter's).",
)
@json_option
@pass_app
def check(app: App, file: Path, list_names: tuple[str, ...], as_json: bool) -> None:
    """Render for every recipient; report errors (exit 1) and warnings."""
    editions = load_editions(file)
    lists = _lists(app, editions.original, list_names)
    compiled = _compile(app, editions, lists)
    recipients: Iterable[Recipient]
    total = None
    shares: tuple[LanguageShare, ...] = ()
    if lists and lists[0].id:
        # The plan and the recipient query of a send: who is checked is who would be mailed.
        plan = plan_send(app.store(), editions, lists, "")
        recipients = deliveries.iter_recipients(app.store(), plan.list_ids)
        total, shares = plan.recipients, plan.languages
        scope = f"the recipients of list {plan.list_names}"
    else:
        sample = sample_recipient(editions.original)
        recipients = [
            dataclasses.replace(sample, language=language)
            for language in editions.languages or [""]
        ]
        scope = "the sample subscriber (no list in the database)"
    with counting("checking", total, quiet=as_json) as tick:
        report = check_editions(compiled, recipients, progress=tick)
    if as_json:
        print_json({"file": str(file), **dataclasses.asdict(report), "languages": shares})
    else:
        echo(f"checked {report.checked} message(s) for {scope}")
        show_languages(shares)
        for carried in report.files:
            echo(f"{carried.how} {carried.name}: {carried.size_text} ({carried.content_type})")
        if report.files:
            echo(f"files in each message: {human_size(report.files_size)}")
        for warning in report.warnings:
            echo(f"warning: {warning}")
        for error in report.errors:
            echo(f"error: {error}")
        if report.error_count > len(report.errors):
            echo(f"... {report.error_count - len(report.errors)} more error(s)")
        echo(f"{report.error_count} error(s), {len(report.warnings)} warning(s)")
    if not report.ok:
        click.get_current_context().exit(1)


@letters.command("translate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--lang", "language", required=True, metavar="TAG", help="The translation's language."
)
def translate(file: Path, language: str) -> None:
    """Write the skeleton of LETTER's translation into TAG, beside it (FILE.TAG.md)."""
    path = new_translation(load_editions(file), normalize_tag(language))
    echo(str(path))
