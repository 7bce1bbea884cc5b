"""The ``lists`` table, and the opt-outs that outlive a removed list (``list_optouts``)."""

from __future__ import annotations

import difflib
import re
import sqlite3
from dataclasses import dataclass

from mailer import clock
from mailer.errors import ConflictError, InputError, ListNotFound
from mailer.store import deliveries, subscriptions
from mailer.store.database import Store
from mailer.store.models import MailingList

# Dot-separated words: the name becomes the left part of the RFC 2919 List-Id.
_NAME = re.compile(r"(?=.{1,64}\Z)[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9_-]+)*")


def validate_list_name(name: str) -> str:
    """List names end up in List-Id headers and URLs: keep them to a safe alphabet."""
    if not _NAME.fullmatch(name):
        raise InputError(
            f"list name {name!r} must be 1-64 characters of a-z, 0-9, '.', '_' or '-', "
            "starting with a letter or digit, without two dots in a row or a dot at the end"
        )
    return name


def create_list(
    store: Store,
    name: str,
    *,
    title: str = "",
    description: str = "",
    double_optin: bool | None = None,
    public: bool = False,
) -> MailingList:
    """Create a list; a second list of the same name is a conflict, not a no-op.

    ``double_optin`` defaults to on for a public list: its subscribe form is
    open to anyone, and without a confirmation anyone could sign anyone up.
    Whoever left an earlier list of the same name starts out unsubscribed.
    """
    if double_optin is None:
        double_optin = public
    validate_list_name(name)
    if any(ch in title for ch in "\r\n\0"):
        raise InputError(f"list title {title!r} may not contain a line break")
    with store.transaction() as conn:
        if conn.execute("SELECT 1 FROM lists WHERE name = ?", (name,)).fetchone():
            raise ConflictError(f"list {name!r} already exists")
        now = clock.now_iso()
        cursor = conn.execute(
            "INSERT INTO lists (name, title, description, double_optin, public, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (name, title, description, int(double_optin), int(public), now),
        )
        conn.execute(
            "INSERT INTO subscriptions (list_id, subscriber_id, status, created_at, updated_at, "
            "unsubscribed_at, consent_method) SELECT ?, subscriber_id, 'unsubscribed', ?, ?, "
            "unsubscribed_at, 'opted out of an earlier list of this name' "
            "FROM list_optouts WHERE list_name = ?",
            (cursor.lastrowid, now, now, name),
        )
        conn.execute("DELETE FROM list_optouts WHERE list_name = ?", (name,))
    return get_list(store, name)


def get_list(store: Store, name: str) -> MailingList:
    """The list called ``name``; ``ListNotFound`` (with the closest name) if there is none."""
    row = store.one("SELECT * FROM lists WHERE name = ?", (name,))
    if row is None:
        names = [r["name"] for r in store.all("SELECT name FROM lists")]
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        raise ListNotFound(name, close[0] if close else None)
    return MailingList.from_row(row)


def find_list_by_id(store: Store, list_id: int) -> MailingList | None:
    """The list with this id, or None (it may have been removed since a link was made)."""
    row = store.one("SELECT * FROM lists WHERE id = ?", (list_id,))
    return MailingList.from_row(row) if row is not None else None


def list_name(conn: sqlite3.Connection | Store, list_id: int) -> str | None:
    """The name of the list with this id, or None when it was removed."""
    row = conn.execute("SELECT name FROM lists WHERE id = ?", (list_id,)).fetchone()
    return str(row[0]) if row is not None else None


def all_lists(store: Store) -> list[MailingList]:
    return [MailingList.from_row(r) for r in store.all("SELECT * FROM lists ORDER BY name")]


@dataclass(frozen=True)
class ListSummary:
    """A list as ``lists ls`` and ``lists show`` print it, with its members by status.

    ``sendable`` is how many a letter would reach now: the recipient query's count.
    """

    name: str
    title: str
    description: str
    double_optin: bool
    public: bool
    created_at: str
    counts: dict[str, int]


def summary(store: Store, mailing_list: MailingList) -> ListSummary:
    """One list with its counts."""
    counts = subscriptions.counts(store, mailing_list.id)
    counts["sendable"] = deliveries.count_recipients(store, mailing_list.id)
    return ListSummary(
        name=mailing_list.name,
        title=mailing_list.title,
        description=mailing_list.description,
        double_optin=mailing_list.double_optin,
        public=mailing_list.public,
        created_at=mailing_list.created_at,
        counts=counts,
    )


def remove_list(store: Store, name: str) -> None:
    """Delete a list and its subscriptions; subscribers, their history and opt-outs stay."""
    mailing_list = get_list(store, name)
    with store.transaction() as conn:
        conn.execute(
            "INSERT OR IGNORE INTO list_optouts (list_name, subscriber_id, unsubscribed_at) "
            "SELECT ?, subscriber_id, unsubscribed_at FROM subscriptions "
            "WHERE list_id = ? AND status = 'unsubscribed'",
            (name, mailing_list.id),
        )
        conn.execute("DELETE FROM lists WHERE id = ?", (mailing_list.id,))


def optouts_of(store: Store, subscriber_id: int) -> list[dict[str, str]]:
    """The removed lists a person had left (kept so a list of that name starts without them)."""
    return [
        dict(row)
        for row in store.all(
            "SELECT list_name, unsubscribed_at FROM list_optouts "
            "WHERE subscriber_id = ? ORDER BY list_name",
            (subscriber_id,),
        )
    ]
