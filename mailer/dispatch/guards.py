"""The guards of a campaign being sent: which refusals are ours, and when to pause.

Two kinds of trouble stop a campaign halfway, each for its own reason:

1. **The relay refuses us**, not the recipient's server refusing an
   address: relaying denied (``554 5.7.1 Relay access denied``), a login
   asked for or refused (530, 535, ``5.7.0 authentication required``), our
   envelope sender refused at MAIL FROM (any 5xx there), or one and the
   same refusal for many recipients at many unrelated domains with none
   accepted in between (``same_refusal_recipients`` over
   ``same_refusal_domains``: a relay that believes itself the last stop
   for every domain). Nobody is marked as bounced and the recipients
   involved stay due, so that ``campaigns resume`` sends to them once the
   relay is fixed. To tell the last case from a run of genuine bounces, a
   5xx refusal is held back (not yet journalled) until a message is
   accepted, which releases every refusal held as the recipient's own.
2. **The list is in bad shape**: more than ``hard_bounce_percent`` of the
   recipients tried bounced hard (refused during the send, or reported by
   a bounce that came back while it is still being sent), or more than
   ``complaint_percent`` of those sent complained, once ``min_tried``
   recipients have been tried. Going on would hurt the sender's reputation
   with every provider.

Either way the campaign is ``paused`` with a one-line reason (kept as a
campaign event, shown by ``campaigns show``). ``campaigns resume ID
--force`` goes on despite a rate: that rate then trips again only once it
has risen by half its threshold above where it stood when forced. A forced
same-refusal is taken as the recipients' own from then on. A relay that
denies relaying or asks for a login cannot be forced past: it trips again
as long as the relay answers so.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from mailer.bounces.classify import find_status
from mailer.bounces.model import HARD
from mailer.bounces.wording import match_wording
from mailer.config import GuardsConfig
from mailer.dispatch.journal import SENT, Outcome
from mailer.errors import TransportError
from mailer.store import Store, bounces, campaigns, deliveries, events
from mailer.store.models import Campaign, CampaignState, DeliveryState, Event

#: The kinds of guard, as their events and ``--json`` name them.
RELAY = "relay"
SAME_REFUSAL = "same_refusal"
HARD_BOUNCES = "hard_bounces"
COMPLAINTS = "complaints"
#: The campaign events the guards keep.
PAUSED = "campaign_paused"
RESUMED = "campaign_resumed"
#: Refusals held at most, waiting for an acceptance, before the largest group is let go
#: as the recipients' own (a list at one domain can never show "many domains").
HOLD_MAX = 1000
#: Seconds between two readings of the bounces and complaints that came back.
POLL_SECONDS = 1.0

_ADDRESS = re.compile(r"<?[^\s<>]+@[^\s<>]+>?")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Pause:
    """Why a guard paused the campaign: its kind, one line of text, and what it measured."""

    guard: str
    reason: str
    #: The rate (percent) that tripped a rate guard.
    rate: float | None = None
    #: The refusal (addresses taken out) that tripped the same-refusal guard.
    refusal: str = ""


def relay_refusal(code: int | None, text: str) -> str:
    """Why a 5xx reply to RCPT or DATA is the relay refusing us; "" when it is about the
    recipient."""
    if code in (530, 535) or (find_status(text) == "5.7.0" and "authenticat" in text.lower()):
        return "the relay asks us to log in"
    if code is not None and code >= 500 and match_wording(text)[0] == "norelaying":
        return "the relay will not relay for us"
    return ""


def refusal_text(outcome: Outcome) -> str:
    """A refusal as the same-refusal guard compares it: code and words, addresses taken out."""
    words = _ADDRESS.sub("<>", outcome.text)
    return _SPACES.sub(" ", f"{outcome.code} {words}").strip()


def still_due(outcome: Outcome) -> Outcome:
    """A recipient refused for a reason of ours: due again as before the attempt, the
    relay's reply kept for ``campaigns recipients`` to show."""
    return replace(
        outcome, state=DeliveryState.PENDING, attempts=outcome.attempts - 1, message_id="",
        first_attempt_at=None, bounce=None,
    )


@dataclass
class _Held:
    """Refusals of one text, held back until a message is accepted."""

    outcomes: list[Outcome] = field(default_factory=list)
    domains: set[str] = field(default_factory=set)


@dataclass
class Standing:
    """What the guards count: the campaign's figures before this run, plus this run's."""

    tried: int = 0
    sent: int = 0
    hard: int = 0  # refused during a send
    reported_hard: int = 0  # bounces that came back
    complaints: int = 0


class Guard:
    """One run's guards: hands on outcomes to journal, holds refusals, and decides to pause.

    The sender calls ``admit`` where it records each recipient's outcome,
    ``refused`` when the relay refuses us outright, ``poll`` now and then
    for the bounces and complaints that came back, and ``settle`` at the
    end; it stops the run once ``pause`` is set.
    """

    def __init__(
        self,
        limits: GuardsConfig,
        standing: Standing | None = None,
        forced: Iterable[Event] = (),
    ) -> None:
        self.limits = limits
        self.standing = standing or Standing()
        self.pause: Pause | None = None
        self._held: dict[str, _Held] = {}
        self._held_count = 0
        self._floor: dict[str, float] = {}
        self._forced_refusals: set[str] = set()
        self._polled = time.monotonic()
        for event in forced:
            self._acknowledge(event.detail)

    @classmethod
    def start(cls, store: Store, campaign_id: int, limits: GuardsConfig) -> Guard:
        """The guard of a run of this campaign, its figures read from the store (and
        checked at once: a campaign already past a limit sends nothing)."""
        tried, sent = deliveries.tally(store, campaign_id)
        hard, reported, complaints = bounces.weighed_by_guards(store, campaign_id)
        forced = [
            event for event in events.campaign_notes(store.conn, campaign_id, [RESUMED])
            if event.detail.get("forced")
        ]
        guard = cls(limits, Standing(tried, sent, hard, reported, complaints), forced)
        guard._check_rates()
        return guard

    def _acknowledge(self, detail: dict[str, object]) -> None:
        """A pause a person went past with ``--force``: raise that guard's floor."""
        guard, rate = detail.get("guard"), detail.get("rate")
        if guard == SAME_REFUSAL:
            self._forced_refusals.add(str(detail.get("refusal", "")))
        elif isinstance(guard, str) and isinstance(rate, int | float):
            self._floor[guard] = max(self._floor.get(guard, 0.0), float(rate))

    # -- what the sender calls --------------------------------------------------------------

    def admit(self, outcome: Outcome) -> list[Outcome]:
        """The outcomes to journal now, given this one (none, it, or it and those held)."""
        if outcome.state == SENT:
            return self._counted([*self._release(), outcome])
        if outcome.bounce is None or outcome.code is None or outcome.code < 500:
            return self._counted([outcome])
        why = relay_refusal(outcome.code, outcome.text)
        if why:
            self._trip(Pause(RELAY, f"{why}: {outcome.code} {outcome.text}"))
            return [still_due(outcome)]  # our problem, not the recipient's
        if self.pause is not None and self.pause.guard in (RELAY, SAME_REFUSAL):
            return [still_due(outcome)]  # in flight when the relay was found refusing us
        text = refusal_text(outcome)
        if text in self._forced_refusals:
            return self._counted([outcome])
        return self._counted(self._hold(text, outcome))

    def refused(self, error: TransportError) -> None:
        """The relay refused our envelope sender or our login: pause, blaming nobody."""
        self._trip(Pause(RELAY, str(error)))

    def poll(self, store: Store, campaign_id: int) -> None:
        """Take in the bounces and complaints that came back since the run began (read at
        most every ``POLL_SECONDS``: the sender calls this at every commit of its journal)."""
        if time.monotonic() - self._polled < POLL_SECONDS:
            return
        self._polled = time.monotonic()
        _, reported, complaints = bounces.weighed_by_guards(store, campaign_id)
        self.standing.reported_hard, self.standing.complaints = reported, complaints
        self._check_rates()

    def settle(self, *, finished: bool) -> list[Outcome]:
        """At the end of a run: refusals still held are the recipients' own if the run went
        through to its end; else they stay due for the next run."""
        held = self._release()
        if finished and self.pause is None:
            return self._counted(held)
        return [still_due(outcome) for outcome in held]

    # -- holding refusals -----------------------------------------------------------------

    def _hold(self, text: str, outcome: Outcome) -> list[Outcome]:
        held = self._held.setdefault(text, _Held())
        held.outcomes.append(outcome)
        held.domains.add(outcome.email.rpartition("@")[2].lower())
        self._held_count += 1
        limits = self.limits
        if (len(held.outcomes) >= limits.same_refusal_recipients
                and len(held.domains) >= limits.same_refusal_domains):
            self._trip(Pause(
                SAME_REFUSAL,
                f"the relay gave the same refusal ({text}) for {len(held.outcomes)} "
                f"recipients at {len(held.domains)} domains and accepted none",
                refusal=text,
            ))
            return [still_due(waiting) for waiting in self._release()]
        if self._held_count > HOLD_MAX:
            largest = max(self._held, key=lambda key: len(self._held[key].outcomes))
            self._held_count -= len(self._held[largest].outcomes)
            return self._held.pop(largest).outcomes
        return []

    def _release(self) -> list[Outcome]:
        released = [o for held in self._held.values() for o in held.outcomes]
        self._held.clear()
        self._held_count = 0
        return released

    # -- counting and the rates -------------------------------------------------------------

    def _counted(self, outcomes: list[Outcome]) -> list[Outcome]:
        standing = self.standing
        for outcome in outcomes:
            if outcome.attempts == 1 and outcome.message_id:
                standing.tried += 1
            if outcome.state == SENT:
                standing.sent += 1
            elif outcome.bounce is not None and outcome.bounce[0] == HARD:
                standing.hard += 1
        if outcomes:
            self._check_rates()
        return outcomes

    def _check_rates(self) -> None:
        standing, limits = self.standing, self.limits
        if self.pause is not None or standing.tried < limits.min_tried:
            return
        hard = 100.0 * (standing.hard + standing.reported_hard) / standing.tried
        complaints = 100.0 * standing.complaints / max(standing.sent, 1)
        for guard, rate, threshold in (
            (HARD_BOUNCES, hard, limits.hard_bounce_percent),
            (COMPLAINTS, complaints, limits.complaint_percent),
        ):
            limit = self._limit(guard, threshold)
            if rate > limit:
                self._trip(Pause(guard, self._said(guard, rate, limit), rate=round(rate, 3)))
                return

    def _said(self, guard: str, rate: float, limit: float) -> str:
        """The one line a rate guard pauses with (written only when it trips)."""
        if guard == HARD_BOUNCES:
            return (f"{rate:.1f}% of the {self.standing.tried} recipients tried bounced hard "
                    f"(more than {limit:g}%)")
        return (f"{rate:.2f}% of the {self.standing.sent} messages sent drew a complaint "
                f"(more than {limit:g}%)")

    def _limit(self, guard: str, threshold: float) -> float:
        """The threshold, or, past a forced pause, half a threshold above the rate forced."""
        if guard not in self._floor:
            return threshold
        return max(threshold, round(self._floor[guard] + threshold / 2, 3))

    def _trip(self, pause: Pause) -> None:
        if self.pause is None:
            self.pause = pause


# -- the campaign's record ------------------------------------------------------------------


def pause(store: Store, campaign_id: int, why: Pause) -> None:
    """Pause the campaign and keep why, in one transaction."""
    with store.transaction() as conn:
        campaigns.set_state(store, campaign_id, CampaignState.PAUSED)
        events.record_campaign_note(conn, campaign_id, PAUSED, _detail(why))


def resuming(store: Store, campaign: Campaign, *, force: bool) -> None:
    """A run of a campaign a guard paused begins: note it (and, with ``force``, that the
    pause is gone past), so that the reason is shown no longer."""
    if campaign.state is not CampaignState.PAUSED:
        return
    last = _last_note(store, campaign.id)
    if last is None or last.kind != PAUSED:
        return
    detail = {**last.detail, "forced": force}
    detail.pop("campaign", None)
    with store.transaction() as conn:
        events.record_campaign_note(conn, campaign.id, RESUMED, detail)


def paused_reason(store: Store, campaign_id: int, state: CampaignState) -> str:
    """Why a guard paused the campaign, while it is paused; "" otherwise."""
    if state is not CampaignState.PAUSED:
        return ""
    last = _last_note(store, campaign_id)
    return str(last.detail.get("reason", "")) if last and last.kind == PAUSED else ""


def _last_note(store: Store, campaign_id: int) -> Event | None:
    notes = events.campaign_notes(store.conn, campaign_id, [PAUSED, RESUMED])
    return notes[-1] if notes else None


def _detail(why: Pause) -> dict[str, object]:
    detail: dict[str, object] = {"guard": why.guard, "reason": why.reason}
    if why.rate is not None:
        detail["rate"] = why.rate
    if why.refusal:
        detail["refusal"] = why.refusal
    return detail
