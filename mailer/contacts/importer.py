"""CSV import: a contact file into a mailing list, streamed, batched, idempotent.

The file is first read through once, without writing anything, so that a
wrong encoding, a missing email column or broken CSV is reported with its
line before the first row is stored. Then it is streamed row by row: memory
holds one batch, never the file (see ``SeenAddresses`` for how duplicates are
found without a set of every address). Each batch of a few thousand rows is one
``BEGIN IMMEDIATE`` transaction, so another mailer process waits at most one
batch for the write lock; if the database itself fails halfway (disk full,
lock timeout, Ctrl-C), the batches written stay and running the same import
again completes it. With ``strict`` the whole import is one transaction
instead (other writers wait for it): the first invalid row rolls everything back.

Rules, in the order they are applied to a row:

* a row whose address is missing or invalid is *invalid* (reported with its
  line and the reason); a row with more non-empty cells than the header too;
* an address seen earlier in the file (compared by key, so case does not
  matter) is a *duplicate*; the first occurrence wins;
* an address in the suppression list (the address, its hash once forgotten,
  or its domain), whose subscriber is unsubscribed, bounced, complained or
  blocked, or who left this list, is *suppressed*: never (re)subscribed;
* a row whose ``status`` column holds one of those statuses is an opt-out
  carried over from another system: it is *suppressed* too, and a new address
  is stored with that status (no subscription) so the opt-out is kept. An
  existing subscriber's status is changed only with ``update``;
* a row whose ``status`` is ``unconfirmed`` joins the list unconfirmed (it
  still needs its double opt-in) instead of confirmed;
* a new address becomes a subscriber on the list, an existing subscriber not
  yet on it is added to it (both *added*); one already on it is *already
  subscribed*, or *updated* when ``update`` changed their name or attributes.
  Without ``update`` an existing subscriber's data is never touched.

So every non-blank data row is counted exactly once, and importing the same
file again changes nothing. Empty cells are not attributes; names and
attribute values are stripped of surrounding spaces.

The audit trail of an import is the subscription's consent proof (method
``import``, source the file name, the line in the detail) plus one
``imported`` event per run and list. One event per created subscriber would
double the rows written for no extra information; changes to existing
subscribers (``update``, a status from the file) do get one event each.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mailer.contacts.addresses import normalize_address
from mailer.contacts.import_batch import Candidate, ImportCounts, SeenAddresses, write_batch
from mailer.errors import AddressError, InputError
from mailer.store.database import Store
from mailer.store.events import record_event
from mailer.store.models import SUPPRESSING_STATUSES, MailingList

EMAIL_COLUMNS = ("email", "e-mail", "mail", "email address", "e-mail address")
NAME_COLUMNS = ("name", "full name")
FIRST_NAME_COLUMNS = ("first name", "firstname", "given name", "forename")
LAST_NAME_COLUMNS = ("last name", "lastname", "surname", "family name")
STATUS_COLUMN = "status"
#: A column named ``attribute:KEY`` is the attribute KEY, whatever KEY is; the
#: exporter writes attributes whose names would otherwise be read as something else so.
ATTRIBUTE_PREFIX = "attribute:"
DELIMITERS = (",", ";", "\t")
#: A cell starting with one of these is a formula to a spreadsheet. The exporter
#: writes such a cell behind an apostrophe (the spreadsheets' own "this is text"
#: mark); the importer drops that one apostrophe again.
FORMULA_START = ("=", "+", "-", "@")
#: ``unconfirmed``: active, but joins the list unconfirmed (a pending double opt-in).
ACCEPTED_STATUSES = ("", "active", "unconfirmed", *SUPPRESSING_STATUSES)

#: How many invalid rows the report keeps in memory (all go to ``on_invalid``).
KEEP_INVALID = 1000
_CHUNK = 1 << 20

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class InvalidRow:
    """A row that was not imported, where it is, and why."""

    line: int
    email: str
    reason: str


@dataclass
class ImportReport(ImportCounts):
    """What an import did; ``rows`` = the sum of the six outcomes."""

    path: str = ""
    list_name: str = ""
    dry_run: bool = False
    seconds: float = 0.0
    invalid_rows: list[InvalidRow] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (invalid rows capped at ``KEEP_INVALID``)."""
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        return data


@dataclass(frozen=True)
class Columns:
    """Where each thing is in a row, worked out once from the header."""

    email: int
    name: int | None
    first_name: int | None
    last_name: int | None
    status: int | None
    attributes: tuple[tuple[int, str], ...]
    width: int


def unescape_cell(cell: str) -> str:
    """A cell as the exporter meant it: ``'=x`` is ``=x`` (and ``''=x`` is ``'=x``)."""
    if cell[:1] == "'" and cell.lstrip("'")[:1] in FORMULA_START:
        return cell[1:]
    return cell


def canonical_column(header: str) -> str:
    """A header as compared with the known column names: case, ``_`` and spacing ignored."""
    return " ".join(header.strip().lower().replace("_", " ").split())


def map_columns(header: list[str], *, path: str | Path, line: int) -> Columns:
    """Find the email, name, status and attribute columns of a header row."""
    roles: dict[str, int] = {}
    attributes: list[tuple[int, str]] = []
    seen: set[str] = set()
    for index, raw in enumerate(header):
        if raw.lstrip()[:1] == "'":
            raw = unescape_cell(raw.lstrip())
        title = raw.strip()
        if not title:
            continue
        if title.startswith(ATTRIBUTE_PREFIX):
            title = raw.lstrip()  # the key after the prefix may end in spaces
        if title in seen:
            raise InputError(f"the header names column {title!r} twice", path=path, line=line)
        seen.add(title)
        if title.startswith(ATTRIBUTE_PREFIX):
            # Taken verbatim after the prefix: the exporter uses it for awkward names.
            attributes.append((index, raw.lstrip()[len(ATTRIBUTE_PREFIX) :]))
            continue
        canonical = canonical_column(title)
        for role, names in (
            ("email", EMAIL_COLUMNS),
            ("name", NAME_COLUMNS),
            ("first", FIRST_NAME_COLUMNS),
            ("last", LAST_NAME_COLUMNS),
            ("status", (STATUS_COLUMN,)),
        ):
            if canonical in names:
                if role in roles:
                    raise InputError(
                        f"two {role} columns: {header[roles[role]]!r} and {title!r}",
                        path=path,
                        line=line,
                    )
                roles[role] = index
                break
        else:
            attributes.append((index, title))
    if "email" not in roles:
        shown = ", ".join(repr(h) for h in header)
        raise InputError(
            "no email column: a header row naming one is required "
            f"({', '.join(EMAIL_COLUMNS)}); the first row is {shown}",
            path=path,
            line=line,
        )
    if "name" in roles:
        # A full name wins; first and last name columns then stay attributes.
        for role in ("first", "last"):
            if role in roles:
                index = roles.pop(role)
                attributes.append((index, header[index].strip()))
    return Columns(
        email=roles["email"],
        name=roles.get("name"),
        first_name=roles.get("first"),
        last_name=roles.get("last"),
        status=roles.get("status"),
        attributes=tuple(sorted(attributes)),
        width=len(header),
    )


def check_utf8(path: Path) -> None:
    """Read the whole file once and fail, naming the line, if it is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines_before = 0
    with path.open("rb") as handle:
        head = handle.read(4)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise InputError("the file is UTF-16; save it as UTF-8 and import again", path=path)
        handle.seek(0)
        while True:
            chunk = handle.read(_CHUNK)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                consumed = chunk[: max(exc.start, 0)]
                line = lines_before + consumed.count(b"\n") + 1
                bad = chunk[exc.start : exc.start + 1].hex().upper() if chunk else "end"
                raise InputError(
                    f"not UTF-8 text (byte 0x{bad}); save the file as UTF-8 and import again",
                    path=path,
                    line=line,
                ) from None
            if not chunk:
                return
            lines_before += chunk.count(b"\n")


def sniff_delimiter(header_line: str) -> str:
    """The delimiter of a header row: the most frequent of ``,`` ``;`` tab that finds an
    email column when the row is split on it (``,`` when none does and none occurs).

    Trying the split, not just counting, keeps a header whose other column
    names happen to contain semicolons from being misread.
    """
    ranked = sorted(DELIMITERS, key=lambda d: -header_line.count(d))
    for delimiter in ranked:
        try:
            cells = next(csv.reader([header_line], delimiter=delimiter), [])
        except csv.Error:
            continue
        if any(canonical_column(cell) in EMAIL_COLUMNS for cell in cells):
            return delimiter
    return ranked[0] if header_line.count(ranked[0]) else ","


def _rows(
    text: io.TextIOWrapper, path: Path
) -> tuple[Columns, int, Iterator[tuple[int, list[str]]]]:
    """The column map, the header's line, and (line, cells) for every data row."""
    line = 0
    first = ""
    while True:
        first = text.readline()
        if not first:
            raise InputError("the file is empty; a header row is required", path=path)
        line += 1
        if first.strip():
            break
    # Strict: a quote left open is an error, not the rest of the file swallowed into one cell.
    reader = csv.reader(
        itertools.chain((first,), text), delimiter=sniff_delimiter(first), strict=True
    )
    header_line = line
    try:
        header = next(reader)
    except csv.Error as exc:
        raise InputError(f"cannot read the header row: {exc}", path=path, line=line) from None
    columns = map_columns(header, path=path, line=header_line)
    offset = header_line - 1

    def rows() -> Iterator[tuple[int, list[str]]]:
        previous = reader.line_num
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                reason = (
                    "a quoted field that starts on this line is never closed"
                    if "end of data" in str(exc)
                    else f"unreadable CSV: {exc}"
                )
                raise InputError(reason, path=path, line=offset + previous + 1) from None
            start = offset + previous + 1
            previous = reader.line_num
            yield start, row

    return columns, header_line, rows()


def check_file(path: Path) -> None:
    """Read the whole file once, as the import will, and fail on anything wrong with it.

    Encoding, header and CSV syntax errors are thus found before the first
    batch is written: an import that fails because of its file changes nothing.
    """
    check_utf8(path)
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        _, _, rows = _rows(text, path)
        for _ in rows:
            pass


def import_csv(
    store: Store,
    path: str | Path,
    mailing_list: MailingList,
    *,
    update: bool = False,
    strict: bool = False,
    dry_run: bool = False,
    check_deliverability: bool = False,
    allow_special_use: bool = False,
    batch_size: int = 5000,
    progress: Progress | None = None,
    on_invalid: Callable[[InvalidRow], None] | None = None,
) -> ImportReport:
    """Import a CSV file into ``mailing_list``; see the module docstring for the rules.

    ``progress(bytes_read, bytes_total)`` is called after each batch;
    ``on_invalid`` receives every invalid row (the report keeps the first
    ``KEEP_INVALID``). With ``dry_run`` nothing is written but the counts are
    what a real run would give. With ``strict`` the first invalid row raises
    ``InputError`` and the database is left as it was.
    """
    path = Path(path)
    started = time.monotonic()
    report = ImportReport(path=str(path), list_name=mailing_list.name, dry_run=dry_run)
    if not path.is_file():
        raise InputError("no such file" if not path.exists() else "not a file", path=path)
    check_file(path)
    total = path.stat().st_size
    conn = store.conn
    seen = SeenAddresses(conn)
    source = path.name

    def invalid(line: int, email: str, reason: str) -> None:
        if strict:
            raise InputError(
                f"{email!r}: {reason} (--strict: nothing was imported)", path=path, line=line
            )
        report.invalid += 1
        row = InvalidRow(line=line, email=email, reason=reason)
        if len(report.invalid_rows) < KEEP_INVALID:
            report.invalid_rows.append(row)
        if on_invalid is not None:
            on_invalid(row)

    whole = store.transaction() if strict and not dry_run else contextlib.nullcontext()
    try:
        with whole, path.open("rb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            columns, _, rows = _rows(text, path)
            batch: list[Candidate] = []

            def flush() -> None:
                with _batch_transaction(store, strict=strict, dry_run=dry_run):
                    write_batch(
                        conn,
                        batch,
                        mailing_list,
                        report,
                        seen,
                        update=update,
                        dry_run=dry_run,
                        source=source,
                    )
                batch.clear()
                if progress is not None:
                    progress(raw.tell(), total)

            _scan(
                columns, rows, batch, report, invalid, flush, batch_size,
                check_deliverability, allow_special_use,
            )
            flush()
            changed = report.added + report.updated + report.status_changed
            if not dry_run and changed:
                with store.transaction() as tx:
                    detail = {"file": source, **report.counts()}
                    record_event(tx, None, "imported", detail, list_id=mailing_list.id)
    except UnicodeDecodeError as exc:  # the file changed under us after the check
        raise InputError(f"not UTF-8 text: {exc.reason}", path=path) from None
    finally:
        with contextlib.suppress(Exception):
            seen.close()
    report.seconds = time.monotonic() - started
    return report


@contextlib.contextmanager
def _batch_transaction(store: Store, *, strict: bool, dry_run: bool) -> Iterator[None]:
    """One batch's transaction: its own BEGIN IMMEDIATE, or none inside a strict run.

    A dry run writes only to the TEMP table of addresses seen; a deferred
    transaction keeps that to one commit per batch without taking the write lock.
    """
    if strict and not dry_run:
        yield
    elif dry_run:
        store.conn.execute("BEGIN")
        try:
            yield
        finally:
            store.conn.execute("COMMIT")
    else:
        with store.transaction():
            yield


def _line_break_in(row: list[str], *columns: int | None) -> str:
    """The first of the email and name columns whose cell holds a line break, or ""."""
    names = ("email", "name", "first name", "last name")
    for what, index in zip(names, columns, strict=True):
        if index is not None and index < len(row) and ("\n" in row[index] or "\r" in row[index]):
            return what
    return ""


def _scan(
    columns: Columns,
    rows: Iterator[tuple[int, list[str]]],
    batch: list[Candidate],
    report: ImportReport,
    invalid: Callable[[int, str, str], None],
    flush: Callable[[], None],
    batch_size: int,
    check_deliverability: bool,
    allow_special_use: bool,
) -> None:
    """The per-row loop: parse, validate and queue each row; flush full batches."""
    email_at, name_at, status_at = columns.email, columns.name, columns.status
    first_at, last_at = columns.first_name, columns.last_name
    attribute_columns = columns.attributes
    width = columns.width
    for line, row in rows:
        if not any(row):
            continue  # a blank line, or one of only delimiters
        report.rows += 1
        cells = len(row)
        raw = row[email_at].strip() if email_at < cells else ""
        if raw[:1] == "'":
            raw = unescape_cell(raw)
        if cells > width and any(cell.strip() for cell in row[width:]):
            invalid(line, raw, f"{cells} fields but the header has {width}")
            continue
        broken = _line_break_in(row, email_at, name_at, first_at, last_at)
        if broken:
            invalid(line, raw.splitlines()[0] if raw else "",
                    f"the {broken} cell holds a line break (a quote left open?)")
            continue
        try:
            address = normalize_address(
                raw,
                check_deliverability=check_deliverability,
                allow_special_use=allow_special_use,
            )
        except AddressError as exc:
            invalid(line, raw, exc.reason.removeprefix(f"invalid address {raw!r}: "))
            continue
        status = ""
        if status_at is not None and status_at < cells:
            status = row[status_at].strip().lower()
            if status not in ACCEPTED_STATUSES:
                invalid(line, raw, f"unknown status {status!r}")
                continue
        if name_at is not None:
            name = row[name_at].strip() if name_at < cells else ""
            if name[:1] == "'":
                name = unescape_cell(name)
        elif first_at is not None or last_at is not None:
            parts = [row[i].strip() for i in (first_at, last_at) if i is not None and i < cells]
            name = " ".join(p for p in parts if p)
        else:
            name = ""
        attributes = {}
        for index, key in attribute_columns:
            if index < cells:
                value = row[index].strip()
                if value:
                    attributes[key] = unescape_cell(value) if value[0] == "'" else value
        batch.append(Candidate(line, address.email, address.key, name, attributes, status))
        if len(batch) >= batch_size:
            flush()
