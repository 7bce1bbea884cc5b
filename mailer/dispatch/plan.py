"""Planning a send: who would get the letter, whether it went out before, and the campaign.

``plan_send`` reads the segment and counts the recipients with the one
recipient query (``store.deliveries``); ``create_campaign`` snapshots them.
The rule "a letter this list already received goes out again only when
asked for" lives here, not in the command line: ``create_campaign`` raises
``AlreadySent`` unless ``again`` is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mailer.dispatch.schedule import SendTime, describe
from mailer.dispatch.segment import parse_segment
from mailer.errors import ConflictError
from mailer.letters.editions import Editions
from mailer.letters.files import kept_files
from mailer.letters.source import Letter, parse_letter
from mailer.store import Store, campaigns, deliveries
from mailer.store.campaigns import CampaignFile
from mailer.store.models import Campaign, CampaignState, Condition, MailingList
from mailer.store.segments import check_fields


class AlreadySent(ConflictError):
    """This letter (the same source text) was sent to this list before, or waits to be."""

    def __init__(self, list_name: str, earlier: Campaign) -> None:
        self.list_name = list_name
        self.earlier = earlier
        if earlier.state is CampaignState.SCHEDULED and earlier.scheduled_at is not None:
            when = describe(earlier.scheduled_at, earlier.scheduled_zone)
            super().__init__(
                f"this letter is already scheduled for list {list_name} "
                f"(campaign {earlier.id}, for {when})"
            )
            return
        super().__init__(
            f"this letter was already sent to list {list_name} "
            f"(campaign {earlier.id}, {earlier.created_at}, {earlier.state})"
        )


@dataclass(frozen=True)
class LanguageShare:
    """How many recipients get the edition in one language, and who of them read another.

    ``language`` is the edition's ("" for an original that does not say its
    language); ``fallbacks`` counts, by the language they read ("" when not
    known), the recipients who get this edition for want of their own.
    """

    language: str
    recipients: int
    fallbacks: dict[str, int]


def language_shares(
    editions: Editions, lists: Sequence[MailingList], counts: dict[tuple[int, str], int]
) -> tuple[LanguageShare, ...]:
    """Who gets which edition, from the recipients counted by list and language."""
    defaults = {each.id: each.language for each in lists}
    totals: dict[str, int] = {}
    fallbacks: dict[str, dict[str, int]] = {}
    for (list_id, reader), count in sorted(counts.items()):
        edition = editions.choose(reader, defaults.get(list_id, ""))
        totals[edition] = totals.get(edition, 0) + count
        if reader != edition:
            by_reader = fallbacks.setdefault(edition, {})
            by_reader[reader] = by_reader.get(reader, 0) + count
    return tuple(
        LanguageShare(language, totals[language], fallbacks.get(language, {}))
        for language in sorted(totals, key=lambda tag: -totals[tag])
    )


@dataclass(frozen=True)
class SendPlan:
    """A letter, its lists and a segment, checked: how many it reaches and whether it was sent.

    ``earlier`` is the latest campaign that sent this letter to one of the
    lists, and ``earlier_list`` that list's name; ``languages`` says how many
    get each edition.
    """

    editions: Editions
    lists: tuple[MailingList, ...]
    segment: str
    conditions: tuple[Condition, ...]
    recipients: int
    earlier: Campaign | None
    earlier_list: str = ""
    languages: tuple[LanguageShare, ...] = ()

    @property
    def letter(self) -> Letter:
        """The original letter: what the campaign is filed under."""
        return self.editions.original

    @property
    def mailing_list(self) -> MailingList:
        """The first list: the one a letter to several lists is filed under."""
        return self.lists[0]

    @property
    def list_ids(self) -> list[int]:
        return [each.id for each in self.lists]

    @property
    def list_names(self) -> str:
        """The lists' names as a person reads them: ``a``, ``a and b``, ``a, b and c``."""
        names = [each.name for each in self.lists]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def plan_send(
    store: Store, editions: Editions, lists: Sequence[MailingList], segment: str
) -> SendPlan:
    """Read the segment, refuse fields nobody has, count the recipients, find earlier sends.

    A list named twice counts once; an address on several of the lists gets
    the letter once, as a member of the first of them it is on.
    """
    unique = tuple({each.id: each for each in lists}.values())
    ids = [each.id for each in unique]
    conditions = tuple(parse_segment(segment))
    check_fields(store, unique, conditions)
    source_hash = campaigns.letter_hash(editions.original.source)
    earlier: Campaign | None = None
    earlier_list = ""
    for each in unique:
        found = campaigns.earlier(store, each.id, source_hash)
        if found and (earlier is None or found[-1].id > earlier.id):
            earlier, earlier_list = found[-1], each.name
    shares = language_shares(editions, unique, deliveries.languages_of(store, ids, conditions))
    return SendPlan(
        editions=editions,
        lists=unique,
        segment=segment,
        conditions=conditions,
        recipients=sum(share.recipients for share in shares),
        earlier=earlier,
        earlier_list=earlier_list,
        languages=shares,
    )


def letter_files(editions: Editions) -> list[CampaignFile]:
    """The files a campaign keeps of its letter: each translation's text, and the files
    the letter brings along (each once: an attached image is kept as an attachment)."""
    attached = editions.attached()
    return [
        CampaignFile("translation", name, language, text.encode("utf-8"))
        for language, (name, text) in editions.sources().items()
    ] + [
        CampaignFile("attachment" if name in attached else "image", name, "", file.content)
        for name, file in editions.files.items()
    ]


def create_campaign(
    store: Store, plan: SendPlan, *, again: bool = False, when: SendTime | None = None
) -> Campaign:
    """Record the campaign and snapshot its recipients; ``AlreadySent`` for a repeat.

    A repeat goes out only with ``again``: a script that always confirms must
    not mail the same letter twice by accident. With ``when`` the campaign is
    scheduled: its letter is kept now, its recipients are snapshotted when it
    starts (``schedule.start``).
    """
    if plan.earlier is not None and not again:
        raise AlreadySent(plan.earlier_list, plan.earlier)
    return campaigns.create(
        store,
        lists=plan.lists,
        subject=plan.letter.subject,
        letter_path=str(plan.letter.path),
        letter_source=plan.letter.source,
        segment=plan.segment,
        conditions=plan.conditions,
        files=letter_files(plan.editions),
        scheduled_at=when.at if when else None,
        scheduled_zone=when.zone if when else "",
    )


def campaign_editions(store: Store, campaign: Campaign) -> Editions:
    """The letter, its translations and its files as they were when the campaign was made."""
    original = parse_letter(campaign.letter_source, Path(campaign.letter_path or "letter.md"))
    kept = campaigns.files_of(store, campaign.id)
    translations = {
        f.language: (f.name, f.content.decode("utf-8")) for f in kept if f.role == "translation"
    }
    return Editions.from_sources(original, translations, kept_files(kept))
