"""A list's welcome letter: set it once, and send it to each new member once.

The welcome letter is a campaign of its own kind that never finishes: it
starts with nobody, and each member who joins is added to it and sent the
letter at once. So a welcome letter gets everything a campaign has for
free: its translations (each new member gets their language), the journal,
retries of a deferred message by ``campaigns run``, bounces that name it,
and ``campaigns show``. A person is welcomed to a list once, ever: leaving
and joining again, or a new welcome letter, does not welcome them twice.

Who is welcomed: a member who joins through the web (on confirming, or at
once on a list without double opt-in), and one added from the command line
or an import with ``--welcome``. Never anyone else.
"""

from __future__ import annotations

import contextlib

from mailer import clock, tokens
from mailer.config import Config
from mailer.dispatch.journal import CampaignBusy
from mailer.dispatch.plan import letter_files
from mailer.dispatch.run import deliver
from mailer.dispatch.transports.base import Transport
from mailer.letters.compile import sample_recipient
from mailer.letters.editions import CompiledEditions, Editions
from mailer.store import Store, campaigns, deliveries
from mailer.store.events import dump, record_event, record_many
from mailer.store.lists import find_list_by_id
from mailer.store.models import Campaign, MailingList
from mailer.store.subscribers import get_subscriber_by_id


def set_welcome(
    config: Config, store: Store, mailing_list: MailingList, editions: Editions
) -> Campaign:
    """Make ``editions`` the list's welcome letter, checked first (every edition compiles)."""
    compiled = CompiledEditions(
        editions,
        config=config,
        lists=[mailing_list],
        signer=tokens.signer_for(config, missing="error"),
    )
    compiled.compile_all()
    compiled.build(sample_recipient(editions.original))
    original = editions.original
    return campaigns.create_welcome(
        store,
        mailing_list=mailing_list,
        subject=original.subject,
        letter_path=str(original.path),
        letter_source=original.source,
        files=letter_files(editions),
    )


def remove_welcome(store: Store, mailing_list: MailingList) -> None:
    """New members get no welcome letter any more (who is queued still gets theirs)."""
    campaigns.end_welcome(store, mailing_list)


def welcome(
    config: Config,
    store: Store,
    list_id: int,
    subscriber_id: int,
    *,
    transport: Transport | None = None,
) -> bool:
    """Add a new member to their list's welcome letter and send it now; whether they were.

    Nothing happens when the list has no welcome letter or welcomed them
    before. A message the relay defers is retried by ``campaigns run``.
    """
    mailing_list = find_list_by_id(store, list_id)
    if mailing_list is None or mailing_list.welcome_campaign_id is None:
        return False
    campaign_id = mailing_list.welcome_campaign_id
    with store.transaction() as conn:
        subscriber = get_subscriber_by_id(conn, subscriber_id)
        if subscriber is None:
            return False
        added = deliveries.add_welcome(
            conn, campaign_id, mailing_list.id, subscriber.id, subscriber.email
        )
        if added:
            record_event(
                conn, subscriber.id, "welcome letter", {"campaign": campaign_id},
                list_id=mailing_list.id,
            )
    if added:
        # Another process sending the welcome letter right now takes this member too.
        with contextlib.suppress(CampaignBusy):
            deliver(config, store, campaign_id, transport=transport)
    return added


def welcome_imported(
    config: Config,
    store: Store,
    list_id: int,
    source: str,
    since: str,
    *,
    transport: Transport | None = None,
) -> int:
    """Welcome everyone the import of the file ``source``, begun at ``since``, made a member.

    For ``subscribers import --welcome``: one statement adds the import's new
    confirmed members (never anyone the list welcomed before), then the letter goes out
    to all of them in one send. How many were added; 0 when the list has no
    welcome letter.
    """
    mailing_list = find_list_by_id(store, list_id)
    if mailing_list is None or mailing_list.welcome_campaign_id is None:
        return 0
    campaign_id = mailing_list.welcome_campaign_id
    with store.transaction() as conn:
        added = deliveries.add_welcome_imported(conn, campaign_id, list_id, source, since)
        at = clock.now_iso()
        detail = dump({"campaign": campaign_id})
        record_many(conn, ((at, sid, list_id, "welcome letter", detail) for sid in added))
    if added:
        with contextlib.suppress(CampaignBusy):
            deliver(config, store, campaign_id, transport=transport)
    return len(added)
