"""Decisions on posts that wait: a moderator's (approve, reject, discard), the poster's
confirmation, and expiry.

A decision is taken once: of two moderators deciding at the same moment,
one decides and the other is told it was decided already. Approving queues
the post's campaign (``distribute.queue_post``); ``--always`` also makes the
poster one of the list's posters. Rejecting answers the poster politely;
discarding tells nobody. Posts nobody decides on are discarded after
``[inbound] held_days``.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage

import nh3

from mailer import clock, tokens
from mailer.config import Config
from mailer.dispatch.run import send_one
from mailer.errors import ConflictError, MailerError
from mailer.i18n import catalogue_language
from mailer.inbound.message import content_of
from mailer.letters.sender import web_base_url
from mailer.posting import notices
from mailer.posting.distribute import queue_post
from mailer.store import posts, roles
from mailer.store.database import Store
from mailer.store.lists import find_list_by_id
from mailer.store.models import ListRole, Post, PostStatus
from mailer.store.posts import Decision
from mailer.store.subscribers import find_subscriber

#: What of a post's HTML a moderator's page shows: text and its structure, no images,
#: no styles, no scripts, links that open nothing by themselves.
_TAGS = {
    "a", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "hr", "i",
    "li", "ol", "p", "pre", "span", "strong", "table", "tbody", "td", "th", "thead", "tr",
    "u", "ul",
}


@dataclass(frozen=True)
class HeldPost:
    """A waiting post as a moderator reads it."""

    post: Post
    text: str
    #: The HTML body cleaned of scripts, styles, images and remote content ("" if none).
    html: str
    attachments: tuple[str, ...]


def held(store: Store, list_id: int | None = None) -> list[Post]:
    """The posts that wait for a decision, oldest first."""
    return posts.waiting(store, list_id)


def read(store: Store, post_id: int) -> HeldPost:
    """A post with its text, cleaned HTML and the names of its files."""
    post = posts.get(store, post_id)
    raw = posts.raw_of(store, post_id)
    content = content_of(raw)
    files = tuple(
        f"{a.filename or '(unnamed)'} ({a.content_type}, {len(a.data):,} bytes)"
        for a in content.attachments
    )
    return HeldPost(post, content.text, clean_html(_html_of(raw)), files)


def _html_of(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    body = message.get_body(("html",)) if isinstance(message, EmailMessage) else None
    if body is None:
        return ""
    payload = body.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    return data.decode(body.get_content_charset() or "utf-8", errors="replace")


def clean_html(markup: str) -> str:
    """``markup`` with nothing that runs, loads or styles anything (Ammonia, through nh3)."""
    if not markup:
        return ""
    return nh3.clean(
        markup, tags=_TAGS, attributes={"a": {"href"}}, url_schemes={"https", "http", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def _waiting(store: Store, post_id: int) -> Post:
    post = posts.get(store, post_id)
    if post.status not in posts.WAITING:
        raise ConflictError(f"post {post_id} was {post.status} already ({post.decided_at})")
    return post


def approve(store: Store, post_id: int, *, always: bool = False, proof: str = "moderator") -> Post:
    """Send the post to the list; with ``always`` its poster may post from now on."""
    post = _waiting(store, post_id)
    mailing_list = find_list_by_id(store, post.list_id) if post.list_id else None
    if mailing_list is None:
        raise ConflictError(f"the list of post {post_id} ({post.list_name}) was removed")
    with store.transaction() as conn:
        decision = Decision(PostStatus.APPROVED, f"approved ({proof})", proof=proof)
        if not posts.decide(conn, post_id, decision):
            raise ConflictError(f"post {post_id} was decided already")
        queue_post(store, post, mailing_list)
        if always and post.sender:
            roles.add(store, mailing_list.id, ListRole.POSTER, post.sender)
    return posts.get(store, post_id)


def reject(config: Config, store: Store, post_id: int, reason: str = "") -> tuple[Post, bool]:
    """Refuse the post and tell its poster why; the post, and whether the answer went."""
    _waiting(store, post_id)
    with store.transaction() as conn:
        decision = Decision(PostStatus.REJECTED, "rejected by a moderator", note=reason)
        if not posts.decide(conn, post_id, decision):
            raise ConflictError(f"post {post_id} was decided already")
    post = posts.get(store, post_id)
    return post, answer_rejected(config, store, post, reason)


def answer_rejected(config: Config, store: Store, post: Post, reason: str) -> bool:
    """Tell the poster, in their language, that the list did not take the post; whether
    the answer went."""
    return deliver(config, notices.rejected(post, reason, poster_language(store, post)))


def poster_language(store: Store, post: Post) -> str:
    """The language a poster reads: theirs as a subscriber, else their list's default.

    A poster who is on no list reads the list's language: they wrote to it.
    """
    subscriber = find_subscriber(store, post.sender) if post.sender else None
    mailing_list = find_list_by_id(store, post.list_id) if post.list_id else None
    return catalogue_language(
        subscriber.language if subscriber is not None else "",
        mailing_list.language if mailing_list is not None else "",
    )


def discard(store: Store, post_id: int) -> Post:
    """Drop the post; nobody is told."""
    _waiting(store, post_id)
    with store.transaction() as conn:
        if not posts.decide(conn, post_id, Decision(PostStatus.DISCARDED, "discarded")):
            raise ConflictError(f"post {post_id} was decided already")
    return posts.get(store, post_id)


def confirm(store: Store, post_id: int) -> Post:
    """The poster's confirmation through the mailed link: the post goes to the list."""
    post = posts.get(store, post_id)
    if post.status is not PostStatus.UNCONFIRMED:
        raise ConflictError(f"post {post_id} does not wait for its poster ({post.status})")
    return approve(store, post_id, proof="confirmed")


def lifetime(config: Config, post: Post) -> timedelta:
    """How long links about a post stay good: as long as it may wait."""
    waited = clock.now() - clock.parse_iso(post.received_at)
    return max(timedelta(days=config.inbound.held_days) - waited, timedelta(minutes=1))


def moderator_tag(address: str) -> str:
    """Who a moderation link was mailed to, as its token carries it."""
    return hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()[:12]


def notify_moderators(config: Config, store: Store, post: Post) -> int:
    """Mail each of the list's moderators a notice with their link; how many went."""
    signer = tokens.signer_for(config, missing="none")
    if signer is None or post.list_id is None:
        return 0
    text = content_of(posts.raw_of(store, post.id)).text
    sent = 0
    for moderator in roles.of_list(store, post.list_id, ListRole.MODERATOR):
        token = signer.moderate(post.id, moderator_tag(moderator), lifetime(config, post))
        link = f"{web_base_url(config)}/moderate/{token}"
        sent += deliver(config, notices.held(config, post, moderator, link, text))
    return sent


def ask_poster(config: Config, store: Store, post: Post) -> bool:
    """Mail the poster, in their language, the link that confirms their post; whether it
    went."""
    signer = tokens.signer_for(config, missing="none")
    if signer is None:
        return False
    token = signer.confirm_post(post.id, lifetime(config, post))
    return deliver(config, notices.confirm(config, post, token, poster_language(store, post)))


def deliver(config: Config, notice: notices.Notice) -> bool:
    """Send a notice now; whether the relay took it (a notice that cannot go now is not
    worth failing a decision or an intake for: the post is listed by ``held ls``)."""
    try:
        asyncio.run(send_one(config, notices.outgoing(config, notice)))
    except MailerError:
        return False
    return True
