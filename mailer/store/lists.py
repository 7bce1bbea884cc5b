"""Queries on mailing lists."""

from __future__ import annotations

import difflib
import re
from typing import Any

from mailer import clock
from mailer.errors import ConflictError, InputError, NotFoundError
from mailer.store.database import Store
from mailer.store.models import SUBSCRIPTION_STATUSES, MailingList

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
        # Whoever left an earlier list of this name stays out of this one.
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
    """The list called ``name``; ``NotFoundError`` naming it if there is none."""
    row = store.one("SELECT * FROM lists WHERE name = ?", (name,))
    if row is None:
        names = [r["name"] for r in store.all("SELECT name FROM lists")]
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else "see `mailer lists ls`"
        raise NotFoundError(f"no list named {name!r} ({hint})")
    return MailingList.from_row(row)


def get_list_by_id(store: Store, list_id: int) -> MailingList:
    row = store.one("SELECT * FROM lists WHERE id = ?", (list_id,))
    if row is None:
        raise NotFoundError(f"no list with id {list_id}")
    return MailingList.from_row(row)


def all_lists(store: Store) -> list[MailingList]:
    return [MailingList.from_row(r) for r in store.all("SELECT * FROM lists ORDER BY name")]


def list_counts(store: Store, list_id: int) -> dict[str, int]:
    """Members by subscription status, and ``sendable``: confirmed and still active."""
    counts = dict.fromkeys(SUBSCRIPTION_STATUSES, 0)
    for row in store.all(
        "SELECT status, count(*) AS n FROM subscriptions WHERE list_id = ? GROUP BY status",
        (list_id,),
    ):
        counts[row["status"]] = row["n"]
    sendable = store.one(
        "SELECT count(*) FROM subscriptions s JOIN subscribers p ON p.id = s.subscriber_id "
        "WHERE s.list_id = ? AND s.status = 'confirmed' AND p.status = 'active'",
        (list_id,),
    )
    counts["sendable"] = sendable[0] if sendable else 0
    return counts


def list_summary(store: Store, mailing_list: MailingList) -> dict[str, Any]:
    """A list as the CLI shows it, counts included."""
    return {
        "name": mailing_list.name,
        "title": mailing_list.title,
        "description": mailing_list.description,
        "double_optin": mailing_list.double_optin,
        "public": mailing_list.public,
        "created_at": mailing_list.created_at,
        "counts": list_counts(store, mailing_list.id),
    }


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
