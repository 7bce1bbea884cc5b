"""The ``lists`` table, and the opt-outs that outlive a removed list (``list_optouts``)."""

from __future__ import annotations

import difflib
import re
import sqlite3
from dataclasses import dataclass

from mailer import clock
from mailer.errors import ConflictError, InputError, ListNotFound
from mailer.languages import normalize_tag
from mailer.store import deliveries, subscriptions
from mailer.store.database import Store
from mailer.store.models import MailingList, PostingPolicy

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
    language: str = "",
    languages: tuple[str, ...] = (),
) -> MailingList:
    """Create a list; a second list of the same name is a conflict, not a no-op.

    ``double_optin`` defaults to on for a public list: its subscribe form is
    open to anyone, and without a confirmation anyone could sign anyone up.
    Whoever left an earlier list of the same name starts out unsubscribed.
    """
    if double_optin is None:
        double_optin = public
    validate_list_name(name)
    _check_title(title)
    language, languages = offered_languages(language, languages)
    with store.transaction() as conn:
        if conn.execute("SELECT 1 FROM lists WHERE name = ?", (name,)).fetchone():
            raise ConflictError(f"list {name!r} already exists")
        now = clock.now_iso()
        cursor = conn.execute(
            "INSERT INTO lists (name, title, description, double_optin, public, created_at, "
            "language, languages) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (name, title, description, int(double_optin), int(public), now, language,
             ",".join(languages)),
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


def _check_title(title: str) -> None:
    if any(ch in title for ch in "\r\n\0"):
        raise InputError(f"list title {title!r} may not contain a line break")


def offered_languages(language: str, languages: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """A list's default language and the languages it offers, checked, the default first.

    The default is offered whether or not it was named again; without a
    default, the first language offered is it.
    """
    default = normalize_tag(language)
    offered = [normalize_tag(tag) for tag in languages]
    default = default or (offered[0] if offered else "")
    ordered = [default] if default else []
    ordered += [tag for tag in offered if tag and tag not in ordered]
    return default, tuple(ordered)


@dataclass(frozen=True)
class ListChanges:
    """What ``lists update`` changes; None leaves a setting as it is."""

    title: str | None = None
    description: str | None = None
    double_optin: bool | None = None
    public: bool | None = None
    language: str | None = None
    languages: tuple[str, ...] | None = None


def update_list(store: Store, name: str, changes: ListChanges) -> MailingList:
    """Change a list's settings; the languages stay a default plus those it offers."""
    current = get_list(store, name)
    if changes.title is not None:
        _check_title(changes.title)
    language = current.language if changes.language is None else changes.language
    languages = current.languages if changes.languages is None else changes.languages
    # Other languages offered and no default named: keep the default only if still offered.
    if (
        changes.language is None
        and changes.languages is not None
        and language not in {normalize_tag(tag) for tag in languages}
    ):
        language = ""
    language, languages = offered_languages(language, languages)
    values = {
        "title": current.title if changes.title is None else changes.title,
        "description": (
            current.description if changes.description is None else changes.description
        ),
        "double_optin": int(
            current.double_optin if changes.double_optin is None else changes.double_optin
        ),
        "public": int(current.public if changes.public is None else changes.public),
        "language": language,
        "languages": ",".join(languages),
    }
    with store.transaction() as conn:
        conn.execute(
            "UPDATE lists SET title = :title, description = :description, "
            "double_optin = :double_optin, public = :public, language = :language, "
            "languages = :languages WHERE id = :id",
            {**values, "id": current.id},
        )
    return get_list(store, name)


def posting_policy(conn: sqlite3.Connection | Store, list_id: int) -> PostingPolicy:
    """The list's posting settings (a removed list's: closed)."""
    row = conn.execute(
        "SELECT posting, on_refused, verify, dmarc, reply_to, subject_prefix FROM lists "
        "WHERE id = ?",
        (list_id,),
    ).fetchone()
    return PostingPolicy.from_row(row) if row is not None else PostingPolicy()


def set_posting_policy(store: Store, list_id: int, policy: PostingPolicy) -> None:
    """Store the list's posting settings."""
    with store.transaction() as conn:
        conn.execute(
            "UPDATE lists SET posting = ?, on_refused = ?, verify = ?, dmarc = ?, reply_to = ?, "
            "subject_prefix = ? WHERE id = ?",
            (policy.posting, policy.on_refused, policy.verify, policy.dmarc, policy.reply_to,
             policy.subject_prefix, list_id),
        )


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
    language: str = ""
    languages: tuple[str, ...] = ()


def summary(store: Store, mailing_list: MailingList) -> ListSummary:
    """One list with its counts."""
    counts = subscriptions.counts(store, mailing_list.id)
    counts["sendable"] = deliveries.count_recipients(store, [mailing_list.id])
    return ListSummary(
        name=mailing_list.name,
        title=mailing_list.title,
        description=mailing_list.description,
        double_optin=mailing_list.double_optin,
        language=mailing_list.language,
        languages=mailing_list.languages,
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
