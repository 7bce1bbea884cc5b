"""Planning a send: who would get the letter, whether it went out before, and the campaign.

``plan_send`` reads the segment and counts the recipients with the one
recipient query (``store.deliveries``); ``create_campaign`` snapshots them.
The rule "a letter this list already received goes out again only when
asked for" lives here, not in the command line: ``create_campaign`` raises
``AlreadySent`` unless ``again`` is given.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailer.dispatch.segment import parse_segment
from mailer.errors import ConflictError
from mailer.letters.source import Letter
from mailer.store import Store, campaigns, deliveries
from mailer.store.models import Campaign, Condition, MailingList
from mailer.store.segments import check_fields


class AlreadySent(ConflictError):
    """This letter (the same source text) was sent to this list before."""

    def __init__(self, list_name: str, earlier: Campaign) -> None:
        self.list_name = list_name
        self.earlier = earlier
        super().__init__(
            f"this letter was already sent to list {list_name} "
            f"(campaign {earlier.id}, {earlier.created_at}, {earlier.state})"
        )


@dataclass(frozen=True)
class SendPlan:
    """A letter, a list and a segment, checked: how many it reaches and whether it was sent."""

    letter: Letter
    mailing_list: MailingList
    segment: str
    conditions: tuple[Condition, ...]
    recipients: int
    earlier: Campaign | None


def plan_send(store: Store, letter: Letter, mailing_list: MailingList, segment: str) -> SendPlan:
    """Read the segment, refuse fields nobody has, count the recipients, find earlier sends."""
    conditions = tuple(parse_segment(segment))
    check_fields(store, mailing_list.id, mailing_list.name, conditions)
    earlier = campaigns.earlier(store, mailing_list.id, campaigns.letter_hash(letter.source))
    return SendPlan(
        letter=letter,
        mailing_list=mailing_list,
        segment=segment,
        conditions=conditions,
        recipients=deliveries.count_recipients(store, mailing_list.id, conditions),
        earlier=earlier[-1] if earlier else None,
    )


def create_campaign(store: Store, plan: SendPlan, *, again: bool = False) -> Campaign:
    """Record the campaign and snapshot its recipients; ``AlreadySent`` for a repeat.

    A repeat goes out only with ``again``: a script that always confirms must
    not mail the same letter twice by accident.
    """
    if plan.earlier is not None and not again:
        raise AlreadySent(plan.mailing_list.name, plan.earlier)
    return campaigns.create(
        store,
        mailing_list=plan.mailing_list,
        subject=plan.letter.subject,
        letter_path=str(plan.letter.path),
        letter_source=plan.letter.source,
        segment=plan.segment,
        conditions=plan.conditions,
    )
