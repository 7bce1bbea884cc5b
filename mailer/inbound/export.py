"""A campaign's replies for the people who gather them: a spreadsheet, or the messages.

The CSV has a row per reply: when it came, who sent it (the subscriber, when
its address proved whose it is, else the address it came from), the
subscriber's attributes (``organisation`` or ``organization`` first: the
federation's members answer for their organisations), the subject, the
first lines of the text and the names of the attached files. Every cell a
spreadsheet would run as a formula is escaped (``contacts.columns``).

The mbox holds each reply's message as it arrived (mboxrd: a body line
that starts with ``From `` after any ``>`` gets one more ``>``), for any
mail program to open.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, Final, TextIO

from mailer import clock
from mailer.contacts.columns import escape_cell
from mailer.inbound import files
from mailer.store.models import Reply

FORMATS: Final = ("csv", "mbox")
#: The attributes shown first, in this order: a member answers for an organisation.
ORGANISATION: Final = ("organisation", "organization")
#: Lines of a reply's text in the spreadsheet, and characters at most.
FIRST_LINES: Final = 5
FIRST_CHARACTERS: Final = 500

#: Where the quoted letter begins below an answer ("On ... wrote:", "Am ... schrieb").
_QUOTE_START = re.compile(
    r"^(>|-+ ?original message ?-+|(on|am|le|el|il|op) .*(wrote|schrieb|écrit|escribió|scritto"
    r"|schreef).*:?\s*$)",
    re.I,
)
_MBOX_FROM = re.compile(rb"^(>*From )", re.M)


def first_lines(text: str) -> str:
    """The start of what a member wrote, before the letter they quote."""
    kept: list[str] = []
    for line in text.splitlines():
        if _QUOTE_START.match(line.strip()):
            break
        if line.strip():
            kept.append(line.strip())
        if len(kept) >= FIRST_LINES:
            break
    return "\n".join(kept)[:FIRST_CHARACTERS]


def attribute_keys(replies: Sequence[Reply]) -> list[str]:
    """The attribute columns: the organisation first, then the rest by name."""
    keys = sorted({key for reply in replies for key in reply.attributes})
    first = [key for key in keys if key.lower() in ORGANISATION]
    return first + [key for key in keys if key not in first]


def write_csv(replies: Sequence[Reply], out: TextIO) -> int:
    """Write the spreadsheet of ``replies`` (oldest first); how many rows."""
    keys = attribute_keys(replies)
    writer = csv.writer(out)
    header = ["received_at", "email", "name", *keys, "subject", "text", "attachments",
              "verified"]
    writer.writerow([escape_cell(title) for title in header])
    for reply in sorted(replies, key=lambda r: (r.received_at, r.id)):
        writer.writerow(
            [
                reply.received_at,
                escape_cell(reply.email or reply.sender),
                escape_cell(reply.name or reply.sender_name),
                *(_cell(reply.attributes.get(key)) for key in keys),
                escape_cell(reply.subject),
                escape_cell(first_lines(reply.text)),
                escape_cell("; ".join(a.filename or f"({a.content_type})"
                                      for a in reply.attachments)),
                "yes" if reply.verified else "no",
            ]
        )
    return len(replies)


def _cell(value: Any) -> str:
    return "" if value is None else escape_cell(str(value))


def write_mbox(replies: Sequence[Reply], root: Path, out: BinaryIO) -> tuple[int, int]:
    """Write each reply's message (oldest first); how many were written, and how many
    had no message file left to write."""
    written = missing = 0
    for reply in sorted(replies, key=lambda r: (r.received_at, r.id)):
        try:
            raw = files.message_path(root, reply.folder).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            missing += 1
            continue
        stamp = clock.parse_iso(reply.received_at).strftime("%a %b %d %H:%M:%S %Y")
        sender = reply.sender if reply.sender and " " not in reply.sender else "MAILER-DAEMON"
        body = _MBOX_FROM.sub(rb">\1", raw.replace(b"\r\n", b"\n"))
        out.write(f"From {sender} {stamp}\n".encode() + body.rstrip(b"\n") + b"\n\n")
        written += 1
    return written, missing
