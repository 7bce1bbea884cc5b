"""Progress lines on a terminal: the one place the command line draws them.

Long commands (a send, a check of a big list, a dry run) report as they go,
on standard error, and only when it is a terminal: a script or a pipe gets
the clean summary alone. A count that finishes within a second draws
nothing, so short commands stay quiet.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import click

from mailer.dispatch.sender import Progress
from mailer.store import Store

T = TypeVar("T")

#: A count shows its line once it has run this long.
QUIET_SECONDS = 1.0


def on_terminal() -> bool:
    """Whether standard error is a terminal (where progress lines belong)."""
    return sys.stderr.isatty()


def sending_progress() -> Callable[[Progress], None] | None:
    """A one-line delivery display (bar, counts, rate, time left); None off a terminal."""
    if not on_terminal():
        return None

    def show(progress: Progress) -> None:
        left = progress.due - progress.done
        rate = progress.rate
        eta = f"{int(left / rate) // 60}:{int(left / rate) % 60:02d} left" if rate > 0 else ""
        width = 30
        filled = int(width * progress.done / progress.due) if progress.due else width
        click.echo(
            f"\r[{'#' * filled}{'.' * (width - filled)}] sent {progress.sent}  "
            f"deferred {progress.deferred}  failed {progress.failed}  "
            f"{rate:,.0f} msg/s  {eta}   ",
            nl=False,
            err=True,
        )

    return show


@contextmanager
def counting(
    label: str,
    total: int | None = None,
    *,
    quiet: bool = False,
    monotonic: Callable[[], float] = time.monotonic,
) -> Iterator[Callable[[int], None] | None]:
    """A ``tick(done)`` callback that draws ``label: done/total (rate/s)`` past a second.

    Yields None off a terminal, or when ``quiet`` (a command printing JSON,
    or rows to the same terminal); the line is ended when the block ends.
    """
    if quiet or not on_terminal():
        yield None
        return
    started = monotonic()
    drawn = False

    def tick(done: int) -> None:
        nonlocal drawn
        elapsed = monotonic() - started
        if elapsed < QUIET_SECONDS:
            return
        of = f"/{total:,}" if total is not None else ""
        click.echo(f"\r{label}: {done:,}{of} ({done / elapsed:,.0f}/s)   ", nl=False, err=True)
        drawn = True

    try:
        yield tick
    finally:
        if drawn:
            click.echo("", err=True)


@contextmanager
def reading(path: Path) -> Iterator[Callable[[int, int], None] | None]:
    """A bar of how much of a file is read (``progress(done, total)`` in bytes), on a terminal."""
    if not on_terminal():
        yield None
        return
    size = path.stat().st_size if path.is_file() else 1
    with click.progressbar(
        length=max(size, 1), label=f"importing {path.name}", file=sys.stderr
    ) as bar:

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.pos)

        yield progress


@contextmanager
def working(
    store: Store,
    label: str,
    *,
    quiet: bool = False,
    monotonic: Callable[[], float] = time.monotonic,
) -> Iterator[None]:
    """While the block's statements run, ``label... 12 s`` past a second on a terminal.

    For what SQLite does in one long statement (counting or removing the
    members of a list of millions): its progress handler beats the line.
    """
    if quiet or not on_terminal():
        yield
        return
    started = monotonic()
    drawn = False

    def beat() -> None:
        nonlocal drawn
        elapsed = monotonic() - started
        if elapsed >= QUIET_SECONDS:
            click.echo(f"\r{label}... {elapsed:.0f} s   ", nl=False, err=True)
            drawn = True

    try:
        with store.beating(beat):
            yield
    finally:
        if drawn:
            click.echo("", err=True)


#: Rows between two calls of a walk's ``tick``: often enough for a line that
#: moves, rarely enough to cost nothing.
TICK_EVERY = 1000


def ticking(rows: Iterable[T], tick: Callable[[int], None] | None) -> Iterator[T]:
    """``rows`` as they come, telling ``tick`` how many went by (every ``TICK_EVERY``)."""
    if tick is None:
        yield from rows
        return
    done = 0
    for done, row in enumerate(rows, 1):
        if done % TICK_EVERY == 0:
            tick(done)
        yield row
    tick(done)


def end_line(shown: Callable[[Progress], None] | None) -> None:
    """End a delivery display, so that what follows starts on a line of its own."""
    if shown is not None:
        click.echo("", err=True)
