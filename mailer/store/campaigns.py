"""The ``campaigns`` table: one row per letter sent to a list, with the letter as sent."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from mailer import clock
from mailer.errors import CampaignNotFound
from mailer.store import deliveries
from mailer.store.database import Store
from mailer.store.models import Campaign, CampaignState, Condition, MailingList


def letter_hash(source: str) -> str:
    """The fingerprint that says "this letter was sent before" (its exact source text)."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def create(
    store: Store,
    *,
    lists: Sequence[MailingList],
    subject: str,
    letter_path: str,
    letter_source: str,
    segment: str = "",
    conditions: Sequence[Condition] = (),
    files: Sequence[CampaignFile] = (),
) -> Campaign:
    """Record a campaign to ``lists`` with its letter's files and snapshot its recipients,
    all in one transaction."""
    first = lists[0]
    with store.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO campaigns (list_id, list_name, subject, letter_path, letter_source, "
            "letter_hash, segment, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'created', ?)",
            (
                first.id,
                first.name,
                subject,
                letter_path,
                letter_source,
                letter_hash(letter_source),
                segment,
                clock.now_iso(),
            ),
        )
        campaign_id = int(cursor.lastrowid or 0)
        conn.executemany(
            "INSERT INTO campaign_lists (campaign_id, position, list_id, list_name) "
            "VALUES (?, ?, ?, ?)",
            [(campaign_id, n, each.id, each.name) for n, each in enumerate(lists)],
        )
        add_files(conn, campaign_id, files)
        ids = [each.id for each in lists]
        count = deliveries.snapshot(conn, campaign_id, ids, conditions)
        conn.execute("UPDATE campaigns SET recipients = ? WHERE id = ?", (count, campaign_id))
    return get(store, campaign_id)


@dataclass(frozen=True)
class CampaignList:
    """One of the lists a campaign goes to (``list_id`` is None once the list is removed)."""

    list_id: int | None
    name: str


@dataclass(frozen=True)
class CampaignFile:
    """A file that came with a campaign's letter: a translation, an attachment, an image."""

    role: str
    name: str
    language: str
    content: bytes


def add_files(conn: sqlite3.Connection, campaign_id: int, files: Sequence[CampaignFile]) -> None:
    """Keep the letter's files with the campaign (inside the transaction that makes it)."""
    conn.executemany(
        "INSERT INTO campaign_files (campaign_id, role, name, language, content) "
        "VALUES (?, ?, ?, ?, ?)",
        [(campaign_id, f.role, f.name, f.language, f.content) for f in files],
    )


def files_of(conn: sqlite3.Connection | Store, campaign_id: int) -> list[CampaignFile]:
    """The files kept with a campaign, by role and name."""
    rows = conn.execute(
        "SELECT role, name, language, content FROM campaign_files WHERE campaign_id = ? "
        "ORDER BY role, name",
        (campaign_id,),
    ).fetchall()
    return [CampaignFile(row[0], row[1], row[2], bytes(row[3])) for row in rows]


def file_of(conn: sqlite3.Connection | Store, campaign_id: int, name: str) -> CampaignFile | None:
    """One attachment or image kept with a campaign (never a translation's text), or None."""
    row = conn.execute(
        "SELECT role, name, language, content FROM campaign_files WHERE campaign_id = ? "
        "AND name = ? AND role IN ('attachment', 'image') ORDER BY role LIMIT 1",
        (campaign_id, name),
    ).fetchone()
    return CampaignFile(row[0], row[1], row[2], bytes(row[3])) if row is not None else None


def lists_of(conn: sqlite3.Connection | Store, campaign_id: int) -> list[CampaignList]:
    """The lists a campaign goes to, in the order they were given."""
    rows = conn.execute(
        "SELECT list_id, list_name FROM campaign_lists WHERE campaign_id = ? ORDER BY position",
        (campaign_id,),
    ).fetchall()
    return [CampaignList(row[0], row[1]) for row in rows]


def get(store: Store, campaign_id: int) -> Campaign:
    """The campaign with this id; ``CampaignNotFound`` if there is none."""
    row = store.one("SELECT * FROM campaigns WHERE id = ?", (campaign_id,))
    if row is None:
        raise CampaignNotFound(campaign_id)
    return Campaign.from_row(row)


def exists(conn: sqlite3.Connection | Store, campaign_id: int | None) -> bool:
    """Whether a campaign id (from a signed token) names a campaign we still have."""
    if campaign_id is None:
        return False
    row = conn.execute("SELECT 1 FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
    return row is not None


def is_cancelled(store: Store, campaign_id: int) -> bool:
    """Whether the campaign was cancelled (or removed) since it was read."""
    row = store.one("SELECT state FROM campaigns WHERE id = ?", (campaign_id,))
    return row is None or row[0] == CampaignState.CANCELLED


def newest_first(store: Store) -> list[Campaign]:
    """Every campaign, newest first."""
    return [Campaign.from_row(r) for r in store.all("SELECT * FROM campaigns ORDER BY id DESC")]


def earlier(store: Store, list_id: int, source_hash: str) -> list[Campaign]:
    """Campaigns that sent this letter to this list, among others or alone (not those
    cancelled before sending anything)."""
    rows = store.all(
        "SELECT c.* FROM campaigns c WHERE c.letter_hash = ? AND EXISTS (SELECT 1 FROM "
        "campaign_lists l WHERE l.campaign_id = c.id AND l.list_id = ?) AND (c.state != "
        "'cancelled' OR EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = c.id "
        "AND d.state = 'sent')) ORDER BY c.id",
        (source_hash, list_id),
    )
    return [Campaign.from_row(r) for r in rows]


def set_state(store: Store, campaign_id: int, state: CampaignState) -> None:
    """Move a campaign to ``state``, stamping when it started and finished.

    A cancelled campaign stays cancelled.
    """
    now = clock.now_iso()
    with store.transaction() as conn:
        if state is CampaignState.SENDING:
            conn.execute(
                "UPDATE campaigns SET state = 'sending', started_at = coalesce(started_at, ?), "
                "finished_at = NULL WHERE id = ? AND state != 'cancelled'",
                (now, campaign_id),
            )
        elif state is CampaignState.DONE:
            conn.execute(
                "UPDATE campaigns SET state = 'done', finished_at = ? "
                "WHERE id = ? AND state != 'cancelled'",
                (now, campaign_id),
            )
        elif state is CampaignState.CANCELLED:
            conn.execute(
                "UPDATE campaigns SET state = 'cancelled', finished_at = ? WHERE id = ?",
                (now, campaign_id),
            )
        else:
            conn.execute(
                "UPDATE campaigns SET state = ? WHERE id = ? AND state != 'cancelled'",
                (state, campaign_id),
            )


def reopen(conn: sqlite3.Connection, campaign_id: int) -> None:
    """A finished campaign with work again (recipients put back): sending, not finished."""
    conn.execute(
        "UPDATE campaigns SET state = 'sending', finished_at = NULL WHERE id = ?", (campaign_id,)
    )


def due_ids(store: Store) -> list[int]:
    """Campaigns that ``campaigns run`` should pick up: being sent, with work due now."""
    rows = store.all(
        "SELECT c.id FROM campaigns c WHERE c.state IN ('created', 'sending') AND EXISTS "
        f"(SELECT 1 FROM deliveries d WHERE d.campaign_id = c.id AND {deliveries.DUE}) "
        "ORDER BY c.id",
        (clock.now_iso(),),
    )
    return [int(r[0]) for r in rows]


#: A campaign is in the archive when its list is public and it is done, or sending
#: with at least one message out.
_ARCHIVED = (
    "SELECT c.id AS campaign_id, c.subject, c.letter_source, c.letter_path, c.letter_hash, "
    "COALESCE(c.finished_at, c.started_at, c.created_at) AS sent_at, l.* "
    "FROM campaigns c JOIN lists l ON l.id = c.list_id "
    "WHERE l.public = 1 AND (c.state = 'done' OR (c.state = 'sending' AND EXISTS "
    "(SELECT 1 FROM deliveries d WHERE d.campaign_id = c.id AND d.state = 'sent')))"
)
#: SQLite's largest integer: a longer number in a URL names no campaign.
_LARGEST_ID = 2**63 - 1


@dataclass(frozen=True)
class ArchivedLetter:
    """One campaign in the public archive, as the index and the feed list it."""

    id: int
    subject: str
    sent_at: str
    mailing_list: MailingList
    letter_source: str
    letter_path: str
    letter_hash: str

    @property
    def sent_date(self) -> str:
        return self.sent_at[:10]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ArchivedLetter:
        """From an ``_ARCHIVED`` row: the campaign's columns, then the list's own."""
        return cls(
            id=row["campaign_id"],
            subject=row["subject"],
            sent_at=row["sent_at"],
            mailing_list=MailingList.from_row(row),
            letter_source=row["letter_source"],
            letter_path=row["letter_path"],
            letter_hash=row["letter_hash"],
        )


def archived(store: Store, *, limit: int = 500) -> list[ArchivedLetter]:
    """Archived campaigns, newest first."""
    rows = store.all(f"{_ARCHIVED} ORDER BY sent_at DESC, c.id DESC LIMIT ?", (limit,))
    return [ArchivedLetter.from_row(row) for row in rows]


def archived_one(store: Store, campaign_id: int) -> ArchivedLetter | None:
    """One archived campaign, or None when it is unknown, private, or not sent yet."""
    if not 0 < campaign_id <= _LARGEST_ID:
        return None
    row = store.one(f"{_ARCHIVED} AND c.id = ?", (campaign_id,))
    return ArchivedLetter.from_row(row) if row is not None else None
