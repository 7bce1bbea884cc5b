"""What each row of one import batch becomes: added, known, updated, suppressed, duplicate.

``mailer.contacts.importer`` reads and validates the file; this decides, a
batch at a time, with the store's set-based lookups (``store.bulk_import``,
``store.suppressions``), and hands the store the rows to write. The rules
are in the importer's docstring.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import NamedTuple

from mailer import clock
from mailer.store import bulk_import
from mailer.store.events import dump
from mailer.store.models import SUPPRESSING_STATUSES, MailingList
from mailer.store.subscribers import last_id
from mailer.store.suppressions import suppressed_keys

_SUPPRESSING = frozenset(SUPPRESSING_STATUSES)


class ConsentEvidence(NamedTuple):
    """What an export says about a row's consent: when it was given ("" when it does not
    say), and the evidence as the export wrote it (its opt-in and confirm times and IPs)."""

    at: str
    detail: dict[str, str]


class Candidate(NamedTuple):
    """A valid row waiting for its batch: where it was, who, and what it says."""

    line: int
    email: str
    key: str
    name: str
    attributes: dict[str, str]
    status: str
    #: A normalised language tag, or "" when the file does not say.
    language: str = ""
    consent: ConsentEvidence | None = None


@dataclass
class ImportCounts:
    """The outcome of every non-blank data row, each counted exactly once.

    ``rows == added + already_subscribed + updated + suppressed + invalid + duplicates``.
    ``created`` (new subscriber records, including opt-outs kept from the file)
    and ``status_changed`` (opt-outs applied to existing subscribers with
    ``update``) say more about some of those rows; they are not outcomes.
    """

    rows: int = 0
    added: int = 0
    already_subscribed: int = 0
    updated: int = 0
    suppressed: int = 0
    invalid: int = 0
    duplicates: int = 0
    created: int = 0
    status_changed: int = 0

    def counts(self) -> dict[str, int]:
        """The counters alone, e.g. for the ``imported`` event."""
        return {name: getattr(self, name) for name in ImportCounts.__dataclass_fields__}


@dataclass(frozen=True)
class BatchContext:
    """What stays the same for every batch of one import."""

    mailing_list: MailingList
    update: bool
    dry_run: bool
    source: str
    #: The program whose export the file is (``formats.Export.name``), or "".
    export: str = ""


def write_batch(
    conn: sqlite3.Connection,
    batch: list[Candidate],
    context: BatchContext,
    counts: ImportCounts,
    seen: bulk_import.SeenAddresses,
) -> None:
    """Classify a batch and, unless it is a dry run, write it."""
    if not batch:
        return
    unique = _first_occurrences(batch, seen, counts)
    existing: dict[str, bulk_import.Known] = {}
    for row in bulk_import.known(conn, list(unique), context.mailing_list.id):
        if seen.was_created(row.id):
            del unique[row.key]  # created from an earlier row of this file
            counts.duplicates += 1
        else:
            existing[row.key] = row
    if not unique:
        return
    keys = list(unique)
    blocked = suppressed_keys(conn, keys)
    first_id = next_id = 0
    if not context.dry_run and len(existing) < len(unique):
        # Safe under BEGIN IMMEDIATE: no other writer can take an id meanwhile.
        next_id = last_id(conn)
        first_id = next_id + 1
    writes = bulk_import.Writes()
    now = clock.now_iso()
    for key, candidate in unique.items():
        if key in blocked:
            counts.suppressed += 1
            continue
        found = existing.get(key)
        if found is None:
            next_id += 1
            _new_person(candidate, next_id, context, counts, writes, now)
        else:
            _known_person(candidate, found, context, counts, writes, now)
    if context.dry_run:
        seen.store(keys)
        return
    # Every address not created here must be remembered by key; the created ones by id.
    seen.store([key for key in keys if key in existing or key in blocked])
    if writes.people:
        seen.created(first_id, next_id)
    bulk_import.write(conn, writes)


def _first_occurrences(
    batch: list[Candidate], seen: bulk_import.SeenAddresses, counts: ImportCounts
) -> dict[str, Candidate]:
    """The batch's first occurrence of each address not met in an earlier batch's table."""
    unique: dict[str, Candidate] = {}
    for candidate in batch:
        if candidate.key in unique:
            counts.duplicates += 1
        else:
            unique[candidate.key] = candidate
    for key in seen.stored(list(unique)):
        del unique[key]
        counts.duplicates += 1
    return unique


def _membership(row: Candidate, context: BatchContext, person_id: int, now: str) -> tuple[
    int, int, str, str, str, str | None, str, str, str
]:
    """The subscription row for a person joining the list from this file's row.

    A row marked unconfirmed (a pending double opt-in, as the exporter writes
    it) joins unconfirmed: moving a list never turns a pending consent into a
    given one. The consent detail names the line, and the export and its
    evidence when the file is one; consent was given when the export says so.
    """
    status = "unconfirmed" if row.status == "unconfirmed" or context.mailing_list.double_optin \
        else "confirmed"
    consent_at = now
    if row.consent is None and not context.export:
        detail = f'{{"line": {row.line}}}'  # most rows: no encoder needed
    else:
        evidence = row.consent.detail if row.consent is not None else {}
        detail = dump({"line": row.line, "export": context.export, **evidence})
        consent_at = row.consent.at if row.consent is not None and row.consent.at else now
    return (
        context.mailing_list.id, person_id, status, now, now,
        consent_at if status == "confirmed" else None, "import", context.source, detail,
    )


def _new_person(
    row: Candidate,
    person_id: int,
    context: BatchContext,
    counts: ImportCounts,
    writes: bulk_import.Writes,
    now: str,
) -> None:
    if row.status in _SUPPRESSING:
        # An opt-out carried over from another system: keep it, subscribe nothing.
        counts.suppressed += 1
        status = row.status
    else:
        counts.added += 1
        status = "active"
        writes.memberships.append(_membership(row, context, person_id, now))
    counts.created += 1
    attributes = dump(row.attributes) if row.attributes else "{}"
    writes.people.append(
        (person_id, row.email, row.key, row.name, attributes, status, now, now, row.language)
    )


def _known_person(
    row: Candidate,
    found: bulk_import.Known,
    context: BatchContext,
    counts: ImportCounts,
    writes: bulk_import.Writes,
    now: str,
) -> None:
    if found.status in _SUPPRESSING or found.member_status == "unsubscribed":
        counts.suppressed += 1
        return
    if row.status in _SUPPRESSING:
        counts.suppressed += 1
        if context.update:
            counts.status_changed += 1
            writes.statuses.append((row.status, now, found.id))
            detail = {"from": found.status, "to": row.status, "reason": f"import {context.source}"}
            writes.events.append((now, found.id, None, "status", dump(detail)))
        return
    changed = context.update and _update(row, found, context, writes, now)
    if found.member_status is None:
        counts.added += 1
        writes.memberships.append(_membership(row, context, found.id, now))
    elif changed:
        counts.updated += 1
    else:
        counts.already_subscribed += 1


def _update(
    row: Candidate,
    found: bulk_import.Known,
    context: BatchContext,
    writes: bulk_import.Writes,
    now: str,
) -> bool:
    """With ``update``: the row's name, attributes and language over a known person's;
    whether anything changed (an empty cell changes nothing)."""
    before = json.loads(found.attributes or "{}")
    merged = {**before, **row.attributes}
    new_name = row.name or found.name
    new_language = row.language or found.language
    profile = merged != before or new_name != found.name
    if not profile and new_language == found.language:
        return False
    if profile:
        writes.profiles.append((new_name, dump(merged), now, found.id))
    if new_language != found.language:
        writes.languages.append((new_language, now, found.id))
    why = dump({"method": "import", "source": context.source})
    writes.events.append((now, found.id, None, "updated", why))
    return True
