"""What the commands that read mail in share: their sources, and the pipe's exit status.

``bounces ingest`` and ``inbound`` read one message from a file or standard
input, or every message of a Maildir, an mbox or the IMAP folder. Through a
pipe, 0 means the message is taken; 75 (``EX_TEMPFAIL``) means keep it and try
again later. Any other non-zero status makes the MTA return the message to
its sender, which for a bounce (whose sender is empty) loses it, and for a
member's reply tells them it was not delivered when the fault was ours. So
every failure on our side, foreseen or not, becomes 75.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from mailer.errors import MailerError, UsageError

#: sysexits.h EX_TEMPFAIL: an MTA keeps the message and delivers it again later.
EX_TEMPFAIL = 75

Result = TypeVar("Result")


class TemporaryFailure(click.ClickException):
    """A failure on our side while an MTA pipes a message in: ask it to retry."""

    exit_code = EX_TEMPFAIL


def envelope_recipient() -> str:
    """The address the MTA delivered the message to, as its pipe names it.

    Postfix's ``pipe`` and ``local`` set ``ORIGINAL_RECIPIENT`` (the address
    before any alias was expanded: a VERP or replies address with its token)
    and ``RECIPIENT``.
    """
    return os.environ.get("ORIGINAL_RECIPIENT") or os.environ.get("RECIPIENT", "")


def piped(work: Callable[[], Result]) -> Result:
    """Run ``work`` for a piped message; every failure becomes ``TemporaryFailure``."""
    try:
        return work()
    except MailerError as exc:
        raise TemporaryFailure(str(exc)) from None
    except sqlite3.Error as exc:
        raise TemporaryFailure(f"database error: {exc}") from None
    except OSError as exc:
        name = f"{exc.filename}: " if exc.filename else ""
        raise TemporaryFailure(f"{name}{exc.strerror or exc}") from None
    except Exception as exc:  # whatever it is, the MTA must keep the message
        raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from None


def source_options(func: Any) -> Any:
    """FILE (or -), ``--maildir``, ``--mbox`` and ``--imap``: where the mail is read from."""
    func = click.option(
        "--imap", "use_imap", is_flag=True,
        help="Read the [imap] folder over TLS; processed mail is moved or flagged.",
    )(func)
    func = click.option(
        "--mbox", type=click.Path(dir_okay=False, path_type=Path),
        help="Read every message of this mbox file.",
    )(func)
    func = click.option(
        "--maildir", type=click.Path(file_okay=False, path_type=Path),
        help="Read every message of this Maildir.",
    )(func)
    return click.argument(
        "file", required=False, type=click.Path(dir_okay=False, allow_dash=True)
    )(func)


def one_source(file: str | None, maildir: Path | None, mbox: Path | None, imap: bool) -> None:
    """Refuse a command line that names no source, or more than one."""
    chosen = [x for x in (file, maildir, mbox, imap or None) if x is not None]
    if len(chosen) != 1:
        raise UsageError("give exactly one of FILE, -, --maildir DIR, --mbox FILE or --imap")
