"""Pruning: a finished campaign's rows per recipient dropped, its counts kept on it.

A ``deliveries`` row is about 170 bytes per recipient per campaign, which a
list of millions mailed every week turns into gigabytes. Once a campaign is
finished (``done`` or ``cancelled``) only its counts are still read, so they
are written onto the campaign (``pruned_at`` and the totals, and each list's
count on ``campaign_lists``) in one transaction, before any row goes. Then
the rows go in batches, each a short transaction of its own, so a sender
working on the same database never waits long; if pruning stops halfway,
the counts are already kept and the next prune drops the rest. The failed
rows stay: they are the failures ``campaigns show`` lists. Bounces are
another table and are never touched.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from mailer.store.database import Store
from mailer.store.models import CampaignState

#: The states in which nothing more can be sent, so the rows are no longer needed.
FINISHED = (CampaignState.DONE, CampaignState.CANCELLED)
#: Rows dropped per transaction.
BATCH = 50_000
#: The rows a prune drops: every delivery of the campaign but its failures.
_DROPPED = "d.campaign_id = ? AND d.state != 'failed'"


@dataclass(frozen=True)
class Candidate:
    """A campaign that finished before the cut-off, with the rows a prune would drop."""

    id: int
    subject: str
    state: CampaignState
    finished_at: str
    rows: int
    failures: int


def finished_before(store: Store, before: str, ids: Sequence[int] = ()) -> list[Candidate]:
    """Campaigns (of ``ids``, if given) that ended before ``before`` and still hold rows
    to drop (unpruned, or pruned halfway), in id order, whatever their state."""
    only = f" AND c.id IN ({', '.join('?' * len(ids))})" if ids else ""
    rows = store.all(
        "SELECT c.id, c.subject, c.state, coalesce(c.finished_at, c.created_at), "
        "(SELECT count(*) FROM deliveries d WHERE " + _DROPPED.replace("?", "c.id") + "), "
        "(SELECT count(*) FROM deliveries d WHERE d.campaign_id = c.id AND d.state = 'failed') "
        "FROM campaigns c WHERE coalesce(c.finished_at, c.created_at) < ?" + only +
        " AND (c.pruned_at IS NULL OR EXISTS (SELECT 1 FROM deliveries d WHERE "
        + _DROPPED.replace("?", "c.id") + ")) ORDER BY c.id",
        (before, *ids),
    )
    return [Candidate(r[0], r[1], CampaignState(r[2]), r[3], r[4], r[5]) for r in rows]


def keep_counts(store: Store, campaign_id: int, now: str) -> bool:
    """Write a finished campaign's counts onto it (once); False if it is not finished."""
    with store.transaction() as conn:
        cursor = conn.execute(
            "UPDATE campaigns SET pruned_at = ?2, "
            + ", ".join(
                f"{state}_total = (SELECT count(*) FROM deliveries d "
                f"WHERE d.campaign_id = ?1 AND d.state = '{state}')"
                for state in ("pending", "sent", "deferred", "failed")
            )
            + ", tried_total = (SELECT count(*) FROM deliveries d "
            "WHERE d.campaign_id = ?1 AND d.attempts > 0)"
            ", first_sent_at = (SELECT min(sent_at) FROM deliveries d "
            "WHERE d.campaign_id = ?1 AND d.state = 'sent'), "
            "last_sent_at = (SELECT max(sent_at) FROM deliveries d "
            "WHERE d.campaign_id = ?1 AND d.state = 'sent') "
            "WHERE id = ?1 AND pruned_at IS NULL AND state IN ('done', 'cancelled')",
            (campaign_id, now),
        )
        if cursor.rowcount:
            conn.execute(
                "UPDATE campaign_lists SET recipients = (SELECT count(*) FROM deliveries d "
                "JOIN campaigns c ON c.id = d.campaign_id WHERE d.campaign_id = ?1 "
                "AND coalesce(d.list_id, c.list_id) = campaign_lists.list_id) "
                "WHERE campaign_id = ?1",
                (campaign_id,),
            )
        return cursor.rowcount > 0 or _pruned(conn, campaign_id)


def _pruned(conn: sqlite3.Connection, campaign_id: int) -> bool:
    row = conn.execute(
        "SELECT pruned_at IS NOT NULL FROM campaigns WHERE id = ?", (campaign_id,)
    ).fetchone()
    return bool(row and row[0])


def drop_rows(store: Store, campaign_id: int, *, batch: int = BATCH) -> int:
    """Drop a pruned campaign's rows but its failures, a batch per transaction; how many."""
    dropped = 0
    while True:
        with store.transaction() as conn:
            count = conn.execute(
                "DELETE FROM deliveries WHERE campaign_id = ?1 AND subscriber_id IN "
                "(SELECT d.subscriber_id FROM deliveries d WHERE "
                + _DROPPED.replace("?", "?1")
                + " AND EXISTS (SELECT 1 FROM campaigns c WHERE c.id = ?1 "
                "AND c.pruned_at IS NOT NULL) LIMIT ?2)",
                (campaign_id, batch),
            ).rowcount
        dropped += count
        if count < batch:
            return dropped
