"""What a proven bounce does to a subscriber (``bounces.ingest`` decides what is proven).

- hard: the address is dead; the subscriber becomes ``bounced`` and gets no
  more mail from any list.
- complaint: the person called our mail spam; they leave every list, become
  ``complained`` and their address is suppressed, so no import brings it back.
- soft: the score rises by one, at most once a (UTC) day, so that one bad
  day at a provider counts once; a quiet period (``decay_days``) without a
  scored bounce resets it to zero; at ``soft_threshold`` the subscriber is
  disabled as ``bounced``.
- a refusal of *our sender* (reason ``rejected``: refused at MAIL FROM, or a
  bad-sender code): written to the history, never scored, never a status
  change. It is our problem, not the subscriber's, and it would otherwise
  disable every subscriber at the provider that refused us.
- a "not-spam" feedback report (the person marked our mail as wanted) and
  delayed, auto-reply, unknown: stored, nothing changes.

Every change is written to the subscriber's history in the same transaction.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from mailer import clock
from mailer.bounces.model import COMPLAINT, HARD, SENDER_REFUSED, SOFT, BounceEvent
from mailer.config import BouncesConfig
from mailer.store import subscribers, subscriptions
from mailer.store.events import record_event
from mailer.store.models import SubscriberStatus
from mailer.store.subscribers import set_status
from mailer.store.suppressions import suppress

#: The reason of a feedback report saying the mail was wanted (RFC 6430).
NOT_SPAM = "notspam"


def apply(
    conn: sqlite3.Connection,
    event: BounceEvent,
    subscriber_id: int | None,
    config: BouncesConfig,
    *,
    source: str = "",
) -> list[str]:
    """Apply one stored, proven event; returns a line for each change it made.

    Only a subscriber is ever changed or suppressed: an event that names
    nobody we know changes nothing, so a report about a stranger cannot
    keep that stranger from joining later.
    """
    if subscriber_id is None:
        return []
    if event.kind == COMPLAINT:
        if event.reason == NOT_SPAM:
            return []
        return _complaint(conn, subscriber_id, source, event.reason)
    if event.kind not in (HARD, SOFT):
        return []
    record_event(
        conn,
        subscriber_id,
        "bounce",
        {"kind": event.kind, "status": event.status, "reason": event.reason,
         "campaign": event.campaign, "source": source},
    )
    if event.reason == SENDER_REFUSED:
        return []  # recorded above; the subscriber did nothing wrong
    if event.kind == HARD:
        return _disable(conn, subscriber_id, f"hard bounce ({event.reason or event.status})")
    return _soft(conn, subscriber_id, config)


def _disable(conn: sqlite3.Connection, subscriber_id: int, reason: str) -> list[str]:
    found = subscribers.bounce_score(conn, subscriber_id)
    if found is None or found["status"] != SubscriberStatus.ACTIVE:
        return []  # already not mailed (unsubscribed, complained, blocked, bounced)
    set_status(conn, subscriber_id, SubscriberStatus.BOUNCED, reason=reason)
    return [f"{found['email']}: bounced ({reason})"]


def _complaint(
    conn: sqlite3.Connection, subscriber_id: int, source: str, reason: str
) -> list[str]:
    found = subscribers.bounce_score(conn, subscriber_id)
    if found is None:
        return []
    email = found["email"]
    changes: list[str] = []
    record_event(conn, subscriber_id, "complaint", {"reason": reason, "source": source})
    left = subscriptions.leave(conn, subscriber_id, None, method="complaint", source=source)
    if left:
        changes.append(f"{email}: unsubscribed from {len(left)} list(s) (complaint)")
    if set_status(conn, subscriber_id, SubscriberStatus.COMPLAINED, reason="spam complaint"):
        changes.append(f"{email}: complained")
    suppress(conn, "email", email, "complaint")
    return changes


def _soft(conn: sqlite3.Connection, subscriber_id: int, config: BouncesConfig) -> list[str]:
    row = subscribers.bounce_score(conn, subscriber_id)
    if row is None:
        return []
    now = clock.now()
    score: int = row["bounce_score"]
    scored_at: str | None = row["bounce_scored_at"]
    changes: list[str] = []
    if scored_at and score and _stale(scored_at, config.decay_days):
        record_event(conn, subscriber_id, "bounce_score",
                     {"from": score, "to": 0, "reason": "quiet period"})
        score = 0
    if scored_at and clock.parse_iso(scored_at).date() == now.date() and score:
        return changes  # already counted today
    record_event(conn, subscriber_id, "bounce_score",
                 {"from": score, "to": score + 1, "reason": "soft bounce"})
    score += 1
    subscribers.set_bounce_score(conn, subscriber_id, score)
    changes.append(f"{row['email']}: bounce score {score}")
    if score >= config.soft_threshold:
        changes += _disable(
            conn, subscriber_id, f"soft bounce score {score} reached {config.soft_threshold}"
        )
    return changes


def _stale(scored_at: str, decay_days: int) -> bool:
    elapsed = clock.now() - clock.parse_iso(scored_at)
    return elapsed.total_seconds() >= decay_days * 86400


def decay_scores(conn: sqlite3.Connection, config: BouncesConfig) -> int:
    """Reset every score whose last scored bounce is older than the quiet period."""
    cutoff = clock.iso(clock.now() - timedelta(days=config.decay_days))
    stale = subscribers.stale_scores(conn, cutoff)
    for subscriber_id, score in stale:
        subscribers.reset_score(conn, subscriber_id)
        record_event(conn, subscriber_id, "bounce_score",
                     {"from": score, "to": 0, "reason": "quiet period"})
    return len(stale)
