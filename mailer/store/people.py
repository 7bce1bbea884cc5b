"""Reading people across tables: one person in full, or everyone for an export.

Kept apart from ``store.subscribers`` (the rows of one table): a person's
full record gathers their lists, history and reports; the export streams
whole tables, one query each, read row by row, so memory does not grow with
the list.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from mailer.contacts.addresses import address_key
from mailer.store import bounces, subscriptions, suppressions
from mailer.store.database import Store
from mailer.store.events import history
from mailer.store.models import Event, StoredBounce, Subscription, Suppression
from mailer.store.subscribers import get_subscriber


class ExportRow(NamedTuple):
    """A subscriber as an export writes them, with their standing on the exported list."""

    email: str
    name: str
    status: str
    attributes: str
    created_at: str
    updated_at: str
    member_status: str | None
    consent_at: str | None
    consent_method: str | None
    consent_source: str | None
    language: str


def for_export(store: Store, list_id: int | None) -> Iterator[ExportRow]:
    """Every subscriber (or one list's members, with their subscription) in id order."""
    sql: str
    params: tuple[Any, ...]
    if list_id is None:
        sql = (
            "SELECT email, name, status, attributes, created_at, updated_at, NULL, NULL, NULL, "
            "NULL, language FROM subscribers ORDER BY id"
        )
        params = ()
    else:
        sql = (
            "SELECT p.email, p.name, p.status, p.attributes, p.created_at, p.updated_at, "
            "s.status, s.consent_at, s.consent_method, s.consent_source, p.language "
            "FROM subscribers p "
            "JOIN subscriptions s ON s.subscriber_id = p.id AND s.list_id = ? ORDER BY p.id"
        )
        params = (list_id,)
    for row in store.execute(sql, params):
        yield ExportRow(*row)


def attribute_keys(store: Store, list_id: int | None) -> list[str]:
    """Every attribute name in use (one pass in SQL, so a CSV header can come first)."""
    if list_id is None:
        rows = store.all(
            "SELECT DISTINCT j.key FROM subscribers p, json_each(p.attributes) j ORDER BY j.key"
        )
    else:
        rows = store.all(
            "SELECT DISTINCT j.key FROM subscriptions s JOIN subscribers p "
            "ON p.id = s.subscriber_id, json_each(p.attributes) j "
            "WHERE s.list_id = ? ORDER BY j.key",
            (list_id,),
        )
    return [row[0] for row in rows]


@dataclass(frozen=True)
class Person:
    """Everything ``subscribers show`` prints: the person, their lists, history and reports.

    ``reports`` are the bounces, complaints and requests that name them, the
    unverified ones too (they changed nothing, but a person asking why they
    stopped getting mail, or an admin seeing forged mail, wants to see them).
    """

    id: int
    email: str
    name: str
    language: str
    status: str
    attributes: dict[str, Any]
    bounce_score: int
    created_at: str
    updated_at: str
    subscriptions: list[Subscription]
    history: list[Event]
    reports: list[StoredBounce]
    #: The suppressions that keep them from being mailed: their address, or their domain.
    suppressions: list[Suppression]


def describe(store: Store, email: str) -> Person:
    """The person with this address, in full; ``SubscriberNotFound`` if there is none."""
    found = get_subscriber(store, email)
    return Person(
        id=found.id,
        email=found.email,
        name=found.name,
        language=found.language,
        status=found.status,
        attributes=found.attributes,
        bounce_score=found.bounce_score,
        created_at=found.created_at,
        updated_at=found.updated_at,
        subscriptions=subscriptions.of_subscriber(store, found.id),
        history=history(store.conn, found.id),
        reports=bounces.about(store, found.id, address_key(found.email)),
        suppressions=suppressions.naming(store, address_key(found.email)),
    )
