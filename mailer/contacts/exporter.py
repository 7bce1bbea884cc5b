"""Export: subscribers as CSV or JSON Lines, and everything held about one person.

The CSV is written so that ``mailer subscribers import`` reads it back into
the same subscribers, names, languages, attributes and statuses. The rules
that make the round trip hold:

* columns are ``email``, ``name``, ``status``, ``language`` (a BCP 47 tag, empty
  when unknown), then one per attribute (sorted);
* an attribute whose name the importer would read as something else (``email``,
  ``name``, ``status``, ``language``, ``first name``, ``Vorname``, ...) or that
  has surrounding spaces is written as ``attribute:NAME``, which the importer
  maps back to ``NAME``;
* an empty cell means "no such attribute", and cells are stripped on import,
  so attribute values that are empty or have surrounding spaces do not
  survive; values that are not text (set through other tools) come back as
  their JSON text;
* a cell a spreadsheet would run as a formula (starting with ``=``, ``+``,
  ``-`` or ``@``, after any apostrophes) is written behind one more
  apostrophe, and the importer removes exactly one: opened in a spreadsheet
  the export shows text, never runs it, and it still imports back unchanged;
* ``status`` is the subscriber's own status; in an export of one list it is
  the member's status on that list: the subscriber's status when it is not
  active, else ``unsubscribed`` for someone who left the list, ``unconfirmed``
  for someone whose double opt-in is pending, else ``active``. The importer
  keeps these opt-outs and never subscribes them, and lets the unconfirmed
  join unconfirmed.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from typing import Any, TextIO, TypeVar

from mailer.contacts.addresses import address_key
from mailer.contacts.columns import attribute_column, escape_cell
from mailer.errors import InputError, NothingStored
from mailer.store import (
    bounces,
    deliveries,
    events,
    lists,
    replies,
    subscriptions,
    suppressions,
)
from mailer.store.database import Store
from mailer.store.people import ExportRow, attribute_keys, for_export
from mailer.store.subscribers import find_subscriber

FORMATS = ("csv", "jsonl")


def _cell(value: Any) -> str:
    return escape_cell(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))


def _status(row: ExportRow) -> str:
    if row.status == "active" and row.member_status in ("unsubscribed", "unconfirmed"):
        return str(row.member_status)
    return row.status


def iter_export_rows(store: Store, *, list_id: int | None = None) -> Iterator[dict[str, Any]]:
    """One dict per subscriber as the JSON Lines export writes it, streamed from the store."""
    for row in for_export(store, list_id):
        item: dict[str, Any] = {
            "email": row.email,
            "name": row.name,
            "status": _status(row),
            "language": row.language,
            "attributes": json.loads(row.attributes or "{}"),
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
        if list_id is not None:
            item["subscription"] = {
                "status": row.member_status,
                "consent_at": row.consent_at,
                "consent_method": row.consent_method,
                "consent_source": row.consent_source,
            }
        yield item


T = TypeVar("T")

#: Rows written between two calls of an export's ``progress``.
PROGRESS_EVERY = 1000


def export_subscribers(
    store: Store,
    out: TextIO,
    *,
    list_id: int | None = None,
    fmt: str = "csv",
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write every subscriber (or one list's members) to ``out``, row by row as they are
    read; returns how many. ``progress(written)`` is called every ``PROGRESS_EVERY`` rows."""
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r} (one of: {', '.join(FORMATS)})")
    written = _Written(progress)
    # Read in one snapshot, so the header and the rows agree even while others write.
    with store.snapshot():
        if fmt == "jsonl":
            for item in written.each(iter_export_rows(store, list_id=list_id)):
                out.write(json.dumps(item, ensure_ascii=False, sort_keys=True) + "\n")
            return written.count
        keys = attribute_keys(store, list_id)
        # The standard CRLF: the writer then quotes any cell holding \r or \n.
        writer = csv.writer(out)
        header = ["email", "name", "status", "language", *(attribute_column(k) for k in keys)]
        writer.writerow([escape_cell(title) for title in header])
        for row in written.each(for_export(store, list_id)):
            attributes = json.loads(row.attributes or "{}")
            writer.writerow(
                [
                    escape_cell(row.email),
                    escape_cell(row.name),
                    _status(row),
                    row.language,
                    *(_cell(attributes[k]) if k in attributes else "" for k in keys),
                ]
            )
    return written.count


class _Written:
    """Counts the rows of an export as each is written, telling ``progress`` the count
    after every ``PROGRESS_EVERY``-th."""

    def __init__(self, progress: Callable[[int], None] | None) -> None:
        self.count = 0
        self._progress = progress

    def each(self, rows: Iterable[T]) -> Iterator[T]:
        """``rows`` as they come; each counts once the caller asks for the next."""
        for row in rows:
            yield row
            self.count += 1
            if self._progress is not None and self.count % PROGRESS_EVERY == 0:
                self._progress(self.count)


def export_person(store: Store, email: str) -> dict[str, Any]:
    """Everything stored about one address (a GDPR access request).

    The subscriber record, each subscription with its consent proof, the
    history of events, the deliveries and bounces, their replies to circulars
    (with the names of the files that came with them), and any suppression
    entry that names the address, its hash or its domain. ``NothingStored``
    when nothing at all is held.
    """
    key = address_key(email)
    with store.snapshot():
        named = [asdict(entry) for entry in suppressions.naming(store, key)]
        subscriber = find_subscriber(store, email)
        subscriber_id = subscriber.id if subscriber is not None else None
        reports = [asdict(b) for b in bounces.about(store, subscriber_id, key)]
        answers = [asdict(r) for r in replies.about(store, subscriber_id, key)]
        if subscriber is None:
            if not named and not reports and not answers:
                raise NothingStored(email)
            return {"email": key, "subscriber": None, "bounces": reports, "replies": answers,
                    "suppressions": named}
        return {
            "email": subscriber.email,
            "subscriber": asdict(subscriber),
            "subscriptions": [asdict(s) for s in subscriptions.of_subscriber(store, subscriber.id)],
            "events": [asdict(e) for e in events.history(store.conn, subscriber.id)],
            "deliveries": deliveries.of_subscriber(store, subscriber.id),
            "bounces": reports,
            "replies": answers,
            "suppressions": named,
            "removed_list_optouts": lists.optouts_of(store, subscriber.id),
        }
