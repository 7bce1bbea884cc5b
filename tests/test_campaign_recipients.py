"""``mailer campaigns recipients``: who got what of a campaign, streamed row by row."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mailer.store import Store
from mailer.store.deliveries import outcomes_of
from tests.conftest import Invoke
from tests.smtp_sink import SmtpSink, populate


@pytest.fixture
def sent_campaign(store: Store, sink: SmtpSink, spring_letter: Path, invoke: Invoke) -> list[str]:
    """Campaign 1 to six members: one refused (bounced), one greylisted, four sent."""
    emails = populate(store, "members", 6)
    sink.faults.reject = {emails[1]}
    sink.faults.defer = {emails[4]}
    result = invoke("send", str(spring_letter), "--list", "members", "--yes")
    assert result.exit_code == 0, result.output
    return emails


def test_every_recipient_is_listed_with_status_time_and_reply(
    sent_campaign: list[str], invoke: Invoke
) -> None:
    result = invoke("campaigns", "recipients", "1")

    assert result.exit_code == 0, result.output
    header, *lines = result.stdout.splitlines()
    assert header == "email\tstatus\tat\tcode\treply"
    rows = {line.split("\t")[0]: line.split("\t") for line in lines}
    assert list(rows) == sent_campaign
    assert {email: row[1] for email, row in rows.items()} == {
        sent_campaign[0]: "sent", sent_campaign[1]: "bounced", sent_campaign[2]: "sent",
        sent_campaign[3]: "sent", sent_campaign[4]: "deferred", sent_campaign[5]: "sent",
    }
    assert rows[sent_campaign[0]][3] == "250" and "queued as" in rows[sent_campaign[0]][4]
    assert rows[sent_campaign[1]][4].startswith("hard userunknown: 550 5.1.1")
    assert all(row[2] for row in rows.values()), "each says when"


def test_status_keeps_one_kind_of_outcome(sent_campaign: list[str], invoke: Invoke) -> None:
    bounced = invoke("campaigns", "recipients", "1", "--status", "bounced").stdout
    lines = bounced.splitlines()[1:]
    assert len(lines) == 1 and lines[0].startswith(f"{sent_campaign[1]}\tbounced\t")

    deferred = json.loads(invoke("campaigns", "recipients", "1", "--status", "deferred",
                                 "--json").stdout)
    assert [row["email"] for row in deferred] == [sent_campaign[4]]
    assert deferred[0]["code"] == 451 and "greylisted" in deferred[0]["reply"]

    assert json.loads(invoke("campaigns", "recipients", "1", "--status", "failed",
                             "--json").stdout) == []


def test_a_status_it_does_not_know_or_a_campaign_that_does_not_exist_is_one_line(
    sent_campaign: list[str], invoke: Invoke
) -> None:
    unknown = invoke("campaigns", "recipients", "1", "--status", "lost")
    assert unknown.exit_code == 2 and len(unknown.output.strip().splitlines()) == 1
    missing = invoke("campaigns", "recipients", "7")
    assert missing.exit_code == 1 and "no campaign 7" in missing.output


def test_pages_of_rows_follow_each_other_without_a_gap(
    sent_campaign: list[str], store: Store
) -> None:
    assert [row.email for row in outcomes_of(store, 1, page_size=2)] == sent_campaign
    sent = [row.email for row in outcomes_of(store, 1, "sent", page_size=1)]
    assert sent == [sent_campaign[n] for n in (0, 2, 3, 5)]


def test_the_list_pipes_into_another_program(sent_campaign: list[str], db_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mailer", "--db", str(db_path), "campaigns", "recipients", "1",
         "--status", "sent"],
        capture_output=True, text=True, check=True, timeout=60,
    )
    assert [line.split("\t")[0] for line in done.stdout.splitlines()[1:]] == [
        sent_campaign[n] for n in (0, 2, 3, 5)
    ]
