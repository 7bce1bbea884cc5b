"""The ``campaigns`` table: one row per letter sent to a list, with the letter as sent."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mailer import clock
from mailer.errors import CampaignNotFound
from mailer.store import deliveries, digests
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
    scheduled_at: str | None = None,
    scheduled_zone: str = "",
    kind: str = "letter",
    recipients: Callable[[sqlite3.Connection, int], int] | None = None,
) -> Campaign:
    """Record a campaign to ``lists`` with its letter's files and snapshot its recipients,
    all in one transaction (``kind`` ``post`` for a post to a list: its members but
    those who take a digest; ``digest``: ``recipients`` snapshots them and says how many).

    A campaign with ``scheduled_at`` (UTC, as ``clock.iso`` writes it) is
    ``scheduled`` and snapshots nobody yet: ``start_scheduled`` does, when
    its time has come, so that whoever joins or leaves in between counts.
    """
    first = lists[0]
    state = CampaignState.CREATED if scheduled_at is None else CampaignState.SCHEDULED
    with store.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO campaigns (list_id, list_name, subject, letter_path, letter_source, "
            "letter_hash, segment, state, created_at, scheduled_at, scheduled_zone, kind) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                first.id,
                first.name,
                subject,
                letter_path,
                letter_source,
                letter_hash(letter_source),
                segment,
                state,
                clock.now_iso(),
                scheduled_at,
                scheduled_zone,
                kind,
            ),
        )
        campaign_id = int(cursor.lastrowid or 0)
        conn.executemany(
            "INSERT INTO campaign_lists (campaign_id, position, list_id, list_name) "
            "VALUES (?, ?, ?, ?)",
            [(campaign_id, n, each.id, each.name) for n, each in enumerate(lists)],
        )
        add_files(conn, campaign_id, files)
        if recipients is not None:
            count = recipients(conn, campaign_id)
            conn.execute("UPDATE campaigns SET recipients = ? WHERE id = ?", (count, campaign_id))
        elif scheduled_at is None:
            _snapshot(conn, campaign_id, [each.id for each in lists], conditions,
                      each_post=kind == "post")
    return get(store, campaign_id)


def create_welcome(
    store: Store,
    *,
    mailing_list: MailingList,
    subject: str,
    letter_path: str,
    letter_source: str,
    files: Sequence[CampaignFile] = (),
) -> Campaign:
    """Record a list's welcome letter: a campaign that never finishes, and make it the list's.

    It starts with nobody; each new member is added to it when they join.
    """
    with store.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO campaigns (list_id, list_name, subject, letter_path, letter_source, "
            "letter_hash, state, kind, created_at, started_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 'sending', 'welcome', ?, ?)",
            (
                mailing_list.id,
                mailing_list.name,
                subject,
                letter_path,
                letter_source,
                letter_hash(letter_source),
                clock.now_iso(),
                clock.now_iso(),
            ),
        )
        campaign_id = int(cursor.lastrowid or 0)
        conn.execute(
            "INSERT INTO campaign_lists (campaign_id, position, list_id, list_name) "
            "VALUES (?, 0, ?, ?)",
            (campaign_id, mailing_list.id, mailing_list.name),
        )
        add_files(conn, campaign_id, files)
        conn.execute(
            "UPDATE lists SET welcome_campaign_id = ? WHERE id = ?", (campaign_id, mailing_list.id)
        )
    return get(store, campaign_id)


def end_welcome(store: Store, mailing_list: MailingList) -> None:
    """The list has no welcome letter any more; its old one finishes what it has queued."""
    with store.transaction() as conn:
        conn.execute("UPDATE lists SET welcome_campaign_id = NULL WHERE id = ?",
                     (mailing_list.id,))


def _snapshot(
    conn: sqlite3.Connection, campaign_id: int, list_ids: Sequence[int],
    conditions: Sequence[Condition], *, each_post: bool = False,
) -> int:
    """Copy the campaign's recipients into ``deliveries`` and count them on the campaign."""
    count = deliveries.snapshot(conn, campaign_id, list_ids, conditions, each_post=each_post)
    conn.execute("UPDATE campaigns SET recipients = ? WHERE id = ?", (count, campaign_id))
    return count


def start_scheduled(
    store: Store, campaign_id: int, conditions: Sequence[Condition], *, due_by: str | None
) -> int | None:
    """Move a scheduled campaign to ``sending`` and snapshot its recipients, in one
    transaction; how many, or None when it is not (or no longer) scheduled.

    ``due_by`` (a stored timestamp) starts it only if its time is at or
    before then; None starts it whatever its time (``resume --now``). The
    write lock is taken first (``BEGIN IMMEDIATE``) and the state is checked
    in the UPDATE itself, so of two processes starting the same campaign
    exactly one changes the row and snapshots; the other gets None. The
    recipients go to the lists that still exist, in the order given; a
    campaign that reaches nobody is done at once, as nothing of it would
    ever be due.
    """
    sql = (
        "UPDATE campaigns SET state = 'sending', started_at = ?, finished_at = NULL "
        "WHERE id = ? AND state = 'scheduled'"
    )
    params: list[object] = [clock.now_iso(), campaign_id]
    if due_by is not None:
        sql += " AND scheduled_at <= ?"
        params.append(due_by)
    with store.transaction() as conn:
        if conn.execute(sql, params).rowcount == 0:
            return None
        count = _snapshot(conn, campaign_id, live_list_ids(conn, campaign_id), conditions)
        if count == 0:
            conn.execute(
                "UPDATE campaigns SET state = 'done', finished_at = started_at WHERE id = ?",
                (campaign_id,),
            )
        return count


def reschedule(store: Store, campaign_id: int, scheduled_at: str, zone: str) -> bool:
    """Give a scheduled campaign another time; False when it is not scheduled (any more)."""
    with store.transaction() as conn:
        cursor = conn.execute(
            "UPDATE campaigns SET scheduled_at = ?, scheduled_zone = ? "
            "WHERE id = ? AND state = 'scheduled'",
            (scheduled_at, zone, campaign_id),
        )
    return cursor.rowcount == 1


def scheduled_due(store: Store, as_of: str) -> list[int]:
    """Scheduled campaigns whose time is at or before ``as_of``, the earliest first."""
    rows = store.all(
        "SELECT id FROM campaigns WHERE state = 'scheduled' AND scheduled_at <= ? "
        "ORDER BY scheduled_at, id",
        (as_of,),
    )
    return [int(r[0]) for r in rows]


def next_scheduled(store: Store, after: str) -> str | None:
    """When the earliest campaign scheduled for later than ``after`` is due (None: none is)."""
    row = store.one(
        "SELECT min(scheduled_at) FROM campaigns WHERE state = 'scheduled' AND scheduled_at > ?",
        (after,),
    )
    return str(row[0]) if row is not None and row[0] is not None else None


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


def live_list_ids(conn: sqlite3.Connection | Store, campaign_id: int) -> list[int]:
    """The ids of a campaign's lists that still exist, in the order they were given."""
    return [each.list_id for each in lists_of(conn, campaign_id) if each.list_id is not None]


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
        "SELECT c.* FROM campaigns c WHERE c.kind = 'letter' AND c.letter_hash = ? "
        "AND EXISTS (SELECT 1 FROM "
        "campaign_lists l WHERE l.campaign_id = c.id AND l.list_id = ?) AND (c.state != "
        "'cancelled' OR c.sent_total > 0 OR EXISTS (SELECT 1 FROM deliveries d "
        "WHERE d.campaign_id = c.id AND d.state = 'sent')) ORDER BY c.id",
        (source_hash, list_id),
    )
    return [Campaign.from_row(r) for r in rows]


def set_state(store: Store, campaign_id: int, state: CampaignState) -> None:
    """Move a campaign to ``state``, stamping when it started and finished.

    A cancelled campaign stays cancelled, and a scheduled one becomes
    ``sending`` only by ``start_scheduled``.
    """
    now = clock.now_iso()
    with store.transaction() as conn:
        if state is CampaignState.SENDING:
            # A scheduled campaign starts only through ``start_scheduled``, which snapshots.
            conn.execute(
                "UPDATE campaigns SET state = 'sending', started_at = coalesce(started_at, ?), "
                "finished_at = NULL WHERE id = ? AND state NOT IN ('cancelled', 'scheduled')",
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
            digests.release(conn, campaign_id)
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
    "WHERE l.public = 1 AND c.kind = 'letter' AND (c.state = 'done' OR (c.state = 'sending' "
    "AND EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = c.id AND d.state = 'sent')))"
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
