"""``mailer campaigns report``: the figures of a campaign with known outcomes, and its page.

The campaign is made by real sends to an SMTP sink and real bounces through
the bounce code (``tests/report_world.py``); its report must give exactly
the numbers that world was built to have.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailer.config import load_config
from mailer.reports.campaign import CampaignReport, buckets, campaign_report, time_unit
from mailer.reports.growth import list_report
from mailer.reports.rates import Rates, Unsubscribes, percent
from mailer.store import Store, reports
from mailer.store.reports import Deferral, DomainOutcome, ReasonCount
from tests.clocks import FakeClock
from tests.conftest import Invoke, MailList
from tests.provider_helpers import ANN, letter_to_ann, postmark_auth
from tests.report_world import LETTER, World, answered, table_cells, written_report
from tests.smtp_sink import SmtpSink
from tests.web_helpers import Web


@pytest.fixture
def report(mixed_world: World, db_path: Path) -> CampaignReport:
    return campaign_report(load_config(None, db=db_path), mixed_world.store, 1)


def test_outcomes_by_domain_count_each_state_and_the_proven_bounces(
    report: CampaignReport,
) -> None:
    assert report.domains == [
        DomainOutcome("example.org", 6, sent=6, deferred=0, failed=0, pending=0, hard=1,
                      complaints=1),
        DomainOutcome("example.net", 4, sent=2, deferred=1, failed=1, pending=0, hard=1,
                      complaints=0),
        DomainOutcome("example.com", 2, sent=2, deferred=0, failed=0, pending=0, hard=0,
                      complaints=0),
        DomainOutcome("example.edu", 2, sent=2, deferred=0, failed=0, pending=0, hard=0,
                      complaints=0),
    ]


def test_past_ten_domains_the_rest_are_added_up_as_one(
    store: Store, invoke: Invoke, tmp_path: Path, db_path: Path, sink: SmtpSink,
    mail_list: MailList,
) -> None:
    # Thirteen domains: d00.example has 13 members, d01 12, and so on down to d12 with one.
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("email\n" + "".join(
        f"m{n}@d{d:02d}.example\n" for d in range(13) for n in range(13 - d)), encoding="utf-8")
    for args in (("lists", "create", "news"),
                 ("subscribers", "import", str(contacts), "--list", "news")):
        assert invoke(*args).exit_code == 0
    sink.faults.defer |= {"m0@d11.example", "m0@d12.example"}
    mail_list("news")
    domains = campaign_report(load_config(None, db=db_path), store, 1).domains
    assert [row.domain for row in domains] == [
        *(f"d{d:02d}.example" for d in range(10)), "other domains (3)"]
    assert domains[-1] == DomainOutcome("other domains (3)", 6, sent=4, deferred=2, failed=0,
                                        pending=0, hard=0, complaints=0)


def test_the_timeline_counts_messages_per_minute_with_quiet_minutes_as_zero(
    report: CampaignReport,
) -> None:
    assert report.unit == "minute"
    assert report.timeline == [
        ("2026-12-01T09:00", 11), ("2026-12-01T09:01", 0), ("2026-12-01T09:02", 0),
        ("2026-12-01T09:03", 0), ("2026-12-01T09:04", 0), ("2026-12-01T09:05", 1),
    ]


def test_bounce_reasons_count_proven_reports_and_leave_the_unproven_out(
    report: CampaignReport,
) -> None:
    # The relay's own 550 and the VERP notice are both hard, user unknown.
    assert report.reasons == [ReasonCount("hard", "userunknown", 2),
                              ReasonCount("soft", "mailboxfull", 1)]
    assert report.detail.unverified_reports == 1


def test_deferrals_by_domain_and_code_and_the_ones_taken_later(report: CampaignReport) -> None:
    assert report.deferrals == [Deferral("example.net", 451, waiting=1, expired=0)]
    assert report.sent_after_retries == 1


def test_rates_and_unsubscribes_put_down_to_the_campaign(report: CampaignReport) -> None:
    rates = report.rates
    assert rates is not None
    outcome = rates.outcome
    assert (outcome.recipients, outcome.tried, outcome.sent) == (14, 14, 12)
    assert (outcome.hard, outcome.complaints) == (2, 1)
    # One left by the letter's link, one by a page naming no letter; the admin's removal
    # and the complaint's leaving are not unsubscribes of the letter.
    assert (rates.unsubscribes.named, rates.unsubscribes.by_time) == (1, 1)
    assert [percent(r) for r in (rates.delivered, rates.hard_bounces, rates.complaints,
                                 rates.unsubscribed)] == ["85.71%", "14.29%", "8.33%", "16.67%"]


def test_the_letter_s_recipients_per_language_and_list(report: CampaignReport) -> None:
    assert [(s.language, s.recipients) for s in report.languages] == [("", 11), ("de", 3)]
    assert report.detail.lists == {"members": 12, "friends": 2}


def test_the_size_of_a_message_is_that_of_one_the_relay_took(
    report: CampaignReport, mixed_world: World
) -> None:
    """Measured for the first reader of each edition; the sink has the message sent to them
    (tokens and Message-IDs differ, their lengths do not)."""
    assert [s.language for s in report.sizes] == ["", "de"]
    taken = {r.rcpt_to: len(r.data) for r in mixed_world.sink.received}
    assert abs(report.sizes[0].size - taken["o2@example.org"]) <= 8
    assert abs(report.sizes[1].size - taken["o0@example.org"]) <= 8
    assert not any(s.clipped for s in report.sizes)


def test_the_replies_gathered_under_the_campaign_and_who_wrote_them(
    mixed_world: World, invoke: Invoke, db_path: Path
) -> None:
    answered(mixed_world, invoke)
    report = campaign_report(load_config(None, db=db_path), mixed_world.store, 1)
    assert report.replies == (3, 2)  # the stranger's proves no campaign
    page = invoke("campaigns", "report", "1", "-o", "-").stdout
    assert "<dt>replies</dt><dd>3 from 2 (mailer replies ls --campaign 1)</dd>" in page


def test_the_time_unit_follows_the_span_of_the_sending() -> None:
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)

    def after(**span: float) -> str:
        return time_unit(start, start + timedelta(**span))

    assert [after(hours=2), after(hours=3), after(days=4), after(days=5), after(days=181)] == [
        "minute", "hour", "hour", "day", "week"]
    assert buckets("week", datetime(2026, 12, 3, tzinfo=UTC), datetime(2026, 12, 15, tzinfo=UTC)
                   ) == ["2026-11-30", "2026-12-07", "2026-12-14"]


def test_the_page_has_a_chart_and_the_same_numbers_in_a_table_for_each_figure(
    mixed_world: World, invoke: Invoke, tmp_path: Path
) -> None:
    page = written_report(invoke, tmp_path, "campaign-1-report.html", "campaigns", "report", "1")
    for section in ("timeline", "domains", "reasons", "deferrals", "rates", "size", "languages",
                    "lists"):
        part = page.split(f'<section id="{section}">', 1)[1].split("</section>", 1)[0]
        assert part.count('<svg class="chart" role="img"') == 1, section
        assert "<table>" in part, section
    assert table_cells(page, "domains")[1] == ["example.net", "4", "2", "1", "1", "0", "1", "0"]
    assert table_cells(page, "rates")[1:3] == [["hard bounces", "2", "14 tried", "14.29%"],
                                         ["complaints", "1", "12 delivered", "8.33%"]]
    assert table_cells(page, "deferrals") == [["example.net", "451", "1", "0"]]
    assert "Spring meeting: $5 dues &amp; &lt;agenda&gt;" in page
    assert "<agenda>" not in page


def test_the_page_loads_nothing_and_links_only_to_the_letter_s_archive(
    mixed_world: World, invoke: Invoke, tmp_path: Path
) -> None:
    page = invoke("campaigns", "report", "1", "-o", "-").stdout
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page.lower()
    assert not re.search(r"\bsrc\s*=", page, re.I), "nothing is loaded from a source"
    assert not re.search(r"url\(\s*['\"]?(https?:)?//|@import", page, re.I)
    assert "default-src 'none'" in page
    links = re.findall(r"<(\w+)[^>]*\bhref\s*=\s*\"((?:https?:)?//[^\"]*)\"", page, re.I)
    assert links == [("a", "http://127.0.0.1:8025/archive/1")]
    # Inside the charts, ids are each chart's own and every reference stays in the page.
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    assert all(ref in ids for ref in re.findall(r'url\(#([^)]+)\)', page))


def _scheduled(
    invoke: Invoke, folder: Path, letter: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Campaign 1: ``letter`` to one member of ``members``, scheduled for Christmas Eve."""
    monkeypatch.setenv("MAILER_SECRET_KEY", "test-secret")
    (folder / "spring.md").write_text(letter, encoding="utf-8")
    for args in (("lists", "create", "members"),
                 ("subscribers", "add", "ann@example.org", "--list", "members"),
                 ("send", str(folder / "spring.md"), "--list", "members", "--yes",
                  "--at", "2026-12-24 18:00", "--tz", "UTC")):
        assert invoke(*args).exit_code == 0


def test_a_campaign_not_started_says_so_instead_of_drawing_empty_charts(
    store: Store, invoke: Invoke, tmp_path: Path, fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _scheduled(invoke, tmp_path, LETTER, monkeypatch)
    result = invoke("campaigns", "report", "1", "-o", "-")
    assert result.exit_code == 0, result.output
    page = result.stdout
    assert page.count("<svg") == 1, "only the letter's size is drawn"
    assert "Nothing has been sent yet: the campaign is scheduled for 2026-12-24T18:00:00Z" in page
    for section in ("timeline", "domains", "reasons", "deferrals", "rates"):
        assert f'<section id="{section}">' not in page
    assert "Its recipients are counted when it starts." in page
    assert table_cells(page, "size")[0][0] == "the original"  # the letter is measured all the same


def test_a_letter_s_attachment_counts_in_its_size_and_past_100_kb_gmail_clips_it(
    store: Store, invoke: Invoke, tmp_path: Path, db_path: Path, fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "motion.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 480)  # 120 KB
    attached = LETTER.replace("---\n\n", "attachments: motion.pdf\n---\n\n", 1)
    _scheduled(invoke, tmp_path, attached, monkeypatch)
    (size,) = campaign_report(load_config(None, db=db_path), store, 1).sizes
    assert size.size > 120 * 1024 * 4 // 3 and size.clipped  # base64: four bytes for three
    page = invoke("campaigns", "report", "1", "-o", "-").stdout
    assert table_cells(page, "size")[0][-1] == "over 100 KB: Gmail clips it"
    assert "100 KB: Gmail clips a longer one" in page  # the chart's line, in its legend


def test_the_report_refuses_to_write_over_the_database_and_knows_no_unknown_campaign(
    mixed_world: World, invoke: Invoke, db_path: Path
) -> None:
    refused = invoke("campaigns", "report", "1", "-o", str(db_path))
    assert refused.exit_code == 2 and "refusing to write over the database" in refused.output
    unknown = invoke("campaigns", "report", "42")
    assert unknown.exit_code == 1 and "no campaign 42" in unknown.output


async def _complaint_to(web: Web, event_id: int) -> None:
    """Postmark's word that Ann reported a letter as spam (it quotes no Message-ID of ours)."""
    body = json.dumps({"RecordType": "SpamComplaint", "ID": event_id, "Type": "SpamComplaint",
                       "Email": ANN}).encode()
    response = await web.client.post("/hooks/postmark", content=body, headers=postmark_auth())
    assert response.status_code == 200, response.text


async def test_a_provider_s_complaint_counts_for_the_last_letter_and_the_list_s_week(
    hook_web: Web, fake_clock: FakeClock
) -> None:
    """A report that proves itself by the provider's signature but names no letter is put
    down to the last letter the relay took for that person in the 7 days before."""
    _, campaign, _ = letter_to_ann(hook_web)
    fake_clock.advance(days=6)
    await _complaint_to(hook_web, 7)
    (outcome,) = reports.campaign_outcomes(hook_web.store, campaign_id=campaign)
    assert (outcome.sent, outcome.complaints) == (1, 1)
    assert Rates(outcome, Unsubscribes()).complaints == 1.0
    assert reports.outcomes_by_domain(hook_web.store, campaign)[0].complaints == 1
    (news,) = list_report(hook_web.store, 2).lists
    assert (news.name, news.joined, news.complained) == ("news", [1, 0], [0, 1])


async def test_a_provider_s_report_long_after_the_last_letter_counts_for_none(
    hook_web: Web, fake_clock: FakeClock
) -> None:
    _, campaign, _ = letter_to_ann(hook_web)
    fake_clock.advance(days=8)
    await _complaint_to(hook_web, 8)
    (outcome,) = reports.campaign_outcomes(hook_web.store, campaign_id=campaign)
    assert (outcome.sent, outcome.complaints) == (1, 0)
