"""An accepted post becomes a campaign of kind ``post`` to the list's confirmed members.

So a post gets what a letter gets: the recipients snapshotted by the one
recipient query (confirmed, not suppressed), the journal, ``campaigns
resume``, the rate limits, retries, VERP bounces. The campaign is queued as
due now and sent by ``campaigns run`` or ``mailer worker``: the mail
server's pipe into ``mailer inbound`` must not wait while a list is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from mailer import clock
from mailer.config import Config
from mailer.errors import PostNotFound
from mailer.inbound.routes import posting_domain
from mailer.letters.sender import unsubscribe_links
from mailer.posting.rewrite import PostBuilder, list_address_of
from mailer.store import campaigns, digests, posts
from mailer.store.database import Store
from mailer.store.lists import find_list_by_id, posting_policy
from mailer.store.models import Campaign, CampaignState, MailingList, Post, Recipient
from mailer.tokens import Signer


def queue_post(store: Store, post: Post, mailing_list: MailingList) -> Campaign:
    """Make the post's campaign, due now, to the members who take each post, name it on
    the post and queue the post for the digest members (inside the caller's
    transaction, when there is one)."""
    with store.transaction() as conn:
        campaign = campaigns.create(
            store,
            lists=[mailing_list],
            subject=post.subject or "(no subject)",
            letter_path="",
            letter_source=f"post {post.id} to {mailing_list.name} from {post.sender}",
            kind="post",
        )
        posts.set_campaign(conn, post.id, campaign.id)
        digests.queue_post(conn, mailing_list.id, post.id)
        if campaign.recipients == 0:  # nothing of it would ever be due
            campaigns.set_state(store, campaign.id, CampaignState.DONE)
    return campaigns.get(store, campaign.id)


def expire_held(config: Config, store: Store) -> int:
    """Discard the posts that waited longer than ``[inbound] held_days``; how many.

    ``campaigns run`` and the worker call it on each round, ``held expire`` at will.
    """
    cutoff = clock.now() - timedelta(days=config.inbound.held_days)
    return posts.expire(store, clock.iso(cutoff))


def post_builder(config: Config, store: Store, campaign: Campaign, signer: Signer) -> PostBuilder:
    """The builder of a post campaign's messages, from the post as it was stored."""
    post = posts.of_campaign(store, campaign.id)
    if post is None or campaign.list_id is None:
        raise PostNotFound(0, f"campaign {campaign.id} has no post to send")
    mailing_list = find_list_by_id(store, campaign.list_id)
    if mailing_list is None:
        raise PostNotFound(post.id, f"the list of post {post.id} was removed")
    return builder_of(
        config, store, post, mailing_list,
        member_links(config, signer, mailing_list.id, campaign.id),
    )


def builder_of(
    config: Config, store: Store, post: Post, mailing_list: MailingList,
    unsubscribe: Callable[[Recipient], tuple[str, str]],
) -> PostBuilder:
    """A post's builder as stored, with the members' unsubscribe links ``unsubscribe``."""
    return PostBuilder(
        posts.raw_of(store, post.id),
        post,
        mailing_list,
        posting_policy(store, mailing_list.id),
        list_address=list_address_of(mailing_list, posting_domain(config)),
        unsubscribe=unsubscribe,
    )


def member_links(
    config: Config, signer: Signer, list_id: int, campaign_id: int
) -> Callable[[Recipient], tuple[str, str]]:
    """A member's own (HTTPS URL, mailto URI) of leaving the list, from this campaign."""
    links = unsubscribe_links(config, posting_domain(config))

    def unsubscribe(recipient: Recipient) -> tuple[str, str]:
        return links(signer.unsubscribe(recipient.subscriber_id or 0, list_id, campaign_id))

    return unsubscribe
