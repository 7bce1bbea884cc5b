"""The guards' rules, one outcome at a time: what is held, what trips, what ``--force`` lifts."""

from __future__ import annotations

from mailer.config import GuardsConfig
from mailer.dispatch.guards import (
    HARD_BOUNCES,
    HOLD_MAX,
    SAME_REFUSAL,
    Guard,
    Standing,
    refusal_text,
    relay_refusal,
)
from mailer.dispatch.journal import FAILED, SENT, Outcome
from mailer.store.models import Event

LIMITS = GuardsConfig(min_tried=100, same_refusal_recipients=4, same_refusal_domains=2)


def refused(number: int, domain: str = "example.com", text: str = "") -> Outcome:
    email = f"member{number}@{domain}"
    return Outcome(number, email, FAILED, 1, code=550,
                   text=text or f"5.1.1 <{email}>: User unknown", message_id=f"<{number}@x>",
                   bounce=("hard", "5.1.1", "userunknown"))


def accepted(number: int) -> Outcome:
    return Outcome(number, f"member{number}@example.org", SENT, 1, code=250, text="ok",
                   message_id=f"<{number}@x>")


def forced(guard: str, **detail: object) -> Event:
    return Event("2026-12-01T09:00:00Z", "campaign_resumed", None,
                 {"guard": guard, "forced": True, **detail})


def test_the_recipients_address_is_no_part_of_the_refusal_compared() -> None:
    assert refusal_text(refused(1)) == refusal_text(refused(2, "example.net"))


def test_relaying_denied_and_logins_are_the_relays_refusal_and_a_dead_mailbox_is_not() -> None:
    assert relay_refusal(554, "5.7.1 <a@example.com>: Relay access denied")
    assert relay_refusal(530, "5.7.0 Authentication required")
    assert relay_refusal(535, "5.7.8 Error: authentication failed")
    assert not relay_refusal(550, "5.1.1 <a@example.com>: User unknown")
    assert not relay_refusal(550, "5.7.1 Message rejected as spam")


def test_refusals_are_held_until_an_acceptance_releases_them_as_the_recipients_own() -> None:
    guard = Guard(LIMITS)
    assert guard.admit(refused(1)) == [] and guard.admit(refused(2)) == []
    assert [o.subscriber_id for o in guard.admit(accepted(3))] == [1, 2, 3]
    assert guard.pause is None and guard.standing.hard == 2


def test_the_same_refusal_at_many_domains_with_none_accepted_is_the_relays() -> None:
    guard = Guard(LIMITS)
    for number, domain in enumerate(["a.example", "b.example", "a.example"]):
        assert guard.admit(refused(number, domain)) == []
    due = guard.admit(refused(3, "b.example"))
    assert guard.pause is not None and guard.pause.guard == SAME_REFUSAL
    assert [(o.subscriber_id, o.state, o.attempts, o.bounce) for o in due] == [
        (n, "pending", 0, None) for n in range(4)
    ]
    assert all(o.code == 550 and "User unknown" in o.text for o in due), "the reply is kept"
    assert guard.settle(finished=True) == [] and guard.standing.hard == 0


def test_forced_past_the_same_refusal_it_is_taken_as_the_recipients_own() -> None:
    text = refusal_text(refused(0))
    guard = Guard(LIMITS, forced=[forced(SAME_REFUSAL, refusal=text)])
    for number, domain in enumerate(["a.example", "b.example", "a.example", "b.example"]):
        assert len(guard.admit(refused(number, domain))) == 1
    assert guard.pause is None


def test_a_run_that_ends_lets_refusals_still_held_go_as_the_recipients_own() -> None:
    guard = Guard(LIMITS)
    guard.admit(refused(1))
    assert [o.subscriber_id for o in guard.settle(finished=True)] == [1]
    guard.admit(refused(2))
    due = guard.settle(finished=False)  # stopped: due for the next run
    assert [(o.subscriber_id, o.state) for o in due] == [(2, "pending")]


def test_forced_past_a_rate_it_trips_again_half_a_threshold_higher() -> None:
    guard = Guard(LIMITS, Standing(tried=1000, sent=901, hard=99),
                  forced=[forced(HARD_BOUNCES, rate=9.9)])
    guard.admit(accepted(5000))  # 99 of 1001: under 9.9 + 2.5
    number = 0
    while guard.pause is None:
        number += 1
        guard.admit(Outcome(number, f"m{number}@example.com", FAILED, 1, code=550,
                            text="5.1.1 user unknown", message_id="<m@x>",
                            bounce=("hard", "5.1.1", "userunknown")))
        guard.admit(accepted(6000 + number))
    assert guard.pause.guard == HARD_BOUNCES
    assert guard.pause.rate is not None and 12.4 < guard.pause.rate < 12.6


def test_refusals_at_one_domain_past_the_hold_limit_go_to_the_hard_bounce_rate() -> None:
    guard = Guard(LIMITS)
    for number in range(HOLD_MAX):
        assert guard.admit(refused(number)) == []
    released = guard.admit(refused(HOLD_MAX))
    assert [o.state for o in released] == ["failed"] * (HOLD_MAX + 1)
    assert guard.pause is not None and guard.pause.guard == HARD_BOUNCES
