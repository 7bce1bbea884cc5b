"""``mailer bounces``: read bounce and complaint mail, store it, act on it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mailer.bounces.parse import parse_message
from mailer.bounces.sources import message_files, read_file
from mailer.cli.app import App, cli, json_option, pass_app, print_table
from mailer.config import Config
from mailer.tokens import Signer


def _signer(config: Config) -> Signer | None:
    """The key that checks VERP tokens, when one is configured."""
    return Signer(config.web.secret_key) if config.web.secret_key else None


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
    signer = _signer(config)
    rows = []
    for path in message_files(list(paths)):
        parsed = parse_message(
            read_file(path).raw, return_path=config.bounces.return_path, signer=signer
        )
        events = [event.as_dict() for event in parsed.events]
        if as_json:
            click.echo(json.dumps({"file": str(path), "events": events}, ensure_ascii=False))
            continue
        for event in events:
            rows.append({"file": path.name, **event, "diagnostic": event["diagnostic"][:60]})
    if not as_json:
        print_table(
            rows,
            ["file", "recipient", "kind", "status", "reason", "campaign", "subscriber",
             "diagnostic"],
        )
