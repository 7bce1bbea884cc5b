"""The records the store hands out, and the states they can be in: no SQL inside.

States are ``StrEnum`` members: they compare equal to the text the database
holds, print as that text, and serialise to it in ``--json`` output.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class SubscriberStatus(StrEnum):
    """A person's own status: only ``active`` people are ever mailed."""

    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    BLOCKED = "blocked"


class SubscriptionStatus(StrEnum):
    """A person's standing on one list."""

    UNCONFIRMED = "unconfirmed"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"


class CampaignState(StrEnum):
    """Where a campaign is: made, waiting for its time, being sent, paused (by a person
    or a guard), finished, or cancelled."""

    CREATED = "created"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    DONE = "done"
    CANCELLED = "cancelled"


class DeliveryState(StrEnum):
    """One recipient of one campaign: to try, taken by the relay, to retry, or given up."""

    PENDING = "pending"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"


class Proof(StrEnum):
    """How a stored bounce or complaint proved which letter and subscriber it is about."""

    NONE = ""  # proved nothing: stored as unverified, acted on by nobody
    VERP = "verp"
    MESSAGE_ID = "message-id"
    SMTP = "smtp"
    ADDRESS = "address"
    MAILTO = "mailto"
    PROVIDER = "provider"  # an email service provider's signed report (a webhook)


def _columns(cls: Any, row: sqlite3.Row, **states: type[StrEnum]) -> dict[str, Any]:
    """A row's columns named like the dataclass's fields; ``states`` become their enums."""
    values = {name: row[name] for name in cls.__dataclass_fields__}
    for name, enum in states.items():
        values[name] = enum(values[name])
    return values


SUBSCRIBER_STATUSES = tuple(s.value for s in SubscriberStatus)
SUBSCRIPTION_STATUSES = tuple(s.value for s in SubscriptionStatus)
#: Subscriber statuses that an import or ``add`` must never undo.
SUPPRESSING_STATUSES = tuple(
    s.value for s in SubscriberStatus if s is not SubscriberStatus.ACTIVE
)


@dataclass(frozen=True)
class Condition:
    """One ``field op value`` test of a segment (``country=PE``), as ``send --segment`` reads it."""

    field: str
    op: str
    value: str


@dataclass(frozen=True)
class MailingList:
    id: int
    name: str
    title: str
    description: str
    double_optin: bool
    public: bool
    created_at: str
    #: The list's default language (a BCP 47 tag; "" when none was set).
    language: str = ""
    #: The languages the list offers its members, its default first.
    languages: tuple[str, ...] = ()
    #: The campaign that holds the list's welcome letter, if it has one.
    welcome_campaign_id: int | None = None

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
            language=row["language"],
            languages=tuple(t for t in row["languages"].split(",") if t),
            welcome_campaign_id=row["welcome_campaign_id"],
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
    status: SubscriberStatus = SubscriberStatus.ACTIVE
    bounce_score: int = 0
    created_at: str = ""
    updated_at: str = ""
    #: The language they read (a BCP 47 tag; "" when unknown).
    language: str = ""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Subscriber:
        return cls(
            id=row["id"],
            email=row["email"],
            name=row["name"],
            attributes=json.loads(row["attributes"] or "{}"),
            status=SubscriberStatus(row["status"]),
            bounce_score=row["bounce_score"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            language=row["language"],
        )

    def as_recipient(self, list_id: int | None = None) -> Recipient:
        """This person as a letter addresses them (on ``list_id``, when it matters)."""
        return Recipient(self.email, self.name, self.attributes, self.id, self.language, list_id)


@dataclass(frozen=True)
class Consent:
    """How a subscription was given: when, how (cli, import, web form) and from where."""

    method: str
    source: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConsentProof:
    """The stored proof of a consent: when, how, from where, and what else was seen."""

    at: str | None
    method: str
    source: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class Subscription:
    """One list a person is on, with the proof of their consent and how they take its
    posts (``digest``: ``off``, each as it is sent, or ``daily`` or ``weekly``)."""

    list: str
    status: SubscriptionStatus
    created_at: str
    updated_at: str
    unsubscribed_at: str | None
    consent: ConsentProof
    digest: str = "off"


@dataclass(frozen=True)
class Event:
    """One line of a subscriber's history."""

    at: str
    kind: str
    list: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class Suppression:
    """One entry of the suppression list: an address, a domain or the hash of a forgotten
    address, why it is there and since when."""

    kind: str
    value: str
    reason: str
    created_at: str


@dataclass(frozen=True)
class Campaign:
    """A campaign as stored: the letter's snapshot, the list, the segment, the state."""

    id: int
    list_id: int | None
    list_name: str
    subject: str
    letter_path: str
    letter_source: str
    letter_hash: str
    segment: str
    state: CampaignState
    kind: str
    recipients: int
    created_at: str
    scheduled_at: str | None
    scheduled_zone: str
    started_at: str | None
    finished_at: str | None
    #: When its rows per recipient were dropped, its counts kept (``campaigns prune``).
    pruned_at: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Campaign:
        """The campaign a ``campaigns`` row describes."""
        return cls(**_columns(cls, row, state=CampaignState))


@dataclass(frozen=True)
class StoredBounce:
    """One row of the ``bounces`` table: a bounce, complaint or request as received."""

    id: int
    received_at: str
    message_id: str
    recipient: str
    subscriber_id: int | None
    campaign_id: int | None
    kind: str
    status: str
    reason: str
    diagnostic: str
    source: str
    proof: Proof

    @property
    def verified(self) -> bool:
        """Whether the report proved itself (and so may have changed someone)."""
        return self.proof is not Proof.NONE

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> StoredBounce:
        return cls(**_columns(cls, row, proof=Proof))


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
    #: The language they read ("" when unknown): picks the translation they get.
    language: str = ""
    #: The list they get the letter as a member of (its List-Id, its unsubscribe link).
    list_id: int | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row | tuple[Any, ...]) -> Recipient:
        """From ``(id, email, name, attributes, language, list id)`` as the recipient
        query selects them."""
        subscriber_id, email, name, attributes, language, list_id = row[:6]
        try:
            values = json.loads(attributes or "{}")
        except ValueError:
            values = {}
        return cls(
            email=email,
            name=name or "",
            attributes=values,
            subscriber_id=subscriber_id,
            language=language or "",
            list_id=list_id,
        )


class Outcome(StrEnum):
    """What the intake did with a message: kept it (somewhere), or dropped it."""

    STORED = "stored"
    DROPPED = "dropped"


class PostStatus(StrEnum):
    """A message to a list's posting address: held for a decision, or decided."""

    HELD = "held"
    #: Waiting for the poster to confirm it through the link mailed back to them.
    UNCONFIRMED = "unconfirmed"
    APPROVED = "approved"
    REJECTED = "rejected"
    DISCARDED = "discarded"


class ForwardState(StrEnum):
    """Whether a reply is to be forwarded to the coordinator, and how that went."""

    NONE = ""  # not to be forwarded (no ``[replies] forward_to`` when it came)
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # refused for good; the note says why


@dataclass(frozen=True)
class InboundEntry:
    """One line of the intake's log: a message, where it was routed, what became of it."""

    id: int
    received_at: str
    message_id: str
    recipient: str
    route: str
    sender: str
    size: int
    outcome: Outcome
    reason: str
    source: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> InboundEntry:
        return cls(**_columns(cls, row, outcome=Outcome))


@dataclass(frozen=True)
class Post:
    """A message to a list's posting address, as it arrived, with its status."""

    id: int
    received_at: str
    list_id: int | None
    list_name: str
    sender: str
    sender_name: str
    subject: str
    message_id: str
    status: PostStatus
    reason: str
    decided_at: str | None
    #: The campaign that sent it to the list, once accepted.
    campaign_id: int | None = None
    #: How it was accepted: ``dmarc``, ``dkim``, ``confirmed``, ``moderator``.
    proof: str = ""
    #: What was done for the poster's DMARC policy: ``munge``, ``wrap`` or "".
    dmarc: str = ""
    #: The reason given to the poster with a rejection.
    note: str = ""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Post:
        return cls(**_columns(cls, row, status=PostStatus))


class Posting(StrEnum):
    """Who may post to a list by mail without moderation."""

    CLOSED = "closed"  # nobody
    ANNOUNCE = "announce"  # its posters
    MEMBERS = "members"  # its confirmed members and its posters
    OPEN = "open"  # anyone


class OnRefused(StrEnum):
    """What becomes of a post the policy does not allow."""

    HOLD = "hold"
    REJECT = "reject"


class Verify(StrEnum):
    """How a poster proves the From address is theirs."""

    AUTH_RESULTS = "auth-results"  # the receiving MTA's DMARC or aligned DKIM pass
    CONFIRM = "confirm"  # a signed link mailed back to the From address
    BOTH = "both"  # either one


class DmarcAction(StrEnum):
    """What a post from a domain whose DMARC policy is quarantine or reject becomes."""

    MUNGE = "munge"  # From the list, in the poster's name; Reply-To the poster
    WRAP = "wrap"  # the post attached whole to a message from the list
    NONE = "none"  # sent as it came


@dataclass(frozen=True)
class PostingPolicy:
    """A list's posting settings (``lists update --posting ...``)."""

    posting: Posting = Posting.CLOSED
    on_refused: OnRefused = OnRefused.HOLD
    verify: Verify = Verify.AUTH_RESULTS
    dmarc: DmarcAction = DmarcAction.MUNGE
    #: ``poster``, ``list`` or an address.
    reply_to: str = "poster"
    subject_prefix: str = ""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> PostingPolicy:
        return cls(
            posting=Posting(row["posting"]),
            on_refused=OnRefused(row["on_refused"]),
            verify=Verify(row["verify"]),
            dmarc=DmarcAction(row["dmarc"]),
            reply_to=row["reply_to"],
            subject_prefix=row["subject_prefix"],
        )


class ListRole(StrEnum):
    """Who a list names besides its members."""

    POSTER = "poster"
    MODERATOR = "moderator"


@dataclass(frozen=True)
class ReplyAttachment:
    """A file that came with a reply: its name as sent (shown, never used as a path),
    where it was saved under the replies folder ("" when it was not), and why not."""

    position: int
    filename: str
    content_type: str
    size: int
    path: str
    note: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ReplyAttachment:
        return cls(**_columns(cls, row))


@dataclass(frozen=True)
class Reply:
    """An answer to a circular: whose (when its address proved it), what it says.

    ``email`` is the subscriber's address when the reply is verified and the
    subscriber still stored, else ``""``; ``sender`` is the From of the reply.
    """

    id: int
    received_at: str
    message_id: str
    recipient: str
    campaign_id: int | None
    subscriber_id: int | None
    verified: bool
    sender: str
    sender_name: str
    subject: str
    sent_at: str | None
    text: str
    folder: str
    forward: ForwardState
    forward_note: str
    forwarded_at: str | None
    email: str = ""
    name: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    attachments: tuple[ReplyAttachment, ...] = ()

    @classmethod
    def from_row(cls, row: sqlite3.Row, attachments: tuple[ReplyAttachment, ...] = ()) -> Reply:
        """A ``replies`` row joined with its subscriber's ``email``, ``name`` and
        ``attributes`` (NULL when it has none)."""
        values = {name: row[name] for name in cls.__dataclass_fields__ if name != "attachments"}
        values["forward"] = ForwardState(values["forward"])
        values["verified"] = bool(values["verified"])
        values["email"] = values["email"] or ""
        values["name"] = values["name"] or ""
        values["attributes"] = json.loads(values["attributes"] or "{}")
        return cls(**values, attachments=attachments)
