"""CSV import: a contact file into a mailing list, streamed, batched, idempotent.

The file is first read through once, without writing anything, so that a
wrong encoding (``mailer.contacts.encodings``), a missing email column or
broken CSV is reported with its line before the first row is stored. The
header is mapped once (``mailer.contacts.columns``, which also recognises
other programs' exports, ``mailer.contacts.formats``); each row is read by
``mailer.contacts.rows``. Then it is streamed row by row: memory holds one
batch, never the file (see ``store.bulk_import.SeenAddresses`` for how
duplicates are found without a set of every address). Each batch of a few
thousand rows is one ``BEGIN IMMEDIATE`` transaction, so another mailer
process waits at most one batch for the write lock; if the database itself
fails halfway (disk full, lock timeout, Ctrl-C), the batches written stay
and running the same import again completes it. With ``strict`` the whole
import is one transaction instead (other writers wait for it): the first
invalid row rolls everything back.

Rules, in the order they are applied to a row:

* a row whose address is missing or invalid is *invalid* (reported with its
  line and the reason); a row with more non-empty cells than the header too,
  and one whose language cell is not a language tag, or whose export's
  consent time is not a time;
* an address seen earlier in the file (compared by key, so case does not
  matter) is a *duplicate*; the first occurrence wins;
* an address in the suppression list (the address, its hash once forgotten,
  or its domain), whose subscriber is unsubscribed, bounced, complained or
  blocked, or who left this list, is *suppressed*: never (re)subscribed;
* a row whose ``status`` column holds one of those statuses is an opt-out
  carried over from another system: it is *suppressed* too, and a new address
  is stored with that status (no subscription) so the opt-out is kept. An
  existing subscriber's status is changed only with ``update``. A row of a
  Mailchimp export of unsubscribed or cleaned members is such an opt-out
  (``unsubscribed``, ``bounced``) whatever its status column says;
* a row whose ``status`` is ``unconfirmed`` joins the list unconfirmed (it
  still needs its double opt-in) instead of confirmed;
* a new address becomes a subscriber on the list, an existing subscriber not
  yet on it is added to it (both *added*); one already on it is *already
  subscribed*, or *updated* when ``update`` changed their name, attributes or
  language. Without ``update`` an existing subscriber's data is never touched.

So every non-blank data row is counted exactly once, and importing the same
file again changes nothing. Empty cells are not attributes; names and
attribute values are stripped of surrounding spaces.

The audit trail of an import is the subscription's consent proof (method
``import``, source the file name, the line in the detail, and the export
with its own evidence when the file is one) plus one ``imported`` event per
run and list. One event per created subscriber would double the rows
written for no extra information; changes to existing subscribers
(``update``, a status from the file) do get one event each.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mailer.contacts.addresses import normalize_address
from mailer.contacts.batch import BatchContext, Candidate, ImportCounts, write_batch
from mailer.contacts.columns import Columns, is_email_column, map_columns
from mailer.contacts.columns import unescape_cell as unescape_cell
from mailer.contacts.encodings import UTF8, check_encoding
from mailer.contacts.rows import (
    address_problem,
    attributes_of,
    cell,
    consent_evidence,
    name_of,
    opt_out,
    row_problem,
)
from mailer.errors import AddressError, InputError
from mailer.languages import normalize_tag
from mailer.store.bulk_import import SeenAddresses
from mailer.store.database import Store
from mailer.store.events import record_event
from mailer.store.models import SUPPRESSING_STATUSES, MailingList

DELIMITERS = (",", ";", "\t")
#: ``unconfirmed``: active, but joins the list unconfirmed (a pending double opt-in).
ACCEPTED_STATUSES = ("", "active", "unconfirmed", *SUPPRESSING_STATUSES)

#: How many invalid rows the report keeps in memory (all go to ``on_invalid``).
KEEP_INVALID = 1000

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
    #: The codec the file was read with (``utf-8``: with or without a BOM).
    encoding: str = ""
    #: The program whose export the header is (``formats.Export.name``), or "".
    export: str = ""
    #: The first ``KEEP_INVALID`` of them (``on_invalid`` hears of every one).
    invalid_rows: list[InvalidRow] = field(default_factory=list)


@dataclass(frozen=True)
class ImportOptions:
    """How to import: the switches of ``subscribers import``."""

    update: bool = False
    strict: bool = False
    dry_run: bool = False
    check_deliverability: bool = False
    allow_special_use: bool = False
    batch_size: int = 5000
    #: The file's encoding as the user named it; None: UTF-8.
    encoding: str | None = None
    #: The header text of the email and name columns, when the names are not known ones.
    email_column: str | None = None
    name_column: str | None = None


def sniff_delimiter(header_line: str, email_column: str | None = None) -> str:
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
        if any(is_email_column(cell, email_column) for cell in cells):
            return delimiter
    return ranked[0] if header_line.count(ranked[0]) else ","


def _rows(
    text: io.TextIOWrapper, path: Path, options: ImportOptions
) -> tuple[Columns, Iterator[tuple[int, list[str]]]]:
    """The column map, and (line, cells) for every data row."""
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
    delimiter = sniff_delimiter(first, options.email_column)
    reader = csv.reader(itertools.chain((first,), text), delimiter=delimiter, strict=True)
    header_line = line
    try:
        header = next(reader)
    except csv.Error as exc:
        raise InputError(f"cannot read the header row: {exc}", path=path, line=line) from None
    columns = map_columns(
        header,
        path=path,
        line=header_line,
        email_column=options.email_column,
        name_column=options.name_column,
    )
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

    return columns, rows()


def check_file(path: Path, options: ImportOptions) -> str:
    """Read the whole file once, as the import will, and fail on anything wrong with it;
    returns the codec that reads it.

    Encoding, header and CSV syntax errors are thus found before the first
    batch is written: an import that fails because of its file changes nothing.
    """
    codec = check_encoding(path, options.encoding)
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding=codec, newline="")
        _, rows = _rows(text, path, options)
        for _ in rows:
            pass
    return codec


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
    encoding: str | None = None,
    email_column: str | None = None,
    name_column: str | None = None,
    progress: Progress | None = None,
    on_invalid: Callable[[InvalidRow], None] | None = None,
) -> ImportReport:
    """Import a CSV file into ``mailing_list``; see the module docstring for the rules.

    ``encoding`` names the file's codec (None: UTF-8, with or without BOM);
    ``email_column`` and ``name_column`` name those columns by their header
    text when the header's names are not known ones.
    ``progress(bytes_read, bytes_total)`` is called after each batch;
    ``on_invalid`` receives every invalid row (the report keeps the first
    ``KEEP_INVALID``). With ``dry_run`` nothing is written but the counts are
    what a real run would give. With ``strict`` the first invalid row raises
    ``InputError`` and the database is left as it was.
    """
    path = Path(path)
    options = ImportOptions(
        update=update,
        strict=strict,
        dry_run=dry_run,
        check_deliverability=check_deliverability,
        allow_special_use=allow_special_use,
        batch_size=batch_size,
        encoding=encoding,
        email_column=email_column,
        name_column=name_column,
    )
    if not path.is_file():
        raise InputError("no such file" if not path.exists() else "not a file", path=path)
    codec = check_file(path, options)
    run = _Import(store, path, mailing_list, options, progress, on_invalid)
    try:
        run.run(codec)
    except UnicodeDecodeError as exc:  # the file changed under us after the check
        raise InputError(f"not {codec} text: {exc.reason}", path=path) from None
    finally:
        with contextlib.suppress(Exception):
            run.seen.close()
    return run.report


class _Import:
    """One import run: the file streamed into batches, each written in its transaction."""

    def __init__(
        self,
        store: Store,
        path: Path,
        mailing_list: MailingList,
        options: ImportOptions,
        progress: Progress | None,
        on_invalid: Callable[[InvalidRow], None] | None,
    ) -> None:
        self.store = store
        self.path = path
        self.mailing_list = mailing_list
        self.options = options
        self.progress = progress
        self.on_invalid = on_invalid
        self.report = ImportReport(
            path=str(path), list_name=mailing_list.name, dry_run=options.dry_run
        )
        self.seen = SeenAddresses(store.conn)
        self.batch: list[Candidate] = []
        self.total = path.stat().st_size
        #: Each language cell's tag, normalised once (a column holds few distinct ones).
        self.tags: dict[str, str] = {}

    def run(self, codec: str) -> None:
        """Stream the file, batch by batch; strict: all in one transaction."""
        started = time.monotonic()
        strict = self.options.strict and not self.options.dry_run
        with (
            self.store.transaction() if strict else contextlib.nullcontext(),
            self.path.open("rb") as raw,
        ):
            text = io.TextIOWrapper(raw, encoding=codec, newline="")
            columns, rows = _rows(text, self.path, self.options)
            self.report.encoding = "utf-8" if codec == UTF8 else codec
            self.report.export = columns.export
            self.context = BatchContext(
                self.mailing_list,
                self.options.update,
                self.options.dry_run,
                self.path.name,
                columns.export,
            )
            for line, row in rows:
                candidate = self._candidate(columns, line, row)
                if candidate is not None:
                    self.batch.append(candidate)
                    if len(self.batch) >= self.options.batch_size:
                        self._flush(raw.tell())
            self._flush(raw.tell())
            self._record()
        self.report.seconds = round(time.monotonic() - started, 3)

    def _flush(self, position: int) -> None:
        """Write the batch in its own transaction (joined to the whole one when strict)."""
        # A dry run writes only the TEMP table of addresses seen: no write lock needed.
        dry = self.options.dry_run
        with self.store.snapshot() if dry else self.store.transaction() as conn:
            write_batch(conn, self.batch, self.context, self.report, self.seen)
        self.batch.clear()
        if self.progress is not None:
            self.progress(position, self.total)

    def _record(self) -> None:
        """One ``imported`` event for the run, when it changed anything."""
        report = self.report
        if self.options.dry_run or not (report.added + report.updated + report.status_changed):
            return
        with self.store.transaction() as conn:
            detail = {"file": self.context.source, **report.counts()}
            if self.context.export:
                detail["export"] = self.context.export
            record_event(conn, None, "imported", detail, list_id=self.mailing_list.id)

    def _invalid(self, line: int, email: str, reason: str) -> None:
        if self.options.strict:
            raise InputError(
                f"{email!r}: {reason} (--strict: nothing was imported)", path=self.path, line=line
            )
        self.report.invalid += 1
        row = InvalidRow(line=line, email=email, reason=reason)
        if len(self.report.invalid_rows) < KEEP_INVALID:
            self.report.invalid_rows.append(row)
        if self.on_invalid is not None:
            self.on_invalid(row)

    def _candidate(self, columns: Columns, line: int, row: list[str]) -> Candidate | None:
        """A row made into a candidate, or None (blank, or invalid and reported)."""
        if not any(row):
            return None  # a blank line, or one of only delimiters
        self.report.rows += 1
        raw = cell(row, columns.email)
        problem = row_problem(row, columns)
        if problem:
            self._invalid(line, raw.splitlines()[0] if raw else "", problem)
            return None
        try:
            address = normalize_address(
                raw,
                check_deliverability=self.options.check_deliverability,
                allow_special_use=self.options.allow_special_use,
            )
        except AddressError as exc:
            self._invalid(line, raw, address_problem(raw, exc))
            return None
        status = cell(row, columns.status).lower() if columns.status is not None else ""
        if columns.opt_outs:
            status = opt_out(row, columns) or status
        if status not in ACCEPTED_STATUSES:
            self._invalid(line, raw, f"unknown status {status!r}")
            return None
        language, consent = "", None
        if columns.language is not None or columns.consent:
            try:
                language = self._language(row, columns)
                consent = consent_evidence(row, columns)
            except ValueError as exc:
                self._invalid(line, raw, str(exc))
                return None
        return Candidate(
            line, address.email, address.key, name_of(row, columns), attributes_of(row, columns),
            status, language, consent,
        )

    def _language(self, row: list[str], columns: Columns) -> str:
        """The row's language tag, normalised; ``ValueError`` saying why it is not one."""
        if columns.language is None:
            return ""
        text = cell(row, columns.language)
        tag = self.tags.get(text)
        if tag is None:
            try:
                tag = self.tags[text] = normalize_tag(text)
            except InputError as exc:
                raise ValueError(exc.reason) from None
        return tag
