"""Messages to a list's posting address: judged by the list's policy, stored, and acted on.

Before the write lock is taken (nothing slow happens while holding it):
who the From address is to the list (a poster, a confirmed member, a
stranger), what the receiving server's trusted ``Authentication-Results``
prove (``posting.authresults``), the verdict (``posting.policy.judge``),
and what the poster's DMARC policy asks (``posting.munging``, a DNS
look-up). Then, in one transaction with its line in the intake's log, the
post is stored whole with its status and, when accepted, its campaign is
queued (sent by ``campaigns run`` or the worker). After the commit the
mails it calls for go out: the moderators' notices of a held post, the
polite answer to a refused one, the poster's confirmation link.
"""

from __future__ import annotations

from email.parser import BytesHeaderParser
from email.policy import compat32

from mailer.errors import ListNotFound
from mailer.inbound.arrival import UNKNOWN_RECIPIENT, Arrival, Intake, Received
from mailer.inbound.routes import Destination, RouteKind
from mailer.posting import authresults, moderation, munging
from mailer.posting.distribute import queue_post
from mailer.posting.policy import Standing, Verdict, judge
from mailer.store import posts, roles, subscriptions
from mailer.store.database import Store
from mailer.store.lists import get_list, posting_policy
from mailer.store.models import ListRole, MailingList, Outcome, Post, PostStatus


def standing(store: Store, list_id: int, sender: str) -> Standing:
    """Who ``sender`` is to the list."""
    if not sender:
        return Standing.STRANGER
    if roles.has(store, list_id, ListRole.POSTER, sender):
        return Standing.POSTER
    if subscriptions.confirmed_member(store, list_id, sender):
        return Standing.MEMBER
    return Standing.STRANGER


def verdict_on(intake: Intake, mailing_list: MailingList, arrival: Arrival) -> tuple[Verdict, str]:
    """The verdict on a post, and what is done for its poster's DMARC policy."""
    policy = posting_policy(intake.store, mailing_list.id)
    sender = arrival.facts.sender
    domain = sender.rpartition("@")[2].lower()
    head = BytesHeaderParser(policy=compat32).parsebytes(arrival.raw)
    trusted = authresults.trusted(head.items(), intake.config.inbound.authserv_id)
    verdict = judge(policy, standing(intake.store, mailing_list.id, sender),
                    authresults.proof(trusted, domain))
    if verdict.status is PostStatus.REJECTED:
        return verdict, ""
    return verdict, munging.action_for(intake.config, policy.dmarc, domain)


def take(intake: Intake, arrival: Arrival, destination: Destination) -> Received:
    """Store a post to a list (once) with the verdict of its list's policy, and act on it."""
    facts = arrival.facts
    try:
        mailing_list = get_list(intake.store, destination.list_name)
    except ListNotFound:  # removed since this run read the lists
        mailing_list = None
    with intake.store.transaction() as conn:
        if intake.seen(conn, arrival):
            return Received(destination.kind, None)
        if mailing_list is None:
            unknown = Destination(RouteKind.UNKNOWN, destination.address)
            return intake.record(conn, arrival, unknown, Outcome.DROPPED, UNKNOWN_RECIPIENT)
    verdict, dmarc = verdict_on(intake, mailing_list, arrival)
    with intake.store.transaction() as conn:
        if intake.seen(conn, arrival):
            return Received(destination.kind, None)
        post_id = posts.insert(
            conn,
            posts.NewPost(
                list_id=mailing_list.id, list_name=mailing_list.name, sender=facts.sender,
                sender_name=facts.sender_name, subject=facts.subject,
                message_id=facts.message_id, raw=arrival.raw, status=verdict.status,
                reason=verdict.reason, proof=verdict.proof, dmarc=dmarc,
            ),
        )
        post = posts.get(conn, post_id)
        if verdict.status is PostStatus.APPROVED:
            queue_post(intake.store, post, mailing_list)
        received = intake.record(
            conn, arrival, destination, Outcome.STORED, f"{verdict.status}: {verdict.reason}"
        )
    _tell(intake, post)
    return received


def _tell(intake: Intake, post: Post) -> None:
    """The mails a new post calls for, once it is stored."""
    if post.status is PostStatus.HELD:
        moderation.notify_moderators(intake.config, intake.store, post)
    elif post.status is PostStatus.REJECTED and post.sender:
        moderation.answer_rejected(intake.config, intake.store, post, post.reason)
    elif post.status is PostStatus.UNCONFIRMED and post.sender:
        moderation.ask_poster(intake.config, intake.store, post)
