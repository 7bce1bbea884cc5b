"""Ingesting bounce mail: parse, store, apply the policy, one message at a time.

Each message is one transaction: its events are stored and the policy applied
together, or not at all. A message whose Message-ID (or, lacking one, whose
content hash) was stored before is skipped, so reading a mailbox twice, or
the same bounce arriving through two sources, counts it once.

Mail from strangers changes nobody: an event acts only when it proves
itself (see ``target_of``); the rest is stored as unverified.

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
from datetime import timedelta

from mailer import clock, tokens
from mailer.bounces import policy
from mailer.bounces.model import UNSUBSCRIBE, BounceEvent, ParsedBounce
from mailer.bounces.parse import parse_message
from mailer.bounces.sources import Incoming
from mailer.config import BouncesConfig, Config
from mailer.contacts.addresses import address_hash, address_key
from mailer.errors import ConfigError, TokenError
from mailer.letters.mime import unsubscribe_token
from mailer.store import bounces as records
from mailer.store.database import Store
from mailer.store.subscribers import get_subscriber_by_id, unsubscribe


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
    unverified: int = 0
    kinds: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    """What a whole ingest run did."""

    messages: int = 0
    duplicates: int = 0
    events: int = 0
    unverified: int = 0
    unsubscribes: int = 0
    changes: list[str] = field(default_factory=list)
    outcomes: list[MessageOutcome] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """The totals and changes, as ``--json`` prints them."""
        return {
            "messages": self.messages,
            "duplicates": self.duplicates,
            "events": self.events,
            "unverified": self.unverified,
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


@dataclass(frozen=True)
class Target:
    """Whom one event is about, how that is known, and whether it may act."""

    subscriber_id: int | None
    campaign_id: int | None
    proof: str  # "" when nothing is proven: stored, and acted on by nobody


def target_of(
    conn: sqlite3.Connection, event: BounceEvent, parsed: ParsedBounce, config: BouncesConfig
) -> Target:
    """Apply the trust rule (docs/bounces.md) to one event.

    1. A token of ours that verifies (VERP envelope, signed Message-ID) names
       the subscriber and the campaign: that subscriber, whatever address the
       report names.
    2. Without VERP (no ``return_path``), and with no tampered token, the
       address the report names is matched to a subscriber, but only one who
       was sent a letter in the last ``match_days`` days.
    3. Anything else proves nothing: it is stored with the campaign that last
       mailed the address (a hint for ``campaigns show``) and changes nobody.
    """
    since = clock.iso(clock.now() - timedelta(days=config.match_days))
    if parsed.proof and event.subscriber is not None:
        subscriber = event.subscriber if get_subscriber_by_id(conn, event.subscriber) else None
        campaign = event.campaign if records.campaign_exists(conn, event.campaign) else None
        return Target(subscriber, campaign, parsed.proof)
    recent = records.recent_recipient(conn, address_key(event.recipient), since) if (
        event.recipient
    ) else None
    if recent is not None and not config.return_path and not parsed.tampered:
        return Target(recent[0], recent[1], "address")
    return Target(None, recent[1] if recent else None, "")


def ingest_message(
    store: Store, incoming: Incoming, config: Config, signer: tokens.Signer | None = None
) -> MessageOutcome:
    """Parse one message and, in one transaction, store its events and act on the proven ones."""
    parsed = parse_message(
        incoming.raw,
        return_path=config.bounces.return_path,
        signer=signer,
        envelope_to=incoming.envelope_to,
    )
    key = message_key(parsed, incoming.raw)
    outcome = MessageOutcome(source=incoming.source, message_id=key)
    with store.transaction() as conn:
        if records.already_stored(conn, key):
            outcome.duplicate = True
            return outcome
        if _unsubscribe_by_mail(conn, parsed, config, signer, key, incoming.source, outcome):
            return outcome
        for event in parsed.events:
            target = target_of(conn, event, parsed, config.bounces)
            forgotten = target.subscriber_id is None and _forgotten(conn, event.recipient)
            if forgotten:
                # Already suppressed by its hash: keep the event, not the address.
                event = dataclasses.replace(
                    event, recipient=f"forgotten-{_hash_of(event.recipient)[:12]}", diagnostic=""
                )
            stored = records.store_event(
                conn,
                event,
                message_id=key,
                source=incoming.source,
                subscriber_id=target.subscriber_id,
                campaign_id=target.campaign_id,
                proof=target.proof,
            )
            if not stored:
                continue
            outcome.stored += 1
            outcome.kinds.append(event.kind)
            if not target.proof:
                outcome.unverified += 1
            elif target.subscriber_id is not None:
                outcome.changes += policy.apply(
                    conn, event, target.subscriber_id, config.bounces, source=incoming.source
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
        report.unverified += outcome.unverified
        report.unsubscribes += UNSUBSCRIBE in outcome.kinds
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


def _unsubscribe_by_mail(
    conn: sqlite3.Connection,
    parsed: ParsedBounce,
    config: Config,
    signer: tokens.Signer | None,
    message_id: str,
    source: str,
    outcome: MessageOutcome,
) -> bool:
    """Unsubscribe the subscriber a valid mailto token names; False if it is not one.

    The addresses recognised are exactly those the letters advertise in
    List-Unsubscribe (``unsubscribe_mailboxes``). The request is stored as an
    ``unsubscribe`` row naming the subscriber and the list, so that it is read
    only once and shows in ``bounces ls``.
    """
    for recipient in parsed.addressed_to:
        token = unsubscribe_token(recipient, config)
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
        subscriber = get_subscriber_by_id(conn, subscriber_id)
        if subscriber is None:
            continue
        row = conn.execute("SELECT name FROM lists WHERE id = ?", (list_id,)).fetchone()
        left = (
            unsubscribe(conn, subscriber_id, list_id, method="mailto", source=source)
            if row is not None
            else []
        )
        list_name = row["name"] if row is not None else f"list {list_id} (removed)"
        campaign = claim.integer(2) or None
        request = BounceEvent(
            recipient=subscriber.email,
            kind=UNSUBSCRIBE,
            reason="mailto",
            diagnostic=f"asked by mail to leave {list_name}",
        )
        records.store_event(
            conn,
            request,
            message_id=message_id,
            source=source,
            subscriber_id=subscriber_id,
            campaign_id=campaign if records.campaign_exists(conn, campaign) else None,
            proof="mailto",
        )
        outcome.kinds.append(UNSUBSCRIBE)
        outcome.stored += 1
        if left:
            outcome.changes.append(f"{subscriber.email}: unsubscribed from {list_name} by mail")
        return True
    return False
