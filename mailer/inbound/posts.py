"""Messages to a list's posting address: stored for moderation, by the list's policy.

Lists have no posting policy yet, and the default one is closed: nobody
posts to a list by mail. A post is therefore stored whole and held with the
reason "posting is closed", so that a moderator can act on it once lists
can take posts; nothing is ever sent to the list from here.
"""

from __future__ import annotations

from mailer.errors import ListNotFound
from mailer.inbound.arrival import UNKNOWN_RECIPIENT, Arrival, Intake, Received
from mailer.inbound.routes import Destination, RouteKind
from mailer.store import posts
from mailer.store.lists import get_list
from mailer.store.models import MailingList, Outcome, PostStatus

CLOSED = "posting is closed"


def policy(mailing_list: MailingList) -> tuple[PostStatus, str]:
    """What becomes of a post to ``mailing_list``: its status and why."""
    return PostStatus.HELD, CLOSED


def take(intake: Intake, arrival: Arrival, destination: Destination) -> Received:
    """Store a post to a list (once), held or as the list's policy says."""
    facts = arrival.facts
    with intake.store.transaction() as conn:
        if intake.seen(conn, arrival):
            return Received(destination.kind, None)
        try:
            mailing_list = get_list(intake.store, destination.list_name)
        except ListNotFound:  # removed since this run read the lists
            unknown = Destination(RouteKind.UNKNOWN, destination.address)
            return intake.record(conn, arrival, unknown, Outcome.DROPPED, UNKNOWN_RECIPIENT)
        status, reason = policy(mailing_list)
        posts.insert(
            conn,
            posts.NewPost(
                list_id=mailing_list.id, list_name=mailing_list.name, sender=facts.sender,
                sender_name=facts.sender_name, subject=facts.subject,
                message_id=facts.message_id, raw=arrival.raw, status=status, reason=reason,
            ),
        )
        return intake.record(conn, arrival, destination, Outcome.STORED, f"{status}: {reason}")
