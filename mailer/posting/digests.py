"""Digests: a member's choice to take a list's posts daily or weekly, and the digests due.

A digest member gets no post as it is sent (its campaign leaves them out);
the post is queued for them instead. ``campaigns run`` and the worker call
``make_due`` on each round: for each list, the members whose period is over
and who have posts queued get one digest, a campaign of kind ``digest``
(so a digest has what every campaign has: the journal, retries, ``campaigns
resume``, the guards). The period counts from the moment the member chose a
digest, a day or a week at a time: a daily digest is due at that time of
day, and it does not drift later by the worker's interval. A member with
nothing queued gets no digest; one who turns the digest off gets what was
queued for them in one last digest on the next round; one who leaves the
list loses what was queued for them.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from mailer import clock
from mailer.errors import NotOnList, UsageError
from mailer.store import campaigns, digests
from mailer.store.database import Store
from mailer.store.digests import DIGEST_MODES, DigestMember
from mailer.store.events import record_event
from mailer.store.lists import find_list_by_id
from mailer.store.models import MailingList, Subscriber

#: How long each kind of digest waits between two.
PERIODS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}


def choose_digest(
    store: Store, subscriber: Subscriber, mailing_list: MailingList, mode: str
) -> str:
    """Set how the member takes the list's posts (``daily``, ``weekly`` or ``off``); the
    mode they had. ``NotOnList`` when they are not on it; the change is in their history."""
    if mode not in DIGEST_MODES:
        raise UsageError(f"digest {mode!r}: one of {', '.join(DIGEST_MODES)}")
    with store.transaction() as conn:
        before = digests.choose(conn, mailing_list.id, subscriber.id, mode, clock.now_iso())
        if before is None:
            raise NotOnList(subscriber.email, mailing_list.name)
        if before != mode:
            record_event(conn, subscriber.id, "digest", {"from": before, "to": mode},
                         list_id=mailing_list.id)
    return before


def make_due(store: Store) -> list[int]:
    """Make a digest campaign for each list with members due; the campaigns' ids."""
    made = []
    for list_id in digests.lists_waiting(store):
        mailing_list = find_list_by_id(store, list_id)
        if mailing_list is not None:
            campaign_id = _make_one(store, mailing_list, clock.now())
            if campaign_id is not None:
                made.append(campaign_id)
    return made


def _make_one(store: Store, mailing_list: MailingList, now: datetime) -> int | None:
    """The list's digest campaign to its members due, in one transaction; None when
    nobody is due."""
    daily = clock.iso(now - PERIODS["daily"])
    weekly = clock.iso(now - PERIODS["weekly"])
    with store.transaction() as conn:
        digests.drop_unmailable(conn, mailing_list.id)
        if digests.count_due(conn, mailing_list.id, daily, weekly) == 0:
            return None
        members: list[DigestMember] = []

        def recipients(conn: sqlite3.Connection, campaign_id: int) -> int:
            members.extend(digests.snapshot(conn, campaign_id, mailing_list.id, daily, weekly))
            return len(members)

        campaign = campaigns.create(
            store, lists=[mailing_list], subject=f"{mailing_list.display_title} Digest",
            letter_path="", letter_source=f"digest of {mailing_list.name} at {clock.iso(now)}",
            kind="digest", recipients=recipients,
        )
        moved = [(m.subscriber_id, next_since(m, now)) for m in members if m.mode in PERIODS]
        digests.move_since(conn, mailing_list.id, moved)
    return campaign.id


def next_since(member: DigestMember, now: datetime) -> str:
    """Where the member's next period counts from: their last one moved on by whole
    periods up to ``now`` (the time of day they chose is kept)."""
    period = PERIODS[member.mode]
    if member.since is None:
        return clock.iso(now)
    since = clock.parse_iso(member.since)
    whole = max(1, (now - since) // period)
    return clock.iso(since + whole * period)
