"""Mail from strangers changes nobody: only reports that prove themselves act.

The bounce address is public (it is the envelope sender of every letter), so
anyone can mail it a delivery report or a spam complaint naming anyone. Each
message here goes through ``mailer bounces ingest -`` as a real process, as
an MTA's pipe runs it, after a real send of a letter to 500 subscribers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from email import message_from_bytes
from pathlib import Path

import pytest

from mailer.store import Store, open_store
from tests import bounce_samples as samples
from tests.conftest import SECRET, Invoke

RETURN_PATH = "bounces@lists.example.org"
MEMBERS = 500


def _write_config(tmp_path: Path, *, verp: bool) -> Path:
    path = tmp_path / "mailer.toml"
    bounces = f'return_path = "{RETURN_PATH}"\n' if verp else ""
    path.write_text(
        '[sender]\nfrom = "Union News <news@lists.example.org>"\n'
        f"[bounces]\n{bounces}",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def outbox(
    tmp_path: Path, db_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Path:
    """500 members of ``members``, each sent one letter through the Maildir outbox."""
    verp = getattr(request, "param", True)
    config = _write_config(tmp_path, verp=verp)
    monkeypatch.setenv("MAILER_CONFIG", str(config))
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    csv = tmp_path / "members.csv"
    csv.write_text(
        "email,name\n" + "".join(f"m{i}@example.org,Member {i}\n" for i in range(MEMBERS)),
        encoding="utf-8",
    )
    letter = tmp_path / "news.md"
    letter.write_text('---\nsubject: "News"\n---\n\nDear {{ subscriber.name }},\n\nnews.\n')
    for args in (
        ("lists", "create", "members"),
        ("lists", "create", "events"),
        ("subscribers", "import", str(csv), "--list", "members"),
        ("subscribers", "add", "m1@example.org", "--list", "events"),
        ("send", str(letter), "--list", "members", "--yes"),
    ):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
    return tmp_path / "outbox" / "new"


def _sent_to(outbox: Path, email: str) -> bytes:
    """The letter as it left for ``email`` (without the outbox's envelope lines)."""
    for path in outbox.iterdir():
        data = path.read_bytes()
        if f"Delivered-To: {email}\r\n".encode() in data:
            return data.split(b"\r\n", 2)[2]
    raise AssertionError(f"no letter to {email}")


def _return_path(outbox: Path, email: str) -> str:
    for path in outbox.iterdir():
        data = path.read_bytes()
        if f"Delivered-To: {email}\r\n".encode() in data:
            return data.split(b"\r\n", 1)[0].decode().removeprefix("Return-Path: <")[:-1]
    raise AssertionError(f"no letter to {email}")


def _pipe(db: Path, message: bytes, envelope_to: str = RETURN_PATH) -> dict[str, object]:
    """``mailer bounces ingest -`` as Postfix's pipe runs it (ORIGINAL_RECIPIENT set)."""
    env = {**os.environ, "ORIGINAL_RECIPIENT": envelope_to}
    done = subprocess.run(
        [sys.executable, "-m", "mailer", "--db", str(db), "bounces", "ingest", "-", "--json"],
        input=message, capture_output=True, env=env, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, object] = json.loads(done.stdout)
    return report


def _nobody_changed(store: Store) -> None:
    statuses = store.all("SELECT status, count(*) AS n FROM subscribers GROUP BY status")
    assert [(r["status"], r["n"]) for r in statuses] == [("active", MEMBERS)]
    memberships = store.all("SELECT DISTINCT status FROM subscriptions")
    assert [r["status"] for r in memberships] == ["confirmed"]
    assert store.one("SELECT count(*) FROM suppressions")[0] == 0


def _proofs(db: Path) -> list[str]:
    with open_store(db) as store:
        return [r["proof"] for r in store.all("SELECT proof FROM bounces ORDER BY id")]


def _dsn_of(letter: bytes, address: str, to: str = RETURN_PATH) -> bytes:
    return samples.dsn(
        [(address, "failed", "5.1.1", "550 5.1.1 user unknown")],
        to=to,
        attach=letter.decode(),
        message_id=f"<dsn-{address}@mx.example.org>",
    )


def _complaint_quoting(letter: bytes, address: str) -> bytes:
    """An ARF report with the original's headers but no Return-Path (an FBL that strips it)."""
    original = message_from_bytes(letter)
    del original["Return-Path"]
    report = samples.arf(address, message_id=str(original["Message-ID"]))
    return report.replace(b"<arf-1@isp.example.net>", f"<arf-{address}@isp>".encode())


def test_a_token_less_dsn_naming_500_subscribers_changes_nobody(
    outbox: Path, db_path: Path, invoke: Invoke
) -> None:
    everyone = [(f"m{i}@example.org", "failed", "5.1.1", "550 5.1.1 user unknown")
                for i in range(MEMBERS)]
    report = _pipe(db_path, samples.dsn(everyone, to=RETURN_PATH))
    assert report["events"] == MEMBERS and report["unverified"] == MEMBERS
    with open_store(db_path) as store:
        _nobody_changed(store)
    assert set(_proofs(db_path)) == {""}
    listed = invoke("bounces", "ls", "--limit", "3").output
    assert listed.count("unverified") == 3
    shown = invoke("campaigns", "show", "1").output
    assert f"unverified reports: {MEMBERS}" in shown
    assert "hard 0" in shown
    person = invoke("subscribers", "show", "m7@example.org").output
    assert "UNVERIFIED" in person


def test_a_token_less_complaint_changes_nobody(
    outbox: Path, db_path: Path
) -> None:
    report = _pipe(db_path, samples.arf("m3@example.org"))
    assert report["unverified"] == 1
    with open_store(db_path) as store:
        _nobody_changed(store)


def test_a_dsn_with_a_tampered_token_changes_nobody(outbox: Path, db_path: Path) -> None:
    genuine = _return_path(outbox, "m5@example.org")
    local, _, domain = genuine.partition("@")
    flipped = local[:-1] + ("a" if local[-1] != "a" else "b")
    tampered = f"{flipped}@{domain}"
    letter = _sent_to(outbox, "m5@example.org").replace(
        genuine.encode(), tampered.encode()
    )
    # Nor may the letter's own signed Message-ID be kept: a forger has none of it.
    letter = b"\r\n".join(
        line for line in letter.split(b"\r\n") if not line.startswith(b"Message-ID:")
    )
    report = _pipe(db_path, _dsn_of(letter, "m5@example.org", to=tampered), tampered)
    assert report["unverified"] == 1
    with open_store(db_path) as store:
        _nobody_changed(store)


def test_a_genuine_verp_bounce_still_acts(outbox: Path, db_path: Path) -> None:
    verp = _return_path(outbox, "m8@example.org")
    assert verp.startswith("bounces+")
    letter = _sent_to(outbox, "m8@example.org")
    report = _pipe(db_path, _dsn_of(letter, "m8@example.org", to=verp), verp)
    assert report["unverified"] == 0 and report["events"] == 1
    with open_store(db_path) as store:
        row = store.one("SELECT status FROM subscribers WHERE email = 'm8@example.org'")
        assert row["status"] == "bounced"
        bounce = store.one("SELECT proof, campaign_id FROM bounces")
        assert (bounce["proof"], bounce["campaign_id"]) == ("verp", 1)


def test_a_genuine_complaint_quoting_our_message_id_still_acts(
    outbox: Path, db_path: Path
) -> None:
    letter = _sent_to(outbox, "m1@example.org")
    report = _pipe(db_path, _complaint_quoting(letter, "m1@example.org"), "abuse@example.com")
    assert report["unverified"] == 0
    with open_store(db_path) as store:
        row = store.one("SELECT status FROM subscribers WHERE email = 'm1@example.org'")
        assert row["status"] == "complained"
        left = store.all("SELECT status FROM subscriptions WHERE subscriber_id = 2")
        assert {r["status"] for r in left} == {"unsubscribed"}  # members and events
        assert store.one("SELECT value FROM suppressions")["value"] == "m1@example.org"
        assert store.one("SELECT proof FROM bounces")["proof"] == "message-id"


@pytest.mark.parametrize("outbox", [False], indirect=True)
def test_without_verp_an_address_recently_mailed_is_matched(
    outbox: Path, db_path: Path, invoke: Invoke
) -> None:
    report = _pipe(db_path, samples.postfix_dsn_user_unknown("m9@example.org"))
    assert report["unverified"] == 0
    assert invoke("subscribers", "add", "new@example.org", "--list", "events").exit_code == 0
    stranger = _pipe(db_path, samples.postfix_dsn_user_unknown("new@example.org").replace(
        b"<dsn-1@", b"<dsn-2@"))
    assert stranger["unverified"] == 1  # never sent a letter: proves nothing
    complaint = _pipe(db_path, samples.arf("never-subscribed@example.net"))
    assert complaint["unverified"] == 1
    with open_store(db_path) as store:
        rows = store.all("SELECT email, status FROM subscribers WHERE status != 'active'")
        assert [(r["email"], r["status"]) for r in rows] == [("m9@example.org", "bounced")]
        assert store.one("SELECT count(*) FROM suppressions")[0] == 0
    # The stranger named in the complaint can still join.
    joined = invoke("subscribers", "add", "never-subscribed@example.net", "--list", "events")
    assert joined.exit_code == 0, joined.output


def test_the_advertised_mailto_unsubscribe_works_with_the_default_configuration(
    outbox: Path, db_path: Path, invoke: Invoke
) -> None:
    letter = message_from_bytes(_sent_to(outbox, "m4@example.org"))
    mailto = str(letter["List-Unsubscribe"]).split("<mailto:", 1)[1].split("?", 1)[0]
    assert mailto.startswith("unsubscribe+") and mailto.endswith("@lists.example.org")
    request = (
        f"From: Member 4 <m4@example.org>\r\nTo: {mailto}\r\nSubject: unsubscribe\r\n"
        "Message-ID: <leave-4@example.org>\r\n\r\nunsubscribe\r\n"
    ).encode()
    report = _pipe(db_path, request, mailto)
    assert report["unsubscribes"] == 1
    with open_store(db_path) as store:
        row = store.one(
            "SELECT s.status FROM subscriptions s JOIN subscribers p ON p.id = s.subscriber_id "
            "WHERE p.email = 'm4@example.org'"
        )
        assert row["status"] == "unsubscribed"
    rows = json.loads(invoke("bounces", "ls", "--json").output)
    assert [(r["kind"], r["recipient"], r["proof"]) for r in rows] == [
        ("unsubscribe", "m4@example.org", "mailto")
    ]
    assert "left members" in rows[0]["diagnostic"] or "leave members" in rows[0]["diagnostic"]
    with open_store(db_path) as store:
        event = store.one("SELECT detail FROM events WHERE kind = 'unsubscribed'")
        assert json.loads(event["detail"])["campaign"] == 1  # the letter it came from
