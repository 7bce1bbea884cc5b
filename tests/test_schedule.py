"""``send --at``: a campaign that waits for its time, and starts with whoever is on the list then.

The fake clock stands at 2026-12-01 09:00 UTC (10:00 in Berlin, 04:00 in Lima).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailer.cli import send as send_command
from mailer.dispatch import schedule
from mailer.store import Store, campaigns, open_store
from mailer.zones import system_zone_name
from tests.clocks import FakeClock
from tests.conftest import Invoke
from tests.smtp_sink import LETTER, SmtpSink, populate
from tests.web_helpers import read_outbox

#: The zone most tests give their times in.
BERLIN = ("--tz", "Europe/Berlin")


def schedule_letter(invoke: Invoke, letter: Path, at: str, *more: str) -> dict[str, object]:
    result = invoke("send", str(letter), "--list", "members", "--at", at, "--yes", "--json", *more)
    assert result.exit_code == 0, result.output
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


def schedule_for(
    store: Store, members: int, invoke: Invoke, letter: Path, at: str, *more: str
) -> dict[str, object]:
    """A list of ``members`` people, and the letter scheduled for it."""
    populate(store, "members", members)
    return schedule_letter(invoke, letter, at, *more)


def run(invoke: Invoke) -> list[dict[str, object]]:
    result = invoke("campaigns", "run", "--json")
    assert result.exit_code == 0, result.output
    outcomes: list[dict[str, object]] = json.loads(result.stdout)
    return outcomes


def state_of(invoke: Invoke, campaign: int = 1) -> dict[str, object]:
    shown = invoke("campaigns", "show", str(campaign), "--json")
    detail: dict[str, object] = json.loads(shown.stdout)
    return detail


def test_a_scheduled_campaign_sends_nothing_before_its_time_and_everything_after(
    store: Store, sink: SmtpSink, spring_letter: Path, invoke: Invoke, fake_clock: FakeClock
) -> None:
    emails = populate(store, "members", 5)
    made = schedule_letter(invoke, spring_letter, "2026-12-01 12:00", "--tz", "Europe/Berlin")
    assert made == {"campaign": 1, "state": "scheduled", "scheduled_at": "2026-12-01T11:00:00Z",
                    "scheduled_zone": "Europe/Berlin", "recipients_now": 5}

    fake_clock.advance(hours=1, minutes=59)  # 10:59 UTC: a minute before
    assert run(invoke) == []
    assert sink.received == []
    assert state_of(invoke)["state"] == "scheduled"

    fake_clock.advance(minutes=2)  # 11:01 UTC: a minute after
    started, delivered = run(invoke)
    assert started == {"started": True, "campaign": 1, "recipients": 5,
                       "scheduled_at": "2026-12-01T11:00:00Z", "scheduled_zone": "Europe/Berlin"}
    assert (delivered["sent"], delivered["state"]) == (5, "done")
    assert sink.counts() == dict.fromkeys(emails, 1)
    shown = state_of(invoke)
    assert shown["started_at"] == "2026-12-01T11:01:00Z"
    assert run(invoke) == []  # started once, sent once


def test_who_leaves_before_the_start_gets_nothing_and_who_joins_gets_it(
    invoke: Invoke, spring_letter: Path, tmp_path: Path, fake_clock: FakeClock
) -> None:
    assert invoke("lists", "create", "members").exit_code == 0
    for who in ("ann", "bob", "cy"):
        added = invoke("subscribers", "add", f"{who}@example.org", "--list", "members")
        assert added.exit_code == 0
    schedule_letter(invoke, spring_letter, "2026-12-01 10:00", "--tz", "UTC")
    assert invoke("subscribers", "unsubscribe", "bob@example.org").exit_code == 0
    assert invoke("subscribers", "block", "cy@example.org").exit_code == 0
    assert invoke("subscribers", "add", "dee@example.org", "--list", "members").exit_code == 0

    fake_clock.advance(hours=1)
    outcomes = run(invoke)
    assert outcomes[0]["recipients"] == 2
    sent_to = sorted(str(m["To"]) for m in read_outbox(tmp_path / "outbox"))
    assert sent_to == ["ann@example.org", "dee@example.org"]


def test_the_letter_goes_out_as_it_was_when_scheduled(
    invoke: Invoke, spring_letter: Path, tmp_path: Path, fake_clock: FakeClock
) -> None:
    invoke("lists", "create", "members")
    invoke("subscribers", "add", "ann@example.org", "--list", "members")
    schedule_letter(invoke, spring_letter, "2026-12-01 10:00", "--tz", "UTC")
    spring_letter.write_text(LETTER.replace("spring meeting is on Saturday", "meeting is off"))

    fake_clock.advance(hours=1)
    run(invoke)
    (message,) = read_outbox(tmp_path / "outbox")
    body = message.get_body(("plain",))
    assert body is not None
    assert "spring meeting is on Saturday" in body.get_content()


def test_a_letter_that_does_not_compile_is_refused_when_it_is_scheduled(
    invoke: Invoke, spring_letter: Path, store: Store
) -> None:
    invoke("lists", "create", "members")
    invoke("subscribers", "add", "ann@example.org", "--list", "members")
    spring_letter.write_text(LETTER.replace("{{ subscriber.name", "{{ subscriber.nmae.first"))
    result = invoke("send", str(spring_letter), "--list", "members", "--at", "2026-12-02 08:00",
                    "--tz", "UTC", "--yes")
    assert result.exit_code == 1
    assert "spring.md" in result.stderr and "Traceback" not in result.output
    assert campaigns.newest_first(store) == []


@pytest.mark.parametrize(
    ("zone", "expected", "shown"),
    [
        ("Europe/Berlin", "2026-12-02T07:00:00Z", "2026-12-02 08:00 Europe/Berlin (07:00 UTC)"),
        ("America/Lima", "2026-12-02T13:00:00Z", "2026-12-02 08:00 America/Lima (13:00 UTC)"),
    ],
)
def test_the_time_is_read_in_the_zone_given_and_stored_in_utc(
    zone: str, expected: str, shown: str,
    invoke: Invoke, spring_letter: Path, store: Store, fake_clock: FakeClock,
) -> None:
    schedule_for(store, 1, invoke, spring_letter, "2026-12-02T08:00", "--tz", zone)
    (listed,) = json.loads(invoke("campaigns", "ls", "--json").stdout)
    assert (listed["scheduled_at"], listed["scheduled_zone"]) == (expected, zone)
    assert f"scheduled_for: {shown}" in invoke("campaigns", "show", "1").output
    assert "2026-12-02 08:00 " + zone in invoke("campaigns", "ls").output


def test_without_tz_the_setting_is_used_else_the_system_zone(
    invoke: Invoke, spring_letter: Path, store: Store, fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    populate(store, "members", 1)
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert system_zone_name() == "Asia/Tokyo"
    first = schedule_letter(invoke, spring_letter, "2026-12-02 08:00:30")
    assert (first["scheduled_at"], first["scheduled_zone"]) == ("2026-12-01T23:00:30Z",
                                                                "Asia/Tokyo")
    monkeypatch.setenv("MAILER_SENDING_TIMEZONE", "America/Lima")
    second = schedule_letter(invoke, spring_letter, "2026-12-02 08:00", "--again")
    assert (second["scheduled_at"], second["scheduled_zone"]) == ("2026-12-02T13:00:00Z",
                                                                  "America/Lima")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--at", "2026-12-01 09:59", *BERLIN],
         "2026-12-01 09:59 Europe/Berlin (08:59 UTC) is in the past"),
        (["--at", "2026-12-02"], "write the local time as YYYY-MM-DD HH:MM"),
        (["--at", "02.12.2026 08:00"], "write the local time as YYYY-MM-DD HH:MM"),
        (["--at", "2026-13-02 08:00"], "write the local time as YYYY-MM-DD HH:MM"),
        (["--at", "2026-12-02T08:00+01:00"], "and the zone with --tz"),
        (["--at", "2026-12-02 08:00", "--tz", "europe/berlin"],
         "unknown time zone 'europe/berlin' (did you mean 'Europe/Berlin'?)"),
        (["--at", "2027-03-28 02:30", *BERLIN],
         "2027-03-28 02:30 does not exist in Europe/Berlin: the clocks go forward 1:00 h"),
        (["--tz", "UTC"], "--tz says which zone --at is in"),
        (["--at", "2026-12-02 08:00", "--dry-run"], "--dry-run and --test make none"),
        (["--at", "2026-12-02 08:00", "--test", "me@example.org"], "--dry-run and --test"),
        (["--at", "2026-12-02 08:00", "--rate", "5"], "a scheduled campaign is sent with"),
    ],
    ids=["past", "no-time", "not-iso", "no-such-month", "offset", "unknown-zone",
         "skipped-by-the-clocks", "tz-alone", "dry-run", "test", "rate"],
)
def test_a_schedule_that_cannot_work_is_a_usage_error_and_makes_nothing(
    options: list[str], message: str,
    invoke: Invoke, spring_letter: Path, store: Store, fake_clock: FakeClock,
) -> None:
    populate(store, "members", 1)
    result = invoke("send", str(spring_letter), "--list", "members", "--yes", *options)
    assert result.exit_code == 2
    assert message in result.stderr
    assert campaigns.newest_first(store) == []


def test_a_time_that_happens_twice_means_the_first_and_says_so(
    invoke: Invoke, spring_letter: Path, store: Store, fake_clock: FakeClock
) -> None:
    populate(store, "members", 1)
    result = invoke("send", str(spring_letter), "--list", "members", "--at", "2027-10-31 02:30",
                    "--tz", "Europe/Berlin", "--yes")
    assert result.exit_code == 0, result.output
    assert "happens twice in Europe/Berlin" in result.stderr
    assert "2027-10-31 02:30 CEST, 2027-10-31 00:30 UTC" in result.stderr
    assert campaigns.get(store, 1).scheduled_at == "2027-10-31T00:30:00Z"


def test_scheduling_asks_first_and_off_a_terminal_needs_yes(
    invoke: Invoke, spring_letter: Path, store: Store
) -> None:
    populate(store, "members", 3)
    result = invoke("send", str(spring_letter), "--list", "members", "--at", "2026-12-02 08:00")
    assert result.exit_code == 2 and "pass --yes" in result.stderr
    assert campaigns.newest_first(store) == []


def test_on_a_terminal_the_question_names_the_time(
    invoke: Invoke, spring_letter: Path, store: Store, fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    populate(store, "members", 3)
    monkeypatch.setattr(send_command, "on_terminal", lambda: True)
    declined = invoke("send", str(spring_letter), "--list", "members",
                      "--at", "2026-12-02 08:00", *BERLIN, input="n\n")
    assert declined.exit_code == 1
    assert ("Schedule 'Spring meeting' to list members for 2026-12-02 08:00 Europe/Berlin "
            "(07:00 UTC) (counted again when it starts: now 3 recipients)?") in declined.output
    assert campaigns.newest_first(store) == []
    accepted = invoke("send", str(spring_letter), "--list", "members",
                      "--at", "2026-12-02 08:00", *BERLIN, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert campaigns.get(store, 1).state == "scheduled"


def test_scheduling_a_letter_twice_needs_again(
    invoke: Invoke, spring_letter: Path, store: Store, fake_clock: FakeClock
) -> None:
    schedule_for(store, 1, invoke, spring_letter, "2026-12-02 08:00", "--tz", "UTC")
    twice = invoke("send", str(spring_letter), "--list", "members", "--at", "2026-12-03 08:00",
                   "--tz", "UTC", "--yes")
    assert twice.exit_code == 2
    assert "already scheduled for list members (campaign 1, for 2026-12-02 08:00 UTC)" in (
        twice.stderr
    )
    now = invoke("send", str(spring_letter), "--list", "members", "--yes")
    assert now.exit_code == 2 and "--again" in now.stderr
    assert len(campaigns.newest_first(store)) == 1


def test_reschedule_moves_the_time_in_the_zone_it_was_given(
    invoke: Invoke, spring_letter: Path, store: Store, tmp_path: Path, fake_clock: FakeClock
) -> None:
    schedule_for(store, 2, invoke, spring_letter, "2026-12-01 11:00", *BERLIN)  # 10:00 UTC
    moved = invoke("campaigns", "reschedule", "1", "--at", "2026-12-01 15:00")
    assert moved.exit_code == 0, moved.output
    assert "scheduled for 2026-12-01 15:00 Europe/Berlin (14:00 UTC)" in moved.output

    fake_clock.advance(hours=2)  # 11:00 UTC: past the old time, before the new one
    assert run(invoke) == []
    assert read_outbox(tmp_path / "outbox") == []
    fake_clock.advance(hours=3)
    assert run(invoke)[-1]["sent"] == 2
    assert len(read_outbox(tmp_path / "outbox")) == 2

    started = invoke("campaigns", "reschedule", "1", "--at", "2026-12-02 08:00")
    assert started.exit_code == 1
    assert "campaign 1 is done, not scheduled" in started.stderr


def test_reschedule_into_the_past_or_another_zone(
    invoke: Invoke, spring_letter: Path, store: Store, fake_clock: FakeClock
) -> None:
    schedule_for(store, 1, invoke, spring_letter, "2026-12-02 08:00", "--tz", "Europe/Berlin")
    past = invoke("campaigns", "reschedule", "1", "--at", "2026-12-01 08:00")
    assert past.exit_code == 2 and "is in the past" in past.stderr
    assert campaigns.get(store, 1).scheduled_at == "2026-12-02T07:00:00Z"
    lima = invoke("campaigns", "reschedule", "1", "--at", "2026-12-02 08:00",
                  "--tz", "America/Lima", "--json")
    assert json.loads(lima.stdout) == {"campaign": 1, "scheduled_at": "2026-12-02T13:00:00Z",
                                       "scheduled_zone": "America/Lima"}


def test_cancel_before_the_start_sends_nothing_ever(
    invoke: Invoke, spring_letter: Path, store: Store, tmp_path: Path, fake_clock: FakeClock
) -> None:
    schedule_for(store, 3, invoke, spring_letter, "2026-12-01 10:00", "--tz", "UTC")
    cancelled = invoke("campaigns", "cancel", "1")
    assert cancelled.exit_code == 0
    assert "scheduled for 2026-12-01 10:00 UTC: nobody will get it" in cancelled.output
    fake_clock.advance(hours=2)
    assert run(invoke) == []
    assert read_outbox(tmp_path / "outbox") == []
    assert state_of(invoke)["state"] == "cancelled"
    again = invoke("campaigns", "reschedule", "1", "--at", "2026-12-02 08:00")
    assert again.exit_code == 1 and "is cancelled, not scheduled" in again.stderr


def test_resume_before_the_time_is_refused_and_now_starts_it(
    invoke: Invoke, spring_letter: Path, store: Store, fake_clock: FakeClock
) -> None:
    schedule_for(store, 3, invoke, spring_letter, "2026-12-01 12:00", *BERLIN)
    early = invoke("campaigns", "resume", "1")
    assert early.exit_code == 1
    assert ("campaign 1 is scheduled for 2026-12-01 12:00 Europe/Berlin (11:00 UTC) and starts "
            "then; `campaigns resume 1 --now` starts it now") in early.stderr
    assert (state_of(invoke)["state"], state_of(invoke)["recipients"]) == ("scheduled", 0)

    now = json.loads(invoke("campaigns", "resume", "1", "--now", "--json").stdout)
    assert (now["sent"], now["state"]) == (3, "done")
    assert state_of(invoke)["started_at"] == "2026-12-01T09:00:00Z"


def test_show_counts_who_it_would_reach_now(
    invoke: Invoke, spring_letter: Path, store: Store, fake_clock: FakeClock
) -> None:
    populate(store, "members", 4, attributes=lambda n: {"country": "PE" if n % 2 else "DE"})
    schedule_letter(invoke, spring_letter, "2026-12-02 08:00", "--segment", "country=PE")
    assert state_of(invoke)["recipients_now"] == 2
    assert "recipients_now: 2 (counted again when it starts)" in invoke(
        "campaigns", "show", "1").output


def test_a_start_reaching_nobody_is_done_at_once(
    invoke: Invoke, spring_letter: Path, store: Store, fake_clock: FakeClock
) -> None:
    schedule_for(store, 1, invoke, spring_letter, "2026-12-01 10:00", "--tz", "UTC")
    invoke("subscribers", "unsubscribe", "member00000@example.com")
    fake_clock.advance(hours=2)
    text = invoke("campaigns", "run")
    assert "campaign 1: started, nobody to send to; done" in text.output
    assert state_of(invoke)["state"] == "done"


def test_only_one_of_two_processes_starts_a_campaign(
    db_path: Path, invoke: Invoke, spring_letter: Path, store: Store, fake_clock: FakeClock
) -> None:
    """Both read the campaign as scheduled; the start is one guarded transaction, so the
    one that comes second changes nothing and snapshots nobody."""
    schedule_for(store, 3, invoke, spring_letter, "2026-12-01 10:00", "--tz", "UTC")
    fake_clock.advance(hours=2)
    other = open_store(db_path)
    try:
        assert campaigns.scheduled_due(other, "2026-12-01T11:00:00Z") == [1]
        first = schedule.start(store, 1)
        second = campaigns.start_scheduled(other, 1, (), due_by="2026-12-01T11:00:00Z")
    finally:
        other.close()
    assert first is not None and first.recipients == 3
    assert second is None
    assert store.one("SELECT count(*) FROM deliveries WHERE campaign_id = 1")[0] == 3
