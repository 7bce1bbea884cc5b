"""``mailer replies``: the answers members sent to a circular."""

from __future__ import annotations

from pathlib import Path

import click

from mailer.cli.app import (
    App,
    cli,
    echo,
    json_option,
    output_option,
    pass_app,
    print_json,
    print_table,
    shorten,
    written,
    written_bytes,
)
from mailer.inbound.export import FORMATS, write_csv, write_mbox
from mailer.store import replies as stored
from mailer.store.models import Reply


@cli.group()
def replies() -> None:
    """List, read and export the replies to circulars."""


def _who(reply: Reply) -> str:
    return reply.email or reply.sender or "(unknown)"


@replies.command("ls")
@click.option("--campaign", "campaign_id", type=int, help="Only replies to this campaign id.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Show at most this many (newest first).")
@json_option
@pass_app
def ls(app: App, campaign_id: int | None, limit: int | None, as_json: bool) -> None:
    """Show replies, newest first: campaign, who (verified or not), subject, files."""
    found = stored.find(app.store(), campaign_id=campaign_id, limit=limit)
    if as_json:
        print_json(found)
        return
    rows = [
        {
            "id": r.id, "received_at": r.received_at, "campaign": r.campaign_id or "",
            "from": _who(r), "verified": "yes" if r.verified else "no",
            "subject": shorten(r.subject, 40), "files": len(r.attachments),
            "forward": r.forward,
        }
        for r in found
    ]
    print_table(rows, ["id", "received_at", "campaign", "from", "verified", "subject",
                       "files", "forward"])


@replies.command("show")
@click.argument("reply_id", type=int)
@json_option
@pass_app
def show(app: App, reply_id: int, as_json: bool) -> None:
    """Show one reply: who sent it, its text, and where its files are."""
    reply = stored.get(app.store(), reply_id)
    if as_json:
        print_json(reply)
        return
    proof = "verified by its address" if reply.verified else "unverified: proves no one"
    echo(f"reply {reply.id}, received {reply.received_at} at {reply.recipient}")
    echo(f"  from:       {reply.sender_name} <{reply.sender}>".replace(" <>", ""))
    echo(f"  subscriber: {reply.email or '-'} ({proof})")
    echo(f"  campaign:   {reply.campaign_id or '-'}")
    echo(f"  subject:    {reply.subject}")
    echo(f"  sent:       {reply.sent_at or '-'}")
    forwarded = reply.forwarded_at or reply.forward_note or "-"
    echo(f"  forwarded:  {reply.forward or 'no'} {forwarded if reply.forward else ''}".rstrip())
    root = app.config.replies_path
    for item in reply.attachments:
        where = str(root / item.path) if item.path else item.note
        echo(f"  file {item.position}: {item.filename or item.content_type} "
             f"({item.size:,} bytes): {where}")
    echo("")
    for line in reply.text.splitlines():
        echo(line)


@replies.command("export")
@click.option("--campaign", "campaign_id", type=int, required=True,
              help="The campaign whose replies to export.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True,
              help="csv: a row per reply for a spreadsheet; mbox: the messages as they came.")
@output_option
@pass_app
def export(app: App, campaign_id: int, fmt: str, output: Path | None) -> None:
    """Export a campaign's replies as a spreadsheet (CSV) or as messages (mbox).

    The CSV has the time, the member's address and name, their attributes
    (their organisation first), the subject, the first lines of the text and
    the names of the attached files.
    """
    app.check_output(output)
    found = stored.find(app.store(), campaign_id=campaign_id)
    if fmt == "csv":
        with written(output) as out:
            count = write_csv(found, out)
        missing = 0
    else:
        with written_bytes(output) as raw:
            count, missing = write_mbox(found, app.config.replies_path, raw)
    if output is not None:
        echo(f"wrote {count} replies to {output}", err=True)
    if missing:
        echo(f"{missing} replies had no stored message to write", err=True)
