"""Ingesting bounce mail: parse, store, apply the policy, one message at a time.

Each message is one transaction: its events are stored and the policy applied
together, or not at all. A message whose Message-ID (or, lacking one, whose
content hash) was stored before is skipped, so reading a mailbox twice, or
the same bounce arriving through two sources, counts it once.

A message to the List-Unsubscribe mailto address is not a bounce: when its
recipient carries a valid unsubscribe token, that subscriber leaves that list.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mailer import tokens
from mailer.bounces import policy, records
from mailer.bounces.model import UNKNOWN, BounceEvent, ParsedBounce
from mailer.bounces.parse import parse_message
from mailer.bounces.sources import Incoming
from mailer.config import Config
from mailer.contacts import address_hash, address_key
from mailer.errors import ConfigError, TokenError
from mailer.store.database import Store
from mailer.store.subscribers import find_subscriber, get_subscriber_by_id, unsubscribe


def signer_for(config: Config) -> tokens.Signer | None:
    """The key that checks VERP and unsubscribe tokens, when one is configured."""
    return tokens.Signer(config.web.secret_key) if config.web.secret_key else None


@dataclass
class MessageOutcome:
    """What ingesting one message did."""

    source: str
    message_id: str
    duplicate: bool = False
    stored: int = 0
    kinds: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    """What a whole ingest run did."""

    messages: int = 0
    duplicates: int = 0
    events: int = 0
    unsubscribes: int = 0
    changes: list[str] = field(default_factory=list)
    outcomes: list[MessageOutcome] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """The totals and changes, as ``--json`` prints them."""
        return {
            "messages": self.messages,
            "duplicates": self.duplicates,
            "events": self.events,
            "unsubscribes": self.unsubscribes,
            "changes": self.changes,
        }


def message_key(parsed: ParsedBounce, raw: bytes) -> str:
    """The Message-ID, or a content hash for a message without one.

    The hash leaves out what the way in adds or changes (an mbox ``From``
    line, line ends, the headers each delivery prepends), so the same
    message read from a pipe, a Maildir and IMAP gives one key.
    """
    if parsed.message_id:
        return parsed.message_id
    # The head of a huge message is enough to tell it apart (the parser reads
    # no more); a prefix cut after normalising is the same whichever line
    # ends the message came with.
    plain = _as_sent(raw[: 2 * _HASHED])[:_HASHED]
    return "sha256:" + hashlib.sha256(plain).hexdigest()


_HASHED = 1_000_000
# Headers a delivery adds in front of the message (RFC 5321 trace fields,
# local delivery agents, mail readers' bookkeeping).
_DELIVERY_HEADERS = re.compile(
    rb"(?:return-path|received|delivered-to|x-original-to|envelope-to|x-envelope-to"
    rb"|x-rcpt-to|status|x-status|x-keywords|x-uid|content-length|lines|x-imapbase)\s*:",
    re.I,
)


def _as_sent(raw: bytes) -> bytes:
    """The message with line ends made plain and delivery headers dropped."""
    text = raw.replace(b"\r\n", b"\n")
    if text.startswith(b"From "):
        text = text.partition(b"\n")[2]
    head, sep, body = text.partition(b"\n\n")
    kept: list[bytes] = []
    dropping = False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = _DELIVERY_HEADERS.match(line) is not None
        if not dropping:
            kept.append(line)
    return b"\n".join(kept) + sep + body


def ingest_message(
    store: Store, incoming: Incoming, config: Config, signer: tokens.Signer | None = None
) -> MessageOutcome:
    """Parse one message and, in one transaction, store its events and act on them."""
    parsed = parse_message(
        incoming.raw, return_path=config.bounces.return_path, signer=signer
    )
    key = message_key(parsed, incoming.raw)
    outcome = MessageOutcome(source=incoming.source, message_id=key)
    with store.transaction() as conn:
        if records.already_stored(conn, key):
            outcome.duplicate = True
            return outcome
        if _unsubscribe_by_mail(conn, parsed, config, signer, incoming.source, outcome):
            records.store_event(
                conn,
                _UNSUBSCRIBE_EVENT,
                message_id=key,
                source=incoming.source,
                subscriber_id=None,
                campaign_id=None,
            )
            return outcome
        for event in parsed.events:
            subscriber_id = (
                None
                if parsed.forged_verp
                else _subscriber_id(conn, event.subscriber, event.recipient)
            )
            forgotten = subscriber_id is None and _forgotten(conn, event.recipient)
            if forgotten:
                # Already suppressed by its hash: keep the event, not the address.
                event = dataclasses.replace(
                    event, recipient=f"forgotten-{_hash_of(event.recipient)[:12]}", diagnostic=""
                )
            campaign_id = event.campaign if records.campaign_exists(conn, event.campaign) else None
            stored = records.store_event(
                conn,
                event,
                message_id=key,
                source=incoming.source,
                subscriber_id=subscriber_id,
                campaign_id=campaign_id,
            )
            if not stored:
                continue
            outcome.stored += 1
            outcome.kinds.append(event.kind)
            if not parsed.forged_verp and not forgotten:
                outcome.changes += policy.apply(
                    conn, event, subscriber_id, config.bounces, source=incoming.source
                )
    return outcome


def ingest(
    store: Store,
    items: Iterable[Incoming],
    config: Config,
    *,
    done: Callable[[Incoming], None] | None = None,
) -> IngestReport:
    """Ingest every message; ``done`` is called after each one is committed."""
    signer = signer_for(config)
    report = IngestReport()
    with store.transaction() as conn:
        policy.decay_scores(conn, config.bounces)
    for incoming in items:
        outcome = ingest_message(store, incoming, config, signer)
        report.messages += 1
        report.duplicates += outcome.duplicate
        report.events += outcome.stored
        report.unsubscribes += "unsubscribe" in outcome.kinds
        report.changes += outcome.changes
        report.outcomes.append(outcome)
        if done is not None:
            done(incoming)
    return report


def _hash_of(recipient: str) -> str:
    return address_hash(address_key(recipient))


def _forgotten(conn: sqlite3.Connection, recipient: str) -> bool:
    """Whether this address was erased (``subscribers forget``) and only its hash remains."""
    if not recipient:
        return False
    row = conn.execute(
        "SELECT 1 FROM suppressions WHERE kind = 'hash' AND value = ?", (_hash_of(recipient),)
    ).fetchone()
    return row is not None


def _subscriber_id(
    conn: sqlite3.Connection, from_token: int | None, recipient: str
) -> int | None:
    """The subscriber a VERP token names (if still there), else the one with the address."""
    if from_token is not None and get_subscriber_by_id(conn, from_token) is not None:
        return from_token
    if recipient:
        found = find_subscriber(conn, recipient)
        return found.id if found else None
    return None


# Stored for an unsubscribe-by-mail message, so that it too is read only once.
_UNSUBSCRIBE_EVENT = BounceEvent(recipient="", kind=UNKNOWN, reason="unsubscribe-request")


def _unsubscribe_by_mail(
    conn: sqlite3.Connection,
    parsed: ParsedBounce,
    config: Config,
    signer: tokens.Signer | None,
    source: str,
    outcome: MessageOutcome,
) -> bool:
    """Unsubscribe the subscriber a valid mailto token names; False if it is not one."""
    address = config.bounces.unsubscribe_address
    if not address:
        return False
    for recipient in parsed.addressed_to:
        token = tokens.verp_token(recipient, address)
        if not token:
            continue
        if signer is None:
            # Storing it as nothing would lose a person's request to leave.
            raise ConfigError(
                f"mail to {recipient} asks to unsubscribe, but its token cannot be checked: "
                "MAILER_SECRET_KEY is unset"
            )
        try:
            claim = signer.verify(token, tokens.UNSUBSCRIBE)
            subscriber_id, list_id = claim.integer(0), claim.integer(1)
        except TokenError:
            continue  # forged or damaged: nobody is unsubscribed by it
        if get_subscriber_by_id(conn, subscriber_id) is None:
            continue
        exists = conn.execute("SELECT 1 FROM lists WHERE id = ?", (list_id,)).fetchone()
        left = (
            unsubscribe(conn, subscriber_id, list_id, method="mailto", source=source)
            if exists
            else []
        )
        outcome.kinds.append("unsubscribe")
        outcome.changes += [f"subscriber {subscriber_id}: unsubscribed by mail"] if left else []
        return True
    return False
