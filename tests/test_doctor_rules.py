"""The checks that need no DNS: what ``mailer send`` warns about before asking, and the
complaint rate the bulk-sender summary reads from the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailer.config import load_config
from mailer.doctor.findings import Facts, Status
from mailer.doctor.preflight import preflight
from mailer.doctor.rules import bulk_sender_rules
from mailer.store import Store
from mailer.store.bounces import NewBounce, insert
from mailer.store.models import Proof
from tests.clocks import FakeClock
from tests.conftest import Invoke
from tests.dkim_helpers import key_file, new_key
from tests.smtp_sink import populate

CONFIGURED = {
    "MAILER_SENDER_FROM_ADDRESS": "News <news@example.org>",
    "MAILER_BOUNCES_RETURN_PATH": "bounces@example.org",
    "MAILER_BOUNCES_UNSUBSCRIBE_ADDRESS": "unsubscribe@example.org",
    "MAILER_WEB_BASE_URL": "https://lists.example.org",
    "MAILER_DKIM_DOMAIN": "example.org",
    "MAILER_DKIM_SELECTOR": "s2026",
}


def test_send_warns_about_the_setup_before_it_asks(
    invoke: Invoke, store: Store, spring_letter: Path
) -> None:
    populate(store, "members", 2)
    result = invoke("send", str(spring_letter), "--list", "members")
    assert result.exit_code == 2  # off a terminal, without --yes: nothing sent
    warnings = [line for line in result.output.splitlines() if line.startswith("warning: ")]
    assert [w.split(":")[1].strip() for w in warnings] == [
        "DKIM", "return path", "unsubscribe address", "web.base_url",
    ]
    assert "http://127.0.0.1:8025 is not HTTPS" in warnings[3]
    assert "  fix: run `mailer dkim keygen`" in result.output
    assert result.output.index("warning: DKIM") < result.output.index("not on a terminal")


def test_send_says_nothing_of_a_setup_in_order(
    invoke: Invoke, store: Store, spring_letter: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "keys").mkdir()
    path = key_file(tmp_path / "keys", new_key("rsa-sha256", "s2026"))
    for name, value in {**CONFIGURED, "MAILER_DKIM_KEY_FILE": str(path)}.items():
        monkeypatch.setenv(name, value)
    populate(store, "members", 2)
    result = invoke("send", str(spring_letter), "--list", "members", "--yes")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output


@pytest.mark.parametrize(
    ("provider", "setting", "value"),
    [("Amazon SES", "MAILER_WEBHOOKS_SES_TOPIC_ARN", "arn:aws:sns:eu-west-1:123456789012:b"),
     ("Postmark", "MAILER_WEBHOOKS_POSTMARK_PASSWORD", "secret"),
     ("Mailgun", "MAILER_WEBHOOKS_MAILGUN_KEY", "key"),
     ("SendGrid", "MAILER_WEBHOOKS_SENDGRID_PUBLIC_KEY", "MFkw")],
)
def test_with_a_providers_reports_no_return_path_is_wanted(
    provider: str, setting: str, value: str
) -> None:
    env = {**CONFIGURED, "MAILER_DKIM_KEY_FILE": "k", "MAILER_BOUNCES_RETURN_PATH": ""}
    [alone] = [f for f in preflight(load_config(env=env)) if f.check == "return path"]
    assert alone.status is Status.WARN
    [found] = [f for f in preflight(load_config(env={**env, setting: value}))
               if f.check == "return path"]
    assert found.status is Status.PASS
    assert found.found.startswith(f"{provider} sends under its own envelope sender")
    ours = load_config(env={**env, setting: value, "MAILER_BOUNCES_RETURN_PATH": "b@example.org"})
    [kept] = [f for f in preflight(ours) if f.check == "return path"]
    assert kept.found.startswith("bounces go to b@example.org")  # our return path: our envelope


def test_a_public_plain_http_address_fails_the_preflight() -> None:
    config = load_config(env={**CONFIGURED, "MAILER_DKIM_KEY_FILE": "k",
                              "MAILER_WEB_BASE_URL": "http://lists.example.org"})
    [web] = [f for f in preflight(config) if f.check == "web.base_url"]
    assert (web.status, web.found) == (Status.FAIL, "http://lists.example.org is not HTTPS")


def _complaint_rule(store: Store) -> tuple[Status, str]:
    rules = bulk_sender_rules(load_config(env={}), Facts(), store)
    [rule] = [r for r in rules if r.rule.startswith("spam complaints")]
    return rule.status, rule.why


def _complain(store: Store, campaign_id: int, email: str, proof: Proof = Proof.VERP) -> None:
    with store.transaction() as conn:
        insert(conn, NewBounce(
            message_id=f"<{email}>", recipient=email, kind="complaint", status="",
            reason="abuse", diagnostic="", source="test", subscriber_id=None,
            campaign_id=campaign_id, proof=proof,
        ))


def test_the_complaint_rate_is_counted_over_thirty_days(
    invoke: Invoke, store: Store, spring_letter: Path, fake_clock: FakeClock
) -> None:
    assert _complaint_rule(store) == (Status.UNKNOWN, "nothing sent in 30 days")
    emails = populate(store, "members", 20)
    sent = invoke("send", str(spring_letter), "--list", "members", "--yes", "--json")
    assert sent.exit_code == 0, sent.output
    campaign = json.loads(sent.stdout)["campaign"]
    status, why = _complaint_rule(store)
    assert status is Status.PASS and why.startswith("0 of 20 letters in 30 days (0.00%)")
    _complain(store, campaign, emails[0])
    status, why = _complaint_rule(store)
    assert status is Status.FAIL and why.startswith("1 of 20 letters in 30 days (5.00%)")
    _complain(store, campaign, emails[1], Proof.PROVIDER)  # a provider's report counts too
    _complain(store, campaign, emails[2], Proof.NONE)  # one that proves nothing does not
    status, why = _complaint_rule(store)
    assert status is Status.FAIL and why.startswith("2 of 20 letters in 30 days (10.00%)")
    fake_clock.advance(days=31)
    assert _complaint_rule(store) == (Status.UNKNOWN, "nothing sent in 30 days")


def test_without_a_database_the_complaint_rate_cannot_be_known() -> None:
    rules = bulk_sender_rules(load_config(env={}), Facts(), None)
    assert rules[-1].status is Status.UNKNOWN
