"""The root command, its global options, and where errors become exit codes."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import itertools
import json
import os
import re
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import click

from mailer import __version__
from mailer.config import Config, load_config
from mailer.contacts.columns import escape_cell
from mailer.errors import CampaignStopped, MailerError, UsageError
from mailer.store import Store, open_store


@dataclass
class App:
    """What every command needs: the configuration and, on demand, the store."""

    config_path: Path | None
    db_path: Path | None
    _config: Config | None = None
    _store: Store | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path, db=self.db_path)
        return self._config

    def check_output(self, path: Path | None, *, inputs: tuple[Path, ...] = ()) -> None:
        """Refuse to write ``path`` when it is a file mailer itself depends on.

        The database and its ``-wal``, ``-shm`` and ``-journal`` files, a
        campaign's journal, the configuration file, and the command's own
        input: writing any of them would destroy what the command reads or
        what every later command needs.
        """
        if path is None:
            return
        db = self.config.db_path
        protected: list[tuple[Path, str]] = [
            (db, "the database"),
            *((db.with_name(db.name + end), f"the database's {end} file")
              for end in ("-wal", "-shm", "-journal")),
            *((p, "the input") for p in inputs),
        ]
        if self.config.config_path is not None:
            protected.append((self.config.config_path, "the configuration file"))
        target = _where(path)
        for other, what in protected:
            if target == _where(other) or _same_file(path, other):
                raise UsageError(f"{path}: refusing to write over {what}")
        if target.parent == _where(db).parent and target.name.startswith(db.name + ".campaign-"):
            raise UsageError(f"{path}: refusing to write over a campaign's journal")

    def page_output(self, output: Path | None, default: str) -> Path:
        """Where a page goes: ``output``, else ``default`` in the current folder; checked
        with ``check_output`` (``-``, standard output, needs no check)."""
        target = output or Path(default)
        if str(target) != "-":
            self.check_output(target)
        return target

    @property
    def store_is_open(self) -> bool:
        """Whether this command has opened the database (no process may be forked after)."""
        return self._store is not None

    def store(self, *, create: bool = False) -> Store:
        """The database, opened once per command and closed when it ends."""
        if self._store is None:
            self._store = open_store(
                self.config.db_path,
                create=create,
                busy_timeout=self.config.database.busy_timeout,
            )
            click.get_current_context().call_on_close(self._store.close)
        return self._store


def _where(path: Path) -> Path:
    """``path`` made absolute with its folder's links resolved (the file may not exist)."""
    path = path.expanduser().absolute()
    try:
        return path.parent.resolve() / path.name
    except OSError:
        return path


def _same_file(one: Path, other: Path) -> bool:
    """Whether two existing paths name one file (a hard or symbolic link to it, say)."""
    try:
        return one.exists() and other.exists() and one.samefile(other)
    except OSError:
        return False


class OneLineUsageError(click.UsageError):
    """Bad usage, said in one line (with where to find help) instead of click's usage block."""

    def show(self, file: Any = None) -> None:
        hint = f" (see '{self.ctx.command_path} --help')" if self.ctx is not None else ""
        click.echo(f"Error: {self.format_message()}{hint}", file=file or sys.stderr)


def _one_line(exc: click.UsageError) -> click.UsageError:
    if isinstance(exc, click.exceptions.NoArgsIsHelpError | OneLineUsageError):
        return exc  # a bare group asked for its help, or already one line
    return OneLineUsageError(exc.format_message(), exc.ctx)


class MailerGroup(click.Group):
    """A group that turns every foreseeable error into a one-line message and an exit code."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:  # a bad global option such as --db
            raise _one_line(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a subcommand's bad argument or option
            raise _one_line(exc) from None
        except CampaignStopped as exc:
            # The core says which campaign and how many are left; the hint is ours.
            app = ctx.find_object(App)
            hint = resume_hint(app, exc.campaign_id) if app else "mailer campaigns resume"
            raise click.ClickException(shown(f"{exc}: resume with `{hint}`")) from None
        except MailerError as exc:
            if exc.exit_code == 2:
                raise OneLineUsageError(shown(exc)) from None
            raise click.ClickException(shown(exc)) from None
        except sqlite3.Error as exc:
            raise click.ClickException(f"database error: {exc}") from None
        except (BrokenPipeError, KeyboardInterrupt):
            raise
        except OSError as exc:
            name = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            raise click.ClickException(f"{name}{exc.strerror or exc}") from None


@click.group(cls=MailerGroup)
@click.version_option(__version__, prog_name="mailer")
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Database file (default ./mailer.db, or MAILER_DB).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Configuration file (default ./mailer.toml, or MAILER_CONFIG).",
)
@click.pass_context
def cli(ctx: click.Context, db_path: Path | None, config_path: Path | None) -> None:
    """mailer: send circular letters to mailing lists and track what comes back."""
    ctx.obj = App(
        config_path=config_path,
        db_path=db_path.resolve() if db_path else None,
    )


pass_app = click.make_pass_decorator(App)


def json_option(func: Any) -> Any:
    """The ``--json`` flag shared by every command that prints data."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(
        func
    )


def output_option(
    func: Callable[..., Any] | None = None,
    *,
    help: str = "Write to this file instead of standard output.",
    envvar: str | None = None,
) -> Callable[..., Any]:
    """The ``-o/--output FILE`` option of commands that write a document (or a key):
    ``@output_option``, or ``@output_option(help=...)`` to say what is written
    (and ``envvar=`` for a file the environment may name)."""

    def add(command: Callable[..., Any]) -> Callable[..., Any]:
        return click.option(
            "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help=help,
            envvar=envvar, show_envvar=envvar is not None,
        )(command)

    return add if func is None else add(func)


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[int]:
    """A new file beside ``path`` (its descriptor), put in its place once written."""
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    except OSError as exc:
        # Name the file asked for, not the temporary one beside it.
        raise OSError(exc.errno, f"cannot write here ({exc.strerror})", str(path)) from None
    try:
        yield fd
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def written(path: Path | None) -> Iterator[TextIO]:
    """Standard output, or ``path`` replaced only once everything is written."""
    if path is None:
        yield sys.stdout
        return
    with _replacing(path) as fd, os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        yield handle


@contextlib.contextmanager
def written_bytes(path: Path | None) -> Iterator[BinaryIO]:
    """``written`` for a document of bytes (an mbox of messages as they came)."""
    if path is None:
        yield sys.stdout.buffer
        return
    with _replacing(path) as fd, os.fdopen(fd, "wb") as handle:
        yield handle


def page_option(default: str) -> Callable[[Any], Any]:
    """The ``-o/--output FILE`` option of commands that make an HTML page (a report)."""
    return click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
        help=f"Write the page to this file (default: {default} in the current folder; "
        "- for standard output).",
    )


def write_page(output: Path, page: str) -> None:
    """Write a page to ``output`` (``-``: standard output) and say where it went.

    The path was checked (``App.page_output``) before the page was made; a
    page that is replaced is replaced whole (``written``).
    """
    to_stdout = str(output) == "-"
    with written(None if to_stdout else output) as handle:
        handle.write(page)
    if not to_stdout:
        echo(f"wrote {output}", err=True)


def delivery_options(func: Any) -> Any:
    """``--concurrency``, ``--rate`` and ``--workers``, shared by the commands that deliver a
    campaign."""
    func = click.option(
        "--workers",
        type=click.IntRange(1, 256),
        help="Worker processes sharing the recipients (default: sending.workers, 0 = one "
        "per core).",
    )(func)
    func = click.option(
        "--rate", type=click.FloatRange(0), help="At most N messages per second (0: no limit)."
    )(func)
    return click.option(
        "--concurrency",
        type=click.IntRange(1, 256),
        help="SMTP connections at once (default: smtp.connections).",
    )(func)


#: What a terminal must never be sent from stored text: control characters (ESC starts
#: an escape sequence, BEL rings), line separators and bidirectional overrides.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def shown(value: object) -> str:
    """A stored value as one line of a terminal: no control characters, no line breaks."""
    text = "" if value is None else str(value)
    return _CONTROLS.sub("", text.replace("\r", " ").replace("\n", " ").replace("\t", " "))


def echo(message: object = "", *, err: bool = False, nl: bool = True) -> None:
    """``click.echo`` for text that may hold stored data: control characters are dropped.

    Names, subjects, SMTP answers and bounce diagnostics come from other
    people; an escape sequence among them must not reach the terminal.
    """
    click.echo(_CONTROLS.sub("", str(message)), err=err, nl=nl)


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, with an ellipsis where it was cut."""
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def details(data: dict[str, Any]) -> str:
    """An event's details as ``key=value`` pairs (empty values left out)."""
    return " ".join(f"{key}={value}" for key, value in data.items() if value not in (None, ""))


def plural(count: int, word: str) -> str:
    """``1 message``, ``2 messages``: a count with its noun."""
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def _plain(value: Any) -> Any:
    """What ``json`` cannot write by itself: dataclasses (as their fields), paths, sets."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    return str(value)


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=_plain)


def print_json(data: Any) -> None:
    """Machine-readable output: one JSON document, UTF-8, keys in a stable order.

    The core hands the command line dataclasses; this is their one
    serialisation (their fields, states as their text).
    """
    click.echo(_json(data))


def print_json_rows(rows: Iterable[Any]) -> None:
    """A JSON array written item by item, as ``print_json`` writes a list, byte for byte.

    A listing of millions starts at once and never holds its items: each
    is serialised, written and let go.
    """
    out = sys.stdout
    opened = False
    for row in rows:
        # JSON text holds no raw line break but between its lines: indent each by two.
        item = "  " + _json(row).replace("\n", "\n  ")
        out.write(f",\n{item}" if opened else f"[\n{item}")
        opened = True
    out.write("\n]\n" if opened else "[]\n")
    out.flush()


def mailer_command(app: App) -> str:
    """How to call mailer again on the same database (for hints that name a command)."""
    return f"mailer --db {app.db_path}" if app.db_path else "mailer"


def resume_hint(app: App, campaign_id: int) -> str:
    """The command that picks a campaign up again, on the same database."""
    return f"{mailer_command(app)} campaigns resume {campaign_id}"


#: Rows a table measures its columns on; later rows keep those widths (a longer
#: cell pushes the rest of its own line), so a table of millions streams.
TABLE_MEASURED = 1000


def print_table(rows: Iterable[Any], columns: list[str], **shown_as: Callable[[Any], Any]) -> None:
    """A plain aligned table of dicts or dataclasses; plain text pipes and copies well.

    ``shown_as`` maps a column to how its value is shown (shortened, say).
    The rows are read once, as they come: the widths are those of the first
    ``TABLE_MEASURED`` rows, and the first line is out before the rest is read.
    """
    stream = iter(rows)
    measured = [
        [shown(_show(row, c, shown_as)) for c in columns]
        for row in itertools.islice(stream, TABLE_MEASURED)
    ]
    if not measured:
        echo("(none)")
        return
    widths = [max(len(c), *(len(row[i]) for row in measured)) for i, c in enumerate(columns)]

    def line(cells: list[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(cells, widths, strict=True)).rstrip()

    # Written a block of lines at a time: one write per row would be a system
    # call per row on a listing of millions.
    echo("\n".join([line(columns), *(line(cells) for cells in measured)]))
    while block := list(itertools.islice(stream, TABLE_MEASURED)):
        echo("\n".join(line([shown(_show(row, c, shown_as)) for c in columns]) for row in block))


def print_csv(rows: Iterable[Any], columns: list[str]) -> None:
    """Rows as CSV with a header, streamed; cells a spreadsheet would run are escaped."""
    out = sys.stdout
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(
            escape_cell(value) if isinstance(value := _show(row, c, {}), str) else value
            for c in columns
        )
    out.flush()


def _show(row: Any, column: str, shown_as: dict[str, Callable[[Any], Any]]) -> Any:
    value = row.get(column) if isinstance(row, dict) else getattr(row, column, None)
    return shown_as[column](value) if column in shown_as and value is not None else value


def confirm_or_refuse(question: str, *, yes: bool) -> None:
    """Ask on a terminal; off a terminal, refuse unless ``--yes`` was given."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise click.UsageError("not on a terminal: pass --yes to confirm")
    click.confirm(question, abort=True)
