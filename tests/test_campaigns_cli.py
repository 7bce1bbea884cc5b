"""``mailer campaigns``: ls, show, resume, cancel, retry and run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailer.store import Store
from tests.clocks import FakeClock
from tests.conftest import Invoke
from tests.smtp_sink import LETTER, populate


@pytest.fixture
def letter(tmp_path: Path) -> Path:
    path = tmp_path / "spring.md"
    path.write_text(LETTER, encoding="utf-8")
    return path


def test_ls_and_show_report_counters_and_failures_with_codes(
    store: Store, start_sink: object, letter: Path, invoke: Invoke
) -> None:
    emails = populate(store, "members", 6)
    start_sink(reject={emails[2]})  # type: ignore[operator]
    assert invoke("send", str(letter), "--list", "members", "--yes").exit_code == 0

    listed = json.loads(invoke("campaigns", "ls", "--json").stdout)
    assert len(listed) == 1
    row = listed[0]
    assert {k: row[k] for k in ("id", "subject", "list", "state", "recipients")} == {
        "id": 1,
        "subject": "Spring meeting",
        "list": "members",
        "state": "done",
        "recipients": 6,
    }
    assert (row["sent"], row["deferred"], row["failed"]) == (5, 0, 1)

    shown = json.loads(invoke("campaigns", "show", "1", "--json").stdout)
    assert shown["failures"] == [
        {
            "email": emails[2],
            "code": 550,
            "text": f"5.1.1 <{emails[2]}>: Recipient address rejected: User unknown",
            "attempts": 1,
            "next_attempt_at": None,
            "expired": False,
        }
    ]
    assert shown["started_at"] and shown["finished_at"]
    assert shown["bounces"]["hard"] == 1
    assert sum(shown["bounces"].values()) == 1
    table = invoke("campaigns", "show", "1")
    assert "550" in table.output and "failures:" in table.output
    assert "bounces: hard 1, soft 0" in table.output
    assert "Spring meeting" in invoke("campaigns", "ls").output


def test_show_of_an_unknown_campaign_is_a_clear_error(store: Store, invoke: Invoke) -> None:
    result = invoke("campaigns", "show", "42")
    assert result.exit_code == 1
    assert "no campaign 42" in result.output


def test_resume_sends_deferred_recipients_once_they_are_due(
    store: Store, start_sink: object, letter: Path, invoke: Invoke, fake_clock: FakeClock
) -> None:
    emails = populate(store, "members", 30)
    flaky = start_sink(temp_rate=0.4, seed=5)  # type: ignore[operator]
    first = json.loads(invoke("send", str(letter), "--list", "members", "--yes", "--json").stdout)
    assert first["deferred"] > 0
    assert json.loads(invoke("campaigns", "run", "--json").stdout) == []

    steady = start_sink()  # type: ignore[operator]
    fake_clock.advance(minutes=2)
    result = json.loads(invoke("campaigns", "resume", "1", "--json").stdout)
    assert result["sent"] == 30 and result["state"] == "done"
    delivered = flaky.counts() + steady.counts()
    assert delivered == dict.fromkeys(emails, 1)


def test_run_resumes_every_campaign_with_due_work(
    store: Store, start_sink: object, letter: Path, invoke: Invoke, fake_clock: FakeClock
) -> None:
    populate(store, "members", 10)
    populate(store, "friends", 5, domain="example.net")
    start_sink(temp_rate=1.0)  # type: ignore[operator]
    assert invoke("send", str(letter), "--list", "members", "--yes").exit_code == 0
    assert invoke("send", str(letter), "--list", "friends", "--yes").exit_code == 0

    steady = start_sink()  # type: ignore[operator]
    fake_clock.advance(minutes=5)
    outcomes = json.loads(invoke("campaigns", "run", "--json").stdout)
    assert [(o["campaign"], o["sent"], o["state"]) for o in outcomes] == [
        (1, 10, "done"),
        (2, 5, "done"),
    ]
    assert len(steady.received) == 15


def test_cancel_stops_a_campaign_for_good(
    store: Store, start_sink: object, letter: Path, invoke: Invoke, fake_clock: FakeClock
) -> None:
    populate(store, "members", 8)
    start_sink(temp_rate=1.0)  # type: ignore[operator]
    invoke("send", str(letter), "--list", "members", "--yes")
    result = invoke("campaigns", "cancel", "1")
    assert result.exit_code == 0 and "8 will not be sent" in result.output
    steady = start_sink()  # type: ignore[operator]
    fake_clock.advance(hours=1)
    refused = invoke("campaigns", "resume", "1")
    assert refused.exit_code == 1 and "cancelled" in refused.output
    assert invoke("campaigns", "run", "--json").stdout.strip() == "[]"
    assert steady.received == []


def test_retry_puts_expired_recipients_back(
    store: Store,
    start_sink: object,
    letter: Path,
    invoke: Invoke,
    fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emails = populate(store, "members", 4)
    start_sink(temp_rate=1.0, reject={emails[0]})  # type: ignore[operator]
    monkeypatch.setenv("MAILER_SENDING_DEADLINE", "30")
    summary = json.loads(invoke("send", str(letter), "--list", "members", "--yes", "--json").stdout)
    assert (summary["failed"], summary["state"]) == (4, "done")

    result = invoke("campaigns", "retry", "1")
    assert result.exit_code == 0
    assert "3 recipients of campaign 1 put back" in result.output
    steady = start_sink()  # type: ignore[operator]
    resumed = json.loads(invoke("campaigns", "resume", "1", "--json").stdout)
    assert (resumed["sent"], resumed["failed"]) == (3, 1)
    assert set(steady.counts()) == set(emails[1:])


def test_run_fails_loudly_when_a_campaign_cannot_be_resumed(
    store: Store, start_sink: object, letter: Path, invoke: Invoke, fake_clock: FakeClock
) -> None:
    populate(store, "members", 3)
    start_sink(temp_rate=1.0)  # type: ignore[operator]
    assert invoke("send", str(letter), "--list", "members", "--yes").exit_code == 0
    start_sink(refuse_all=True)  # type: ignore[operator]
    fake_clock.advance(minutes=5)
    # One try and the run gives up, without the backoff between tries.
    Path("mailer.toml").write_text("[smtp]\nconnect_attempts = 1\n", encoding="utf-8")
    result = invoke("campaigns", "run")
    assert result.exit_code == 1
    assert "campaign 1: no SMTP relay could be reached" in result.output
    assert "campaigns not resumed this time: 1" in result.output


def test_run_passes_over_a_campaign_another_process_is_sending(
    store: Store, start_sink: object, letter: Path, invoke: Invoke, fake_clock: FakeClock
) -> None:
    from mailer.dispatch.journal import Journal

    populate(store, "members", 3)
    start_sink(temp_rate=1.0)  # type: ignore[operator]
    assert invoke("send", str(letter), "--list", "members", "--yes").exit_code == 0
    steady = start_sink()  # type: ignore[operator]
    fake_clock.advance(minutes=5)
    sender = Journal(store, 1)
    sender.open()  # what a live `mailer send` or `campaigns resume` holds
    try:
        result = invoke("campaigns", "run")
        as_json = invoke("campaigns", "run", "--json")
    finally:
        sender.close()
    assert result.exit_code == 0, result.output
    assert "campaign 1 is being sent by another mailer process" in result.output
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout) == [{"campaign": 1, "busy": True}]
    assert steady.received == []


def test_run_goes_on_past_a_campaign_whose_letter_fails(
    store: Store, start_sink: object, letter: Path, invoke: Invoke, fake_clock: FakeClock
) -> None:
    from mailer.store.campaigns import create as create_campaign
    from mailer.store.lists import get_list

    populate(store, "members", 3)
    create_campaign(
        store,
        lists=[get_list(store, "members")],
        subject="Broken",
        letter_path="broken.md",
        letter_source="---\nsubject: Broken\n---\n\nHello {% if %} x\n",
    )
    create_campaign(
        store,
        lists=[get_list(store, "members")],
        subject="Spring meeting",
        letter_path="spring.md",
        letter_source=LETTER,
    )
    steady = start_sink()  # type: ignore[operator]
    result = invoke("campaigns", "run")
    assert result.exit_code == 1
    assert "campaign 1: broken.md:5: template syntax error" in result.output
    assert "campaigns not resumed this time: 1" in result.output
    assert len(steady.received) == 3


def test_retry_first_takes_in_what_a_crashed_run_left_in_its_journal(
    store: Store, invoke: Invoke
) -> None:
    import os

    from mailer.dispatch.journal import FAILED, Journal, Outcome
    from mailer.store.campaigns import create as create_campaign
    from mailer.store.lists import get_list

    emails = populate(store, "members", 2)
    create_campaign(
        store,
        lists=[get_list(store, "members")],
        subject="Spring meeting",
        letter_path="spring.md",
        letter_source=LETTER,
    )
    crashed = Journal(store, 1, batch_size=100, batch_seconds=60)
    crashed.open()
    crashed.record(Outcome(1, emails[0], FAILED, 5, code=451, text="451 try later", expired=True))
    os.close(crashed._fd)  # type: ignore[arg-type]  # killed before its commit

    result = invoke("campaigns", "retry", "1")
    assert result.exit_code == 0, result.output
    assert "1 recipients of campaign 1 put back" in result.output
    assert store.one("SELECT state FROM deliveries WHERE subscriber_id = 1")[0] == "pending"
