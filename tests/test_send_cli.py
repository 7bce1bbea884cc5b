"""``mailer send`` from the command line: confirmation, dry run, test sends, segments, outbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailer.cli import send as send_command
from mailer.store import Store
from tests.conftest import Invoke
from tests.smtp_sink import LETTER, SmtpSink, populate, sink_environment


@pytest.fixture
def letter(tmp_path: Path) -> Path:
    path = tmp_path / "spring.md"
    path.write_text(LETTER, encoding="utf-8")
    return path


def campaign_count(store: Store) -> int:
    return int(store.one("SELECT count(*) FROM campaigns")[0])


def test_send_delivers_and_prints_a_json_summary(
    store: Store, sink: SmtpSink, letter: Path, invoke: Invoke
) -> None:
    emails = populate(store, "members", 12)
    result = invoke("send", str(letter), "--list", "members", "--yes", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert {k: summary[k] for k in ("campaign", "recipients", "sent", "deferred", "failed")} == {
        "campaign": 1,
        "recipients": 12,
        "sent": 12,
        "deferred": 0,
        "failed": 0,
    }
    assert isinstance(summary["seconds"], float)
    assert "campaign 1: 12 recipients" in result.stderr
    assert sink.counts() == dict.fromkeys(emails, 1)
    message = sink.received[0].data
    assert b"Subject: Spring meeting" in message and b"List-Unsubscribe:" in message


def test_send_refuses_off_a_terminal_without_yes(
    store: Store, sink: SmtpSink, letter: Path, invoke: Invoke
) -> None:
    populate(store, "members", 3)
    result = invoke("send", str(letter), "--list", "members")
    assert result.exit_code == 2
    assert "pass --yes" in result.output
    assert sink.received == [] and campaign_count(store) == 0


def test_sending_the_same_letter_again_warns_and_needs_confirmation(
    store: Store, sink: SmtpSink, letter: Path, invoke: Invoke
) -> None:
    populate(store, "members", 3)
    assert invoke("send", str(letter), "--list", "members", "--yes").exit_code == 0

    refused = invoke("send", str(letter), "--list", "members")
    assert refused.exit_code == 2
    assert "already sent to list members (campaign 1" in refused.output
    assert campaign_count(store) == 1

    still_refused = invoke("send", str(letter), "--list", "members", "--yes")
    assert still_refused.exit_code == 2
    assert "--again" in still_refused.output
    assert campaign_count(store) == 1

    again = invoke("send", str(letter), "--list", "members", "--yes", "--again")
    assert again.exit_code == 0, again.output
    assert "already sent" in again.stderr
    assert campaign_count(store) == 2
    assert len(sink.received) == 6


def test_an_edited_letter_is_not_a_repeat(
    store: Store, sink: SmtpSink, letter: Path, invoke: Invoke
) -> None:
    populate(store, "members", 2)
    assert invoke("send", str(letter), "--list", "members", "--yes").exit_code == 0
    letter.write_text(LETTER.replace("Saturday", "Sunday"), encoding="utf-8")
    result = invoke("send", str(letter), "--list", "members", "--yes")
    assert result.exit_code == 0 and "already sent" not in result.output


def test_dry_run_renders_everything_and_sends_nothing(
    store: Store, sink: SmtpSink, letter: Path, invoke: Invoke
) -> None:
    populate(store, "members", 7)
    result = invoke("send", str(letter), "--list", "members", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dry_run"] is True and report["recipients"] == 7 and report["bytes"] > 0
    assert sink.received == [] and campaign_count(store) == 0


def test_dry_run_works_without_a_signing_key(
    store: Store, sink: SmtpSink, letter: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(store, "members", 2)
    monkeypatch.delenv("MAILER_SECRET_KEY")
    result = invoke("send", str(letter), "--list", "members", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "2 messages" in result.output


def test_test_addresses_get_the_letter_and_no_campaign_is_made(
    store: Store, sink: SmtpSink, letter: Path, invoke: Invoke
) -> None:
    populate(store, "members", 5)
    result = invoke(
        "send",
        str(letter),
        "--list",
        "members",
        "--test",
        "editor@example.net",
        "--test",
        "member00001@example.com",
    )
    assert result.exit_code == 0, result.output
    assert sorted(sink.counts()) == ["editor@example.net", "member00001@example.com"]
    assert campaign_count(store) == 0
    personal = next(r for r in sink.received if r.rcpt_to == "member00001@example.com")
    assert b"Dear Member 1," in personal.data


def test_dry_run_with_test_addresses_sends_nothing(
    store: Store, sink: SmtpSink, letter: Path, invoke: Invoke
) -> None:
    populate(store, "members", 2)
    result = invoke(
        "send", str(letter), "--list", "members", "--dry-run", "--test", "editor@example.net"
    )
    assert result.exit_code == 2
    assert "--dry-run and --test" in result.output
    assert sink.received == [] and campaign_count(store) == 0


def test_a_letter_that_does_not_compile_makes_no_campaign(
    store: Store, sink: SmtpSink, tmp_path: Path, invoke: Invoke
) -> None:
    populate(store, "members", 2)
    broken = tmp_path / "broken.md"
    broken.write_text("---\nsubject: Broken\n---\n\nHello {% if %} x\n", encoding="utf-8")
    result = invoke("send", str(broken), "--list", "members", "--yes")
    assert result.exit_code == 1
    assert "broken.md:5: template syntax error" in result.output
    assert "Traceback" not in result.output
    assert sink.received == [] and campaign_count(store) == 0


def test_a_letter_whose_variable_nobody_has_makes_no_campaign(
    store: Store, sink: SmtpSink, tmp_path: Path, invoke: Invoke
) -> None:
    populate(store, "members", 3)
    typo = tmp_path / "typo.md"
    typo.write_text(
        "---\nsubject: Typo\n---\n\nDear {{ subscriber.attributes.nmae }},\n", encoding="utf-8"
    )
    result = invoke("send", str(typo), "--list", "members", "--yes")
    assert result.exit_code == 1
    assert "typo.md:5: undefined template variable" in result.output
    assert "member00000@example.com" in result.output
    assert sink.received == [] and campaign_count(store) == 0


def test_segment_narrows_the_recipients(
    store: Store, sink: SmtpSink, letter: Path, invoke: Invoke
) -> None:
    emails = populate(
        store,
        "members",
        12,
        attributes=lambda n: {"country": "PE" if n % 2 else "DE", "city": "Lima" if n % 3 else ""},
    )
    result = invoke(
        "send",
        str(letter),
        "--list",
        "members",
        "--segment",
        "country=pe and city~LIM",
        "--yes",
        "--json",
    )
    assert result.exit_code == 0, result.output
    expected = {e for n, e in enumerate(emails) if n % 2 and n % 3}
    assert set(sink.counts()) == expected
    assert json.loads(result.stdout)["recipients"] == len(expected)


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_segment_naming_a_field_nobody_has_is_refused(
    store: Store, sink: SmtpSink, letter: Path, invoke: Invoke, dry_run: bool
) -> None:
    # A misspelt field in a negative condition would otherwise select everyone.
    populate(store, "members", 3, attributes=lambda n: {"country": "PE" if n else "DE"})
    options = ["--dry-run"] if dry_run else ["--yes"]
    result = invoke("send", str(letter), "--list", "members", "--segment", "contry!=PE", *options)
    assert result.exit_code == 2
    assert "segment: no member of list members has a field 'contry'" in result.output
    assert sink.received == [] and campaign_count(store) == 0


def test_a_bad_segment_is_a_usage_error(
    store: Store, sink: SmtpSink, letter: Path, invoke: Invoke
) -> None:
    populate(store, "members", 1)
    result = invoke("send", str(letter), "--list", "members", "--segment", "country PE", "--yes")
    assert result.exit_code == 2
    assert "segment: cannot read" in result.output


def test_sending_without_a_signing_key_is_refused(
    store: Store, sink: SmtpSink, letter: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(store, "members", 2)
    monkeypatch.delenv("MAILER_SECRET_KEY")
    result = invoke("send", str(letter), "--list", "members", "--yes")
    assert result.exit_code == 1
    assert "set MAILER_SECRET_KEY" in result.output
    assert "Traceback" not in result.output
    assert campaign_count(store) == 0 and sink.received == []


def test_without_an_smtp_host_messages_go_to_the_maildir_outbox(
    store: Store, letter: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    populate(store, "members", 4)
    monkeypatch.setenv("MAILER_SECRET_KEY", "k")
    result = invoke("send", str(letter), "--list", "members", "--yes")
    assert result.exit_code == 0, result.output
    outbox = tmp_path / "outbox"
    assert len(list((outbox / "new").iterdir())) == 4
    assert list((outbox / "tmp").iterdir()) == []
    first = next((outbox / "new").iterdir()).read_bytes()
    assert first.startswith(b"Return-Path: <newsletter@example.org>\r\nDelivered-To: member")


def test_plain_smtp_to_a_remote_host_is_refused(
    store: Store, letter: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(store, "members", 1)
    for name, value in sink_environment(25, MAILER_SMTP_HOST="relay.example.net").items():
        monkeypatch.setenv(name, value)
    result = invoke("send", str(letter), "--list", "members", "--yes")
    assert result.exit_code == 1
    assert 'tls = "none" is only allowed for a loopback host' in result.output
    assert campaign_count(store) == 0


@pytest.mark.parametrize(
    ("variable", "value", "setting"),
    [
        ("MAILER_SMTP_CONNECTIONS", "0", "smtp.connections"),
        ("MAILER_SENDING_RATE", "-5", "sending.rate"),
        ("MAILER_SENDING_DOMAIN_RATE", "-1", "sending.domain_rate"),
        ("MAILER_SENDING_RETRY_FIRST", "0", "sending.retry_first"),
        ("MAILER_SENDING_DEADLINE", "-1", "sending.deadline"),
        ("MAILER_SENDING_BATCH_SIZE", "0", "sending.batch_size"),
        ("MAILER_SENDING_BATCH_SECONDS", "0", "sending.batch_seconds"),
    ],
)
def test_a_sending_setting_out_of_range_is_refused_before_a_campaign_is_made(
    store: Store,
    sink: SmtpSink,
    letter: Path,
    invoke: Invoke,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    setting: str,
) -> None:
    populate(store, "members", 2)
    monkeypatch.setenv(variable, value)
    result = invoke("send", str(letter), "--list", "members", "--yes")
    assert result.exit_code == 1
    assert setting in result.output and "Traceback" not in result.output
    assert campaign_count(store) == 0 and sink.received == []


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend a person sits at a terminal to answer the confirmation."""
    monkeypatch.setattr(send_command, "on_terminal", lambda: True)


def test_on_a_terminal_the_question_names_subject_list_and_count(
    store: Store, sink: SmtpSink, letter: Path, invoke: Invoke, terminal: None
) -> None:
    populate(store, "members", 3)
    declined = invoke("send", str(letter), "--list", "members", input="n\n")
    assert declined.exit_code == 1
    assert "Send 'Spring meeting' to list members (3 recipients)?" in declined.output
    assert campaign_count(store) == 0 and sink.received == []

    accepted = invoke("send", str(letter), "--list", "members", input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert len(sink.received) == 3


def test_on_a_terminal_a_repeat_is_asked_about_with_a_warning(
    store: Store, sink: SmtpSink, letter: Path, invoke: Invoke, terminal: None
) -> None:
    populate(store, "members", 2)
    assert invoke("send", str(letter), "--list", "members", "--yes").exit_code == 0
    declined = invoke("send", str(letter), "--list", "members", input="n\n")
    assert "already sent to list members (campaign 1" in declined.output
    assert "Send it AGAIN?" in declined.output
    assert campaign_count(store) == 1
    with_yes = invoke("send", str(letter), "--list", "members", "--yes", input="n\n")
    assert "Send it AGAIN?" in with_yes.output
    assert campaign_count(store) == 1
    accepted = invoke("send", str(letter), "--list", "members", input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert campaign_count(store) == 2


def test_concurrency_sets_how_many_connections_are_used(
    store: Store, sink: SmtpSink, letter: Path, invoke: Invoke
) -> None:
    populate(store, "members", 30)
    result = invoke("send", str(letter), "--list", "members", "--yes", "--concurrency", "2")
    assert result.exit_code == 0, result.output
    assert len(sink.received) == 30
    assert 1 <= sink.sessions <= 2


def test_a_dry_run_counts_in_words_and_says_how_many_more_it_did_not_list(
    store: Store, letter: Path, invoke: Invoke
) -> None:
    populate(store, "members", 1)
    one = invoke("send", str(letter), "--list", "members", "--dry-run").output
    assert "dry run: 1 message to list members" in one and "more" not in one
    populate(store, "members", 12)  # the first of them is the one already there
    many = invoke("send", str(letter), "--list", "members", "--dry-run").output
    assert "dry run: 12 messages to list members" in many
    assert many.count("@example.com") == 5 and "... and 7 more" in many


def test_long_walks_over_a_list_show_progress_on_a_terminal(
    store: Store, letter: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailer.cli import progress

    monkeypatch.setattr(progress, "on_terminal", lambda: True)
    monkeypatch.setattr(progress, "QUIET_SECONDS", 0.0)
    populate(store, "members", 1200)
    dry = invoke("send", str(letter), "--list", "members", "--dry-run")
    assert "\rrendering: 1,000/1,200" in dry.stderr
    checked = invoke("letters", "check", str(letter), "--list", "members")
    assert "\rchecking: 1,000" in checked.stderr
    assert "checked 1200 message(s)" in checked.stdout


def test_campaigns_ls_shortens_long_subjects(
    store: Store, sink: SmtpSink, tmp_path: Path, invoke: Invoke
) -> None:
    populate(store, "members", 2)
    subject = "A very long subject " * 8
    path = tmp_path / "long.md"
    path.write_text(f'---\nsubject: "{subject.strip()}"\n---\n\nhi\n', encoding="utf-8")
    assert invoke("send", str(path), "--list", "members", "--yes").exit_code == 0
    table = invoke("campaigns", "ls").output
    assert max(len(line) for line in table.splitlines()) < 120
    assert "A very long subject A very long subject…" in table
    assert subject.strip() in invoke("campaigns", "show", "1").output


def test_an_unknown_list_name_suggests_the_closest_one(store: Store, invoke: Invoke) -> None:
    populate(store, "members", 1)
    result = invoke("subscribers", "ls", "--list", "memebrs")
    assert result.exit_code == 1
    assert "no list named 'memebrs' (did you mean 'members'?)" in result.output


def test_letters_check_and_a_dry_run_count_the_same_recipients(
    store: Store, letter: Path, invoke: Invoke
) -> None:
    """One recipient query: the check walks exactly who a send would mail."""
    assert invoke("lists", "create", "members").exit_code == 0
    for who in ("ann", "ben", "cy", "dee", "eve", "fay"):
        domain = "example.net" if who == "fay" else "example.org"
        added = invoke("subscribers", "add", f"{who}@{domain}", "--list", "members")
        assert added.exit_code == 0
    store.conn.execute(  # ben has not confirmed yet
        "UPDATE subscriptions SET status = 'unconfirmed' WHERE subscriber_id = 2"
    )
    assert invoke("subscribers", "unsubscribe", "cy@example.org").exit_code == 0
    store.conn.execute("UPDATE subscribers SET status = 'bounced' WHERE id = 4")  # dee
    assert invoke("subscribers", "block", "eve@example.org").exit_code == 0
    store.conn.execute(  # fay's whole domain stopped taking our mail
        "INSERT INTO suppressions (kind, value, reason, created_at) "
        "VALUES ('domain', 'example.net', 'test', '2026-01-01T00:00:00Z')"
    )
    dry = json.loads(
        invoke("send", str(letter), "--list", "members", "--dry-run", "--json").stdout
    )
    check = json.loads(
        invoke("letters", "check", str(letter), "--list", "members", "--json").stdout
    )
    assert dry["recipients"] == check["checked"] == 1
    assert dry["examples"] == ["ann@example.org"]
    shown = invoke("lists", "show", "members", "--json").stdout
    assert json.loads(shown)["counts"]["sendable"] == 1
