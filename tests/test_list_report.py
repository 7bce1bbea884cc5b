"""``mailer report``: the lists' weeks and the campaigns' rates, over weeks made with a fake clock.

The weeks are those of ``tests/report_world.py``: campaign 1 in the week of
30 November, campaign 2 and its leavers in the week of 14 December.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailer.reports.growth import ListReport, list_report
from mailer.reports.rates import percent
from mailer.store import Store
from tests.clocks import FakeClock
from tests.conftest import Invoke
from tests.report_world import World, table_cells, two_weeks_later, written_report

WEEKS = ["2026-11-23", "2026-11-30", "2026-12-07", "2026-12-14"]


@pytest.fixture
def weeks(mixed_world: World, invoke: Invoke, fake_clock: FakeClock) -> World:
    two_weeks_later(mixed_world, invoke, fake_clock)
    return mixed_world


@pytest.fixture
def report(weeks: World) -> ListReport:
    return list_report(weeks.store, 4)


def test_each_list_s_joins_and_losses_per_week(report: ListReport) -> None:
    assert report.weeks == WEEKS
    members, friends, quiet = sorted(report.lists, key=lambda each: ["members", "friends",
                                                                     "quiet"].index(each.name))
    assert (members.joined, members.left, members.bounced, members.complained) == (
        [0, 12, 0, 0], [0, 3, 0, 1], [0, 2, 0, 0], [0, 1, 0, 0])
    assert members.net == [0, 6, 0, -1]
    assert members.members == 5
    assert (friends.joined, friends.left, friends.bounced, friends.complained) == (
        [0, 2, 0, 3], [0, 0, 0, 2], [0, 0, 0, 0], [0, 0, 0, 0])
    assert friends.members == 3
    assert quiet.quiet and quiet.members == 0


def test_rates_per_campaign_with_unsubscribes_by_link_and_by_time(report: ListReport) -> None:
    first, second = report.campaigns
    assert (first.outcome.id, first.outcome.sent, first.unsubscribes.total) == (1, 12, 2)
    assert (second.outcome.id, second.outcome.recipients, second.outcome.sent) == (2, 5, 5)
    # One by the letter's link, one by a page the day after; the member who left two weeks
    # after campaign 1 is put down to no campaign.
    assert (second.unsubscribes.named, second.unsubscribes.by_time) == (1, 1)
    assert [percent(r.unsubscribed) for r in report.campaigns] == ["16.67%", "40%"]
    assert [percent(r.hard_bounces) for r in report.campaigns] == ["14.29%", "0%"]


def test_fewer_weeks_leave_the_older_campaign_and_joins_out(weeks: World) -> None:
    recent = list_report(weeks.store, 1)
    assert recent.weeks == ["2026-12-14"]
    assert [rates.outcome.id for rates in recent.campaigns] == [2]
    assert {each.name: each.joined for each in recent.lists}["friends"] == [3]


def test_named_lists_show_alone_with_the_campaigns_that_went_to_them(weeks: World) -> None:
    members = list_report(weeks.store, 4, ["members"])
    assert [each.name for each in members.lists] == ["members"]
    assert [rates.outcome.id for rates in members.campaigns] == [1]  # campaign 2: friends only
    both = list_report(weeks.store, 4, ["quiet", "friends", "quiet"])
    assert [each.name for each in both.lists] == ["quiet", "friends"]
    assert [rates.outcome.id for rates in both.campaigns] == [1, 2]


def test_an_unknown_list_is_one_line_naming_it_and_writes_nothing(
    weeks: World, invoke: Invoke, tmp_path: Path
) -> None:
    result = invoke("report", "--list", "frends")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: no list named 'frends' (did you mean 'friends'?)"]
    assert not (tmp_path / "list-report.html").exists()


def test_the_page_draws_each_active_list_and_the_rates_and_loads_nothing(
    weeks: World, invoke: Invoke, tmp_path: Path
) -> None:
    page = written_report(invoke, tmp_path, "list-report.html", "report", "--weeks", "4")
    assert page.count('<svg class="chart" role="img"') == 3  # members, friends, the rates
    assert "Nobody joined or left in these weeks." in page  # quiet
    assert "<script" not in page.lower()
    assert not re.search(r"\b(src|href)\s*=\s*\"(?!#)", page, re.I), "only links inside the page"
    assert "2: Autumn $ale" in page  # in the table, and as text in the chart
    # The lists in the order of their names: friends, members, quiet.
    assert '<section id="list-1">\n<h2>friends: ' in page
    assert table_cells(page, "list-1")[-1] == ["2026-12-14", "3", "2", "0", "0", "1"]


def test_without_lists_or_campaigns_the_page_says_so(invoke: Invoke) -> None:
    page = invoke("report", "-o", "-").stdout
    assert "There are no lists yet." in page
    assert "No campaign started in these weeks." in page
    assert "<svg" not in page


def test_people_from_an_export_that_says_when_they_consented_join_in_those_weeks(
    store: Store, invoke: Invoke, tmp_path: Path, fake_clock: FakeClock
) -> None:
    """A Mailchimp audience keeps each person's confirm time (else the opt-in time); the
    week of the import counts only the one whose time it does not say."""
    contacts = tmp_path / "subscribed_members_export_1a2b3c.csv"
    contacts.write_text(
        '"Email Address","First Name",OPTIN_TIME,CONFIRM_TIME\n'
        'ines@example.org,Inês,"2026-11-10 10:11:12","2026-11-11 08:00:00"\n'
        'otto@example.org,Otto,"2026-11-25 23:59:59",\n'
        "pia@example.org,Pia,,\n", encoding="utf-8")
    for args in (("lists", "create", "news"),
                 ("subscribers", "import", str(contacts), "--list", "news")):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
    (news,) = list_report(store, 4).lists
    assert list_report(store, 4).weeks == ["2026-11-09", "2026-11-16", "2026-11-23",
                                           "2026-11-30"]
    assert news.joined == [1, 0, 1, 1]
