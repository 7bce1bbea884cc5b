"""The guards of a sending campaign: a relay that refuses us is our problem, not the list's.

A relay answering 550 to every recipient (misconfigured: it thinks it is
the last stop for every domain) must not turn the whole list into hard
bounces: the campaign pauses, saying why, nobody is blamed, and once the
relay is fixed a resume delivers to everyone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from email import message_from_bytes
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailer.cli import cli
from mailer.store import Store
from tests.bounce_samples import arf, verp_dsn
from tests.clocks import FakeClock
from tests.conftest import Invoke
from tests.smtp_sink import Received, SmtpSink, populate

#: What a relay that believes itself the final destination of every domain answers.
UNKNOWN_HERE = "550 5.1.1 <{address}>: Recipient address rejected: User unknown in local table"
DOMAINS = ("example.com", "example.net", "example.org", "kollektiv.example",
           "cooperativa.example", "verein.example")


def members_across_domains(store: Store, each: int = 10) -> list[str]:
    """``each`` members at every domain of ``DOMAINS``, all on list members."""
    emails: list[str] = []
    for domain in DOMAINS:
        emails += populate(store, "members", each, domain=domain)
    return emails


def complain_about(messages: list[Received], invoke: Invoke, folder: Path) -> None:
    """Each recipient of ``messages`` reports it as spam (a feedback report quoting the
    letter's signed Message-ID), taken in by ``bounces ingest``."""
    for number, received in enumerate(messages):
        report = folder / f"complaint-{number}.eml"
        message_id = message_from_bytes(received.data)["Message-ID"]
        report.write_bytes(arf(received.rcpt_to, message_id=message_id).replace(
            b"<arf-1@", f"<arf-{number}@".encode()))
        assert invoke("bounces", "ingest", str(report)).exit_code == 0


def test_a_relay_refusing_every_recipient_pauses_the_campaign_and_blames_nobody(
    store: Store, sink: SmtpSink, spring_letter: Path, invoke: Invoke
) -> None:
    emails = members_across_domains(store)
    sink.faults.refuse_recipients = UNKNOWN_HERE

    sent = invoke("send", str(spring_letter), "--list", "members", "--yes")

    assert sent.exit_code == 1, sent.output
    assert "(paused)" in sent.stdout
    assert "paused: the relay gave the same refusal" in sent.stderr
    assert "campaigns resume 1" in sent.stderr
    assert store.one("SELECT count(*) FROM bounces")[0] == 0
    assert store.one("SELECT count(*) FROM subscribers WHERE status != 'active'")[0] == 0
    states = store.all("SELECT state, count(*) FROM deliveries GROUP BY state")
    assert [tuple(row) for row in states] == [("pending", 60)]
    shown = invoke("campaigns", "show", "1")
    assert "state: paused" in shown.stdout
    assert "paused: the relay gave the same refusal" in shown.stdout
    detail = json.loads(invoke("campaigns", "show", "1", "--json").stdout)
    assert detail["state"] == "paused"
    assert "550 5.1.1" in detail["paused"]
    waiting = invoke("campaigns", "recipients", "1", "--status", "pending").stdout.splitlines()
    assert len(waiting) == 61 and all("\t550\t" in line for line in waiting[1:21])

    sink.faults.refuse_recipients = ""  # the relay is fixed
    resumed = invoke("campaigns", "resume", "1")

    assert resumed.exit_code == 0, resumed.output
    assert "sent 60" in resumed.stdout and "(done)" in resumed.stdout
    assert sink.counts() == dict.fromkeys(emails, 1)
    assert "paused" not in invoke("campaigns", "show", "1").stdout.replace("state: done", "")


@pytest.mark.parametrize(
    "refusal",
    [
        "554 5.7.1 <{address}>: Relay access denied",
        "530 5.7.0 Authentication required",
        "550 5.7.1 relaying denied, authenticate first",
    ],
)
def test_a_relay_that_will_not_relay_for_us_pauses_at_its_first_refusal(
    store: Store, sink: SmtpSink, spring_letter: Path, invoke: Invoke, refusal: str
) -> None:
    emails = populate(store, "members", 3)
    sink.faults.refuse_recipients = refusal

    sent = invoke("send", str(spring_letter), "--list", "members", "--yes", "--json")

    assert sent.exit_code == 1
    result = json.loads(sent.stdout)
    assert result["state"] == "paused" and result["pending"] == 3
    assert refusal.split()[0] in result["paused"]
    assert "campaign 1 paused:" in sent.stderr
    assert store.one("SELECT count(*) FROM bounces")[0] == 0
    sink.faults.refuse_recipients = ""
    assert invoke("campaigns", "resume", "1").exit_code == 0
    assert sink.counts() == dict.fromkeys(emails, 1)


def test_refusals_before_the_first_acceptance_are_bounces_once_a_message_is_accepted(
    store: Store, sink: SmtpSink, spring_letter: Path, invoke: Invoke
) -> None:
    emails = members_across_domains(store, each=5)
    refused = {email for n, email in enumerate(emails) if n % 5 == 0}  # one at each domain
    sink.faults.reject = refused

    sent = invoke("send", str(spring_letter), "--list", "members", "--yes")

    assert sent.exit_code == 0, sent.output
    bounced = {row[0] for row in store.all("SELECT email FROM subscribers "
                                           "WHERE status = 'bounced'")}
    assert bounced == refused
    assert "(done)" in sent.stdout


def test_the_hard_bounce_rate_pauses_a_campaign_and_force_goes_on_until_it_rises_further(
    store: Store, sink: SmtpSink, spring_letter: Path, invoke: Invoke,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILER_GUARDS_MIN_TRIED", "100")
    monkeypatch.setenv("MAILER_SMTP_CONNECTIONS", "1")  # outcomes in subscriber order
    emails = populate(store, "members", 300)
    sink.faults.reject = set(emails[9::10])  # one in ten: 10% hard bounces

    sent = invoke("send", str(spring_letter), "--list", "members", "--yes")

    assert sent.exit_code == 1
    # The 100th is refused; its outcome waits for the 101st to be accepted (a refusal
    # is the recipient's own once the relay is seen to accept).
    reason = "9.9% of the 101 recipients tried bounced hard (more than 5%)"
    assert f"paused: {reason}" in sent.stderr
    assert f"paused: {reason}" in invoke("campaigns", "show", "1").stdout
    assert len(sink.received) == 91

    again = invoke("campaigns", "resume", "1", "--json")  # nothing changed: paused at once
    assert again.exit_code == 1
    assert json.loads(again.stdout)["paused"] == reason
    assert len(sink.received) == 91

    forced = invoke("campaigns", "resume", "1", "--force")  # 10% stays under 9.9% + 2.5

    assert forced.exit_code == 0, forced.output
    assert "sent 270" in forced.stdout and "(done)" in forced.stdout
    assert "paused" not in invoke("campaigns", "show", "1").stdout
    bounced = store.one("SELECT count(*) FROM subscribers WHERE status = 'bounced'")[0]
    assert bounced == 30


def test_complaints_that_come_back_while_it_sends_pause_the_next_run(
    store: Store, sink: SmtpSink, spring_letter: Path, invoke: Invoke,
    monkeypatch: pytest.MonkeyPatch, fake_clock: FakeClock, tmp_path: Path,
) -> None:
    monkeypatch.setenv("MAILER_GUARDS_MIN_TRIED", "100")
    emails = populate(store, "members", 120)
    sink.faults.defer = set(emails[-20:])  # greylisted: the campaign is still sending
    assert invoke("send", str(spring_letter), "--list", "members", "--yes").exit_code == 0
    complain_about(sink.received[:2], invoke, tmp_path)
    sink.faults.defer = set()
    fake_clock.advance(hours=2)

    resumed = invoke("campaigns", "resume", "1")

    assert resumed.exit_code == 1
    assert "paused: 2.00% of the 100 messages sent drew a complaint (more than 0.3%)" in (
        resumed.stderr)
    assert len(sink.received) == 100
    assert invoke("campaigns", "resume", "1", "--force").exit_code == 0
    assert sink.counts() == dict.fromkeys(emails, 1)


def test_a_bounce_that_comes_back_during_the_send_counts_toward_the_hard_rate(
    store: Store, sink: SmtpSink, spring_letter: Path, invoke: Invoke,
    monkeypatch: pytest.MonkeyPatch, fake_clock: FakeClock, tmp_path: Path,
) -> None:
    monkeypatch.setenv("MAILER_GUARDS_MIN_TRIED", "100")
    monkeypatch.setenv("MAILER_BOUNCES_RETURN_PATH", "bounces@example.org")
    emails = populate(store, "members", 120)
    sink.faults.defer = set(emails[-20:])
    assert invoke("send", str(spring_letter), "--list", "members", "--yes").exit_code == 0
    for number, received in enumerate(sink.received[:7]):
        report = tmp_path / f"bounce-{number}.eml"
        report.write_bytes(verp_dsn(received.mail_from, received.rcpt_to).replace(
            b"<verp-1@", f"<verp-{number}@".encode()))
        assert invoke("bounces", "ingest", str(report)).exit_code == 0
    sink.faults.defer = set()
    fake_clock.advance(hours=2)

    resumed = invoke("campaigns", "resume", "1")

    # 7 of the 120 tried (the 20 greylisted were tried too) bounced hard.
    assert "paused: 5.8% of the 120 recipients tried bounced hard" in resumed.stderr
    assert len(sink.received) == 100


def test_guard_settings_are_checked_when_read(db_path: Path) -> None:
    for env, words in [
        ({"MAILER_GUARDS_HARD_BOUNCE_PERCENT": "0"}, "guards.hard_bounce_percent must be"),
        ({"MAILER_GUARDS_COMPLAINT_PERCENT": "abc"}, "MAILER_GUARDS_COMPLAINT_PERCENT must be"),
        ({"MAILER_GUARDS_SAME_REFUSAL_DOMAINS": "30"}, "same_refusal_domains must not be above"),
    ]:
        result = CliRunner().invoke(cli, ["--db", str(db_path), "campaigns", "ls"], env=env)
        assert result.exit_code == 1 and words in result.output, result.output


def test_campaigns_run_reports_a_paused_campaign_and_then_leaves_it_for_a_person(
    store: Store, sink: SmtpSink, spring_letter: Path, invoke: Invoke, fake_clock: FakeClock
) -> None:
    populate(store, "members", 5)
    sink.faults.refuse_sender = True
    scheduled = invoke("send", str(spring_letter), "--list", "members", "--yes",
                       "--at", "2026-12-01 10:00", "--tz", "UTC")
    assert scheduled.exit_code == 0, scheduled.output
    fake_clock.advance(hours=2)

    first = invoke("campaigns", "run")

    assert first.exit_code == 1
    assert "sent 0, deferred 0, failed 0, pending 5 (paused)" in first.stdout
    assert "campaign 1 paused: " in first.stderr and "refused the sender" in first.stderr
    second = invoke("campaigns", "run")
    assert second.exit_code == 0 and "no campaign has work due" in second.stdout
    assert sink.received == []


def test_in_a_shell_the_pause_is_one_line_and_a_failed_exit_status(
    store: Store, sink: SmtpSink, spring_letter: Path, db_path: Path
) -> None:
    members_across_domains(store, each=4)
    sink.faults.refuse_recipients = UNKNOWN_HERE
    done = subprocess.run(
        [sys.executable, "-m", "mailer", "--db", str(db_path), "send", str(spring_letter),
         "--list", "members", "--yes"],
        capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    # Before it, only the configuration's warnings (mailer doctor's cheap part).
    *warnings, error = done.stderr.splitlines()
    assert all(line.startswith(("warning:", "  fix:")) for line in warnings), warnings
    assert error.startswith("Error: campaign 1 paused: the relay gave the same refusal")
    assert "24 recipients not yet sent" in error


def test_complaints_that_come_back_in_the_middle_of_a_send_pause_it_there(
    store: Store, sink: SmtpSink, spring_letter: Path, db_path: Path, invoke: Invoke,
    tmp_path: Path,
) -> None:
    emails = populate(store, "members", 300)
    env = {**os.environ, "MAILER_GUARDS_MIN_TRIED": "100"}
    process = subprocess.Popen(
        [sys.executable, "-m", "mailer", "--db", str(db_path), "send", str(spring_letter),
         "--list", "members", "--yes", "--rate", "30"],  # 300 at 30 a second: 10 s
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while len(sink.received) < 40 and process.poll() is None:
            assert time.monotonic() < deadline, "the sender made no progress"
            time.sleep(0.002)  # polling for progress, as the crash tests do
        complain_about(sink.received[:2], invoke, tmp_path)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1
    assert b"drew a complaint" in stderr
    assert len(sink.received) < len(emails)
    assert store.one("SELECT state FROM campaigns WHERE id = 1")[0] == "paused"
