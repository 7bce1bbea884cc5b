"""``mailer campaigns prune``: old campaigns lose their rows per recipient, never their counts."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from mailer.store import Store
from mailer.store.bounces import NewBounce, insert
from mailer.store.models import Proof
from mailer.store.pruning import keep_counts
from tests.clocks import FakeClock
from tests.conftest import Invoke
from tests.smtp_sink import SmtpSink, populate

StartSink = Callable[..., SmtpSink]
DAY = 86_400


def _rows(store: Store, campaign_id: int) -> dict[str, int]:
    return {row[0]: row[1] for row in store.all(
        "SELECT state, count(*) FROM deliveries WHERE campaign_id = ? GROUP BY state",
        (campaign_id,),
    )}


def _shown(invoke: Invoke, campaign_id: int) -> dict[str, object]:
    result = invoke("campaigns", "show", str(campaign_id), "--json")
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.output)
    return data


def _sent_campaign(
    store: Store, invoke: Invoke, spring_letter: Path, start_sink: StartSink
) -> list[str]:
    """Campaign 1: six members of two lists, one refused by the relay, one bounce."""
    emails = populate(store, "members", 4) + populate(store, "board", 2, domain="example.net")
    start_sink(reject={emails[1]})
    result = invoke("send", str(spring_letter), "--list", "members", "--list", "board", "--yes")
    assert result.exit_code == 0, result.output
    with store.transaction() as conn:
        insert(conn, NewBounce("<b1@example.com>", emails[2], "hard", "5.1.1", "user unknown",
                               "no such user", "test", None, 1, Proof.VERP))
    return emails


def test_show_and_ls_say_the_same_after_pruning(
    store: Store, invoke: Invoke, spring_letter: Path, start_sink: StartSink, fake_clock: FakeClock
) -> None:
    _sent_campaign(store, invoke, spring_letter, start_sink)
    before_show = _shown(invoke, 1)
    before_ls = json.loads(invoke("campaigns", "ls", "--json").output)
    assert (before_show["sent"], before_show["failed"]) == (5, 1)
    assert before_show["lists"] == {"members": 4, "board": 2}

    fake_clock.advance(91 * DAY)
    result = invoke("campaigns", "prune", "--older-than", "90d")
    assert result.exit_code == 0, result.output
    assert "dropped 5 rows, kept its counts and 1 failure" in result.output

    after_show = _shown(invoke, 1)
    assert after_show.pop("pruned_at") is not None
    assert before_show.pop("pruned_at") is None
    assert after_show == before_show
    assert json.loads(invoke("campaigns", "ls", "--json").output) == before_ls
    assert _rows(store, 1) == {"failed": 1}
    assert "pruned_at:" in invoke("campaigns", "show", "1").output


def test_dry_run_says_what_it_would_drop_and_changes_nothing(
    store: Store, invoke: Invoke, spring_letter: Path, start_sink: StartSink, fake_clock: FakeClock
) -> None:
    _sent_campaign(store, invoke, spring_letter, start_sink)
    fake_clock.advance(91 * DAY)
    result = invoke("campaigns", "prune", "--older-than", "12w", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would drop 5 rows" in result.output
    assert _rows(store, 1) == {"sent": 5, "failed": 1}
    assert _shown(invoke, 1)["pruned_at"] is None
    data = json.loads(invoke("campaigns", "prune", "--older-than", "90d", "--dry-run",
                             "--json").output)
    assert data["dry_run"] is True and data["rows"] == 5
    assert [c["id"] for c in data["pruned"]] == [1]


def test_a_campaign_younger_than_the_age_is_left_alone(
    store: Store, invoke: Invoke, spring_letter: Path, start_sink: StartSink, fake_clock: FakeClock
) -> None:
    _sent_campaign(store, invoke, spring_letter, start_sink)
    fake_clock.advance(89 * DAY)
    result = invoke("campaigns", "prune", "--older-than", "90d")
    assert result.exit_code == 0
    assert "no campaign that ended before" in result.output
    named = invoke("campaigns", "prune", "1", "--older-than", "90d")
    assert named.exit_code == 1 and "within the age given" in named.output
    assert _rows(store, 1) == {"sent": 5, "failed": 1}


def test_a_campaign_that_can_be_resumed_is_never_pruned(
    store: Store, invoke: Invoke, spring_letter: Path, start_sink: StartSink, fake_clock: FakeClock
) -> None:
    populate(store, "members", 3)
    start_sink(temp_rate=1.0)  # every recipient deferred: the campaign is still sending
    assert invoke("send", str(spring_letter), "--list", "members", "--yes").exit_code == 0
    assert _shown(invoke, 1)["state"] == "sending"
    fake_clock.advance(120 * DAY)

    named = invoke("campaigns", "prune", "1", "--older-than", "90d")
    assert named.exit_code == 1
    assert named.output.strip() == (
        "Error: campaign 1 is sending: it can still be resumed (let it finish or cancel it first)"
    )
    by_age = invoke("campaigns", "prune", "--older-than", "90d")
    assert by_age.exit_code == 0
    assert "campaign 1 is sending: it can still be resumed" in by_age.output
    assert "kept whole" in by_age.output
    assert _rows(store, 1) == {"deferred": 3}


def test_a_scheduled_campaign_is_named_as_not_sent_yet(
    store: Store, invoke: Invoke, spring_letter: Path, fake_clock: FakeClock
) -> None:
    populate(store, "members", 2)
    result = invoke("send", str(spring_letter), "--list", "members", "--yes",
                    "--at", "2027-06-01 08:00", "--tz", "UTC")
    assert result.exit_code == 0, result.output
    fake_clock.advance(100 * DAY)
    named = invoke("campaigns", "prune", "1", "--older-than", "90d")
    assert named.exit_code == 1 and "is scheduled: it has not been sent yet" in named.output


def test_an_age_within_the_bounce_matching_window_is_refused(invoke: Invoke) -> None:
    short = invoke("campaigns", "prune", "--older-than", "7d")
    assert short.exit_code == 2 and "match_days (14 days)" in short.output
    bad = invoke("campaigns", "prune", "--older-than", "soon")
    assert bad.exit_code == 2 and "expected days or weeks" in bad.output
    unknown = invoke("campaigns", "prune", "9", "--older-than", "90d")
    assert unknown.exit_code == 1 and "no campaign 9" in unknown.output


def test_a_pruned_campaign_cannot_be_retried_and_still_counts_as_sent_before(
    store: Store, invoke: Invoke, spring_letter: Path, start_sink: StartSink, fake_clock: FakeClock
) -> None:
    _sent_campaign(store, invoke, spring_letter, start_sink)
    fake_clock.advance(91 * DAY)
    assert invoke("campaigns", "prune", "--older-than", "90d").exit_code == 0
    retried = invoke("campaigns", "retry", "1")
    assert retried.exit_code == 1 and "was pruned" in retried.output
    again = invoke("send", str(spring_letter), "--list", "members", "--yes")
    assert again.exit_code != 0 and "campaign 1" in again.output


def test_a_prune_stopped_after_keeping_the_counts_is_finished_by_the_next(
    store: Store, invoke: Invoke, spring_letter: Path, start_sink: StartSink, fake_clock: FakeClock
) -> None:
    _sent_campaign(store, invoke, spring_letter, start_sink)
    before = _shown(invoke, 1)
    fake_clock.advance(91 * DAY)
    assert keep_counts(store, 1, "2027-03-02T09:00:00Z")  # the counts kept, no row dropped yet
    halfway = _shown(invoke, 1)
    assert (halfway["sent"], halfway["failed"], halfway["lists"]) == (5, 1, before["lists"])
    result = invoke("campaigns", "prune", "--older-than", "90d")
    assert "dropped 5 rows" in result.output
    assert _rows(store, 1) == {"failed": 1}
    assert _shown(invoke, 1)["pruned_at"] == "2027-03-02T09:00:00Z"


def _sections(page: str) -> dict[str, str]:
    """A report page's sections by id, as written."""
    found = re.findall(r'<section id="([a-z]+)">(.*?)</section>', page, re.S)
    return dict(found)


def test_the_campaign_report_keeps_its_counts_and_says_what_was_dropped(
    store: Store, invoke: Invoke, spring_letter: Path, start_sink: StartSink,
    fake_clock: FakeClock, tmp_path: Path,
) -> None:
    _sent_campaign(store, invoke, spring_letter, start_sink)
    before_page = tmp_path / "before.html"
    assert invoke("campaigns", "report", "1", "-o", str(before_page)).exit_code == 0
    fake_clock.advance(91 * DAY)
    assert invoke("campaigns", "prune", "--older-than", "90d").exit_code == 0
    after_page = tmp_path / "after.html"
    result = invoke("campaigns", "report", "1", "-o", str(after_page))
    assert result.exit_code == 0, result.output
    before = _sections(before_page.read_text(encoding="utf-8"))
    after = _sections(after_page.read_text(encoding="utf-8"))
    assert set(before) == set(after)
    for kept in ("reasons", "rates", "lists"):
        assert after[kept] == before[kept], kept
    assert "<table" in after["size"]  # one message of each edition, built for another reader
    for dropped in ("timeline", "domains", "deferrals", "languages"):
        assert "rows per recipient were dropped on 2027-03-02" in after[dropped]
        assert "<table" not in after[dropped]
    assert "rows per recipient dropped" in after_page.read_text(encoding="utf-8")
