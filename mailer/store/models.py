"""The records the store hands out: plain frozen dataclasses, no SQL inside."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SUBSCRIBER_STATUSES = ("active", "unsubscribed", "bounced", "complained", "blocked")
SUBSCRIPTION_STATUSES = ("unconfirmed", "confirmed", "unsubscribed")
#: Subscriber statuses that an import or ``add`` must never undo.
SUPPRESSING_STATUSES = ("unsubscribed", "bounced", "complained", "blocked")


@dataclass(frozen=True)
class MailingList:
    id: int
    name: str
    title: str
    description: str
    double_optin: bool
    public: bool
    created_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> MailingList:
        return cls(
            id=row["id"],
            name=row["name"],
            title=row["title"],
            description=row["description"],
            double_optin=bool(row["double_optin"]),
            public=bool(row["public"]),
            created_at=row["created_at"],
        )

    @property
    def display_title(self) -> str:
        return self.title or self.name


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    name: str
    attributes: dict[str, Any] = field(default_factory=dict)
    status: str = "active"
    bounce_score: int = 0
    created_at: str = ""
    updated_at: str = ""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Subscriber:
        return cls(
            id=row["id"],
            email=row["email"],
            name=row["name"],
            attributes=json.loads(row["attributes"] or "{}"),
            status=row["status"],
            bounce_score=row["bounce_score"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "status": self.status,
            "attributes": self.attributes,
            "bounce_score": self.bounce_score,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class Consent:
    """How a subscription was given: when, how (cli, import, web form) and from where."""

    method: str
    source: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipient:
    """Who one message is for; ``attributes`` are the subscriber's template variables.

    The recipient query (``store.deliveries``) yields these, so that every
    command that mails people (send, dry run, check, test) builds the same ones.
    """

    email: str
    name: str = ""
    attributes: Mapping[str, Any] = field(default_factory=dict)
    subscriber_id: int | None = None
