"""Ingesting bounce mail: parse, store, apply the policy, one message at a time.

Each message is one transaction: its events are stored and the policy applied
together, or not at all. A message whose Message-ID (or, lacking one, whose
content hash, ``bounces.identity``) was stored before is skipped, so reading
a mailbox twice, or the same bounce arriving through two sources, counts it
once.

Mail from strangers changes nobody: an event acts only when it proves
itself (``target_of``, the trust rule); the rest is stored as unverified.
A message to the List-Unsubscribe mailto address is not a bounce: it is a
request to leave (``bounces.mailto``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from mailer import clock, tokens
from mailer.bounces import policy
from mailer.bounces.identity import message_key
from mailer.bounces.mailto import unsubscribe_by_mail
from mailer.bounces.model import BounceEvent, ParsedBounce
from mailer.bounces.parse import parse_message
from mailer.bounces.providers.report import ProviderReport
from mailer.bounces.sources import Incoming
from mailer.config import BouncesConfig, Config
from mailer.contacts.addresses import address_hash, address_key
from mailer.store import bounces, campaigns, deliveries, subscribers, suppressions
from mailer.store.database import Store
from mailer.store.models import Proof


@dataclass
class IngestReport:
    """What a whole ingest run did (``--json`` prints it as it is)."""

    messages: int = 0
    duplicates: int = 0
    events: int = 0
    unverified: int = 0
    unsubscribes: int = 0
    changes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Target:
    """Whom one event is about, how that is known, and whether it may act."""

    subscriber_id: int | None
    campaign_id: int | None
    proof: Proof


def target_of(
    conn: sqlite3.Connection, event: BounceEvent, parsed: ParsedBounce, config: BouncesConfig
) -> Target:
    """The trust rule (docs/bounces.md), for one event.

    0. A report an email service provider signed (its webhook's signature or
       credentials verified: proof ``provider``) is the provider's word: the
       subscriber is the one at the address it reports (else the one our
       echoed Message-ID names), the campaign the one that Message-ID names.
    1. A token of ours that verifies (VERP envelope, signed Message-ID) names
       the subscriber and the campaign: that subscriber, whatever address the
       report names.
    2. Without VERP (no ``return_path``), and with no tampered token, the
       address the report names is matched to a subscriber, but only one who
       was sent a letter in the last ``match_days`` days.
    3. Anything else proves nothing: it is stored with the campaign that last
       mailed the address (a hint for ``campaigns show``) and changes nobody.
    """
    if parsed.proof == Proof.PROVIDER:
        found = subscribers.find_subscriber(conn, event.recipient) if event.recipient else None
        known = event.subscriber if bounces.subscriber_exists(conn, event.subscriber) else None
        campaign = event.campaign if campaigns.exists(conn, event.campaign) else None
        return Target(found.id if found else known, campaign, Proof.PROVIDER)
    if parsed.proof and event.subscriber is not None:
        subscriber = event.subscriber if bounces.subscriber_exists(conn, event.subscriber) else None
        campaign = event.campaign if campaigns.exists(conn, event.campaign) else None
        return Target(subscriber, campaign, Proof(parsed.proof))
    recent = None
    if event.recipient:
        since = clock.iso(clock.now() - timedelta(days=config.match_days))
        recent = deliveries.recent_recipient(conn, address_key(event.recipient), since)
    if recent is not None and not config.return_path and not parsed.tampered:
        return Target(recent[0], recent[1], Proof.ADDRESS)
    return Target(None, recent[1] if recent else None, Proof.NONE)


@dataclass
class _Outcome:
    """What one message did, to be added to the run's report."""

    duplicate: bool = False
    stored: int = 0
    unverified: int = 0
    unsubscribe: bool = False
    changes: list[str] = field(default_factory=list)


def ingest_message(
    store: Store, incoming: Incoming, config: Config, signer: tokens.Signer | None
) -> _Outcome:
    """Parse one message and, in one transaction, store its events and act on the proven ones."""
    parsed = parse_message(
        incoming.raw,
        return_path=config.bounces.return_path,
        signer=signer,
        envelope_to=incoming.envelope_to,
    )
    key = message_key(parsed, incoming.raw)
    outcome = _Outcome()
    with store.transaction() as conn:
        if bounces.already_stored(conn, key):
            outcome.duplicate = True
            return outcome
        request = unsubscribe_by_mail(conn, parsed, config, signer, key, incoming.source)
        if request is not None:
            outcome.stored, outcome.unsubscribe, outcome.changes = 1, True, request
            return outcome
        for event in parsed.events:
            _store_event(conn, event, parsed, key, incoming.source, config, outcome)
    return outcome


def _store_event(
    conn: sqlite3.Connection,
    event: BounceEvent,
    parsed: ParsedBounce,
    message_id: str,
    source: str,
    config: Config,
    outcome: _Outcome,
) -> None:
    target = target_of(conn, event, parsed, config.bounces)
    recipient, diagnostic = event.recipient, event.diagnostic
    if target.subscriber_id is None and recipient and suppressions.is_forgotten(
        conn, address_key(recipient)
    ):
        # Already suppressed by its hash: keep the event, not the address.
        recipient = f"forgotten-{address_hash(address_key(recipient))[:12]}"
        diagnostic = ""
    stored = bounces.insert(
        conn,
        bounces.NewBounce(
            message_id=message_id, recipient=recipient, kind=event.kind, status=event.status,
            reason=event.reason, diagnostic=diagnostic, source=source,
            subscriber_id=target.subscriber_id, campaign_id=target.campaign_id,
            proof=target.proof,
        ),
    )
    if stored is None:
        return
    outcome.stored += 1
    if target.proof is Proof.NONE:
        outcome.unverified += 1
    elif target.subscriber_id is not None:
        outcome.changes += policy.apply(
            conn, event, target.subscriber_id, config.bounces, source=source
        )


def ingest(
    store: Store,
    items: Iterable[Incoming],
    config: Config,
    *,
    done: Callable[[Incoming], None] | None = None,
) -> IngestReport:
    """Ingest every message; ``done`` is called after each one is committed."""
    signer = tokens.signer_for(config, missing="none")
    report = IngestReport()
    with store.transaction() as conn:
        policy.decay_scores(conn, config.bounces)
    for incoming in items:
        outcome = ingest_message(store, incoming, config, signer)
        report.messages += 1
        report.duplicates += outcome.duplicate
        report.events += outcome.stored
        report.unverified += outcome.unverified
        report.unsubscribes += outcome.unsubscribe
        report.changes += outcome.changes
        if done is not None:
            done(incoming)
    return report


@dataclass
class ReportsOutcome:
    """What one provider request did: rows stored, events already stored, changes made."""

    stored: int = 0
    duplicates: int = 0
    changes: list[str] = field(default_factory=list)


def ingest_reports(
    store: Store, reports: Sequence[ProviderReport], config: Config, signer: tokens.Signer
) -> ReportsOutcome:
    """Store a provider's verified reports and act on them, in one transaction.

    Each is keyed by the provider's event id, so the same event delivered
    again (providers retry until they get an answer) changes nothing. The
    campaign and subscriber come from our signed Message-ID where the
    provider quotes it.
    """
    outcome = _Outcome()
    with store.transaction() as conn:
        for report in reports:
            event = _event_of(report, signer)
            parsed = ParsedBounce(message_id=report.key, events=(event,), proof=Proof.PROVIDER)
            source = f"webhook:{report.provider}"
            _store_event(conn, event, parsed, report.key, source, config, outcome)
    return ReportsOutcome(outcome.stored, len(reports) - outcome.stored, outcome.changes)


#: How much of a provider's quotation of the original is searched for our Message-ID.
_QUOTED = 200_000


def _event_of(report: ProviderReport, signer: tokens.Signer) -> BounceEvent:
    """The report as a bounce event, naming the letter our quoted Message-ID names."""
    letter = tokens.quoted_message_id(signer, report.quoted[:_QUOTED])
    campaign, subscriber = (letter.integer(0), letter.integer(1)) if letter else (0, 0)
    return BounceEvent(
        recipient=report.recipient, kind=report.kind, status=report.status,
        reason=report.reason, diagnostic=report.diagnostic,
        campaign=campaign or None, subscriber=subscriber or None,
    )
