"""The bounce policy, with a fake clock: hard, complaint, soft scoring, decay, threshold."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mailer.bounces.ingest import ingest
from mailer.bounces.sources import Incoming
from mailer.config import BouncesConfig, Config
from mailer.store import Store
from mailer.store.people import describe
from mailer.store.subscribers import find_subscriber
from tests import bounce_samples as samples
from tests.clocks import FakeClock
from tests.conftest import Invoke, MailList


@pytest.fixture
def members(invoke: Invoke, fake_clock: FakeClock, mail_list: MailList) -> list[str]:
    """Two lists; alice on both, bob on one; both were sent a letter just now."""
    for args in (
        ("lists", "create", "news"),
        ("lists", "create", "events"),
        ("subscribers", "add", "alice@example.org", "--list", "news"),
        ("subscribers", "add", "alice@example.org", "--list", "events"),
        ("subscribers", "add", "bob@example.org", "--list", "news"),
    ):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
    mail_list("news")
    return ["alice@example.org", "bob@example.org"]


CONFIG = Config(bounces=BouncesConfig(soft_threshold=3, decay_days=7))
Ingest = Callable[[bytes], None]


@pytest.fixture
def feed(store: Store, members: list[str], fake_clock: FakeClock) -> Ingest:
    def run(raw: bytes) -> None:
        ingest(store, [Incoming(raw=raw, source="test")], CONFIG)

    return run


_counter = iter(range(10**6))


def soft_bounce(address: str = "alice@example.org") -> bytes:
    """A mailbox-full report with a Message-ID of its own."""
    return samples.dsn(
        [(address, "failed", "5.2.2", "552 5.2.2 mailbox full")],
        message_id=f"<soft-{next(_counter)}@mx.example.org>",
    )


def status(store: Store, email: str) -> tuple[str, int]:
    found = find_subscriber(store, email)
    assert found is not None
    return found.status, found.bounce_score


def test_hard_bounce_marks_the_subscriber_bounced(store: Store, feed: Ingest) -> None:
    feed(samples.postfix_dsn_user_unknown("alice@example.org"))
    assert status(store, "alice@example.org") == ("bounced", 0)
    assert status(store, "bob@example.org") == ("active", 0)
    history = describe(store, "alice@example.org").history
    assert [h.kind for h in history[-2:]] == ["bounce", "status"]
    assert history[-1].detail["to"] == "bounced"


def test_complaint_unsubscribes_from_every_list_and_suppresses(
    store: Store, feed: Ingest
) -> None:
    feed(samples.arf("alice@example.org"))
    detail = describe(store, "alice@example.org")
    assert detail.status == "complained"
    assert {s.status for s in detail.subscriptions} == {"unsubscribed"}
    assert len(detail.subscriptions) == 2
    row = store.one("SELECT reason FROM suppressions WHERE value = 'alice@example.org'")
    assert row is not None and row["reason"] == "complaint"


def test_complaint_about_an_unknown_address_suppresses_nobody(
    store: Store, feed: Ingest, invoke: Invoke
) -> None:
    feed(samples.arf("stranger@example.net"))
    assert store.one("SELECT 1 FROM suppressions") is None
    # ... so that a stranger named in a forged complaint can still join later.
    assert invoke("subscribers", "add", "stranger@example.net", "--list", "news").exit_code == 0


def test_soft_bounces_score_at_most_once_a_day(
    store: Store, feed: Ingest, fake_clock: FakeClock
) -> None:
    feed(soft_bounce())
    fake_clock.advance(hours=3)
    feed(soft_bounce())
    assert status(store, "alice@example.org") == ("active", 1)
    fake_clock.advance(days=1)
    feed(soft_bounce())
    assert status(store, "alice@example.org") == ("active", 2)
    assert store.one("SELECT count(*) AS n FROM bounces")["n"] == 3  # all stored


def test_soft_score_falls_back_to_zero_after_a_quiet_period(
    store: Store, feed: Ingest, fake_clock: FakeClock
) -> None:
    feed(soft_bounce())
    fake_clock.advance(days=1)
    feed(soft_bounce())
    assert status(store, "alice@example.org") == ("active", 2)
    fake_clock.advance(days=8)
    feed(soft_bounce())
    assert status(store, "alice@example.org") == ("active", 1)


def test_quiet_scores_decay_when_any_ingest_runs(
    store: Store, feed: Ingest, fake_clock: FakeClock
) -> None:
    feed(soft_bounce("bob@example.org"))
    fake_clock.advance(days=7, seconds=1)
    feed(samples.vacation())
    assert status(store, "bob@example.org") == ("active", 0)


def test_soft_threshold_disables_the_subscriber(
    store: Store, feed: Ingest, fake_clock: FakeClock
) -> None:
    for _ in range(3):
        feed(soft_bounce())
        fake_clock.advance(days=1)
    assert status(store, "alice@example.org") == ("bounced", 3)


def test_delay_and_auto_reply_are_stored_but_change_nothing(
    store: Store, feed: Ingest
) -> None:
    feed(samples.exim_delay("bob@example.org"))
    feed(samples.vacation("bob@example.org"))
    assert status(store, "bob@example.org") == ("active", 0)
    kinds = [r["kind"] for r in store.all("SELECT kind FROM bounces ORDER BY id")]
    assert kinds == ["delayed", "auto-reply"]


def test_ingesting_the_same_bounce_twice_is_a_no_op(store: Store, feed: Ingest) -> None:
    raw = soft_bounce()
    feed(raw)
    events_before = store.one("SELECT count(*) AS n FROM events")["n"]
    feed(raw)
    assert store.one("SELECT count(*) AS n FROM bounces")["n"] == 1
    assert store.one("SELECT count(*) AS n FROM events")["n"] == events_before
    assert status(store, "alice@example.org") == ("active", 1)


def test_a_message_without_message_id_is_recognised_by_its_content(
    store: Store, feed: Ingest
) -> None:
    raw = samples.postfix_plain("bob@example.org").replace(
        b"Message-ID: <postfix-plain@mx.example.com>\r\n", b""
    )
    feed(raw)
    feed(raw)
    assert store.one("SELECT count(*) AS n FROM bounces")["n"] == 1


def test_a_message_without_message_id_is_recognised_whatever_way_it_came(
    store: Store, feed: Ingest
) -> None:
    raw = samples.postfix_plain("bob@example.org").replace(
        b"Message-ID: <postfix-plain@mx.example.com>\r\n", b""
    )
    feed(raw.replace(b"\r\n", b"\n"))  # as a Maildir file keeps it
    # As an MTA pipes it in: an mbox From line, its own delivery headers, CRLF.
    feed(
        b"From MAILER-DAEMON  Mon Nov  2 09:00:00 2026\r\n"
        b"Return-Path: <>\r\nX-Original-To: bounces@example.com\r\n"
        b"Delivered-To: bounces@example.com\r\n"
        b"Received: by lists.example.com (Postfix) id 1; Mon, 2 Nov 2026 09:00:00 +0000\r\n"
        + raw
    )
    assert store.one("SELECT count(*) AS n FROM bounces")["n"] == 1
    different = raw.replace(b"bob@example.org", b"alice@example.org")
    feed(different)
    assert store.one("SELECT count(*) AS n FROM bounces")["n"] == 2


def test_verp_token_names_the_subscriber_even_at_another_address(
    store: Store, members: list[str], fake_clock: FakeClock
) -> None:
    from mailer import tokens
    from mailer.config import WebConfig

    alice = find_subscriber(store, "alice@example.org")
    assert alice is not None
    signer = tokens.Signer("s3cret")
    verp = tokens.verp_address("bounces@example.com", signer.verp(99, alice.id))
    config = Config(
        bounces=BouncesConfig(return_path="bounces@example.com"),
        web=WebConfig(secret_key="s3cret"),
    )
    raw = samples.verp_dsn(verp, recipient="alias-of-alice@example.net")
    ingest(store, [Incoming(raw=raw, source="test")], config)
    assert status(store, "alice@example.org")[0] == "bounced"
    row = store.one("SELECT subscriber_id, campaign_id FROM bounces")
    assert (row["subscriber_id"], row["campaign_id"]) == (alice.id, None)  # no campaign 99



def test_a_bounce_with_a_forged_verp_token_is_stored_but_changes_nobody(
    store: Store, members: list[str], fake_clock: FakeClock
) -> None:
    from mailer import tokens
    from mailer.config import WebConfig

    forged = tokens.Signer("forger").verp(1, 1)
    verp = tokens.verp_address("bounces@example.com", forged)
    config = Config(
        bounces=BouncesConfig(return_path="bounces@example.com"),
        web=WebConfig(secret_key="s3cret"),
    )
    raw = samples.verp_dsn(verp, recipient="alice@example.org")
    ingest(store, [Incoming(raw=raw, source="test")], config)
    assert status(store, "alice@example.org") == ("active", 0)
    row = store.one("SELECT recipient, subscriber_id FROM bounces")
    assert (row["recipient"], row["subscriber_id"]) == ("alice@example.org", None)


def test_a_not_spam_report_unsubscribes_nobody(store: Store, feed: Ingest) -> None:
    feed(samples.arf("alice@example.org").replace(b"Feedback-Type: abuse",
                                                  b"Feedback-Type: not-spam"))
    stored = store.one("SELECT kind, reason FROM bounces")
    assert stored is not None and (stored["kind"], stored["reason"]) == ("complaint", "notspam")
    detail = describe(store, "alice@example.org")
    assert detail.status == "active"
    assert {s.status for s in detail.subscriptions} == {"confirmed"}
    assert store.one("SELECT 1 FROM suppressions") is None


def sender_refused(address: str = "alice@example.org") -> bytes:
    """A refusal of our sender at MAIL FROM, in words that would otherwise be fatal."""
    return samples.dsn(
        [(address, "failed", "5.1.1", "550 5.1.1 Unknown user")],
        human=f"<{address}>: host mx.example.org[192.0.2.10] said: 550 5.1.1 Unknown user "
        "(in reply to MAIL FROM command)",
        message_id=f"<refused-{next(_counter)}@mx.example.org>",
    )


def test_a_refusal_of_our_sender_is_recorded_but_never_scored_nor_disabling(
    store: Store, feed: Ingest, fake_clock: FakeClock
) -> None:
    for _ in range(5):
        feed(sender_refused())
        fake_clock.advance(days=1)
    assert status(store, "alice@example.org") == ("active", 0)
    rows = store.all("SELECT kind, reason FROM bounces")
    assert {(r["kind"], r["reason"]) for r in rows} == {("soft", "rejected")}
    history = describe(store, "alice@example.org").history
    assert [h.detail["reason"] for h in history if h.kind == "bounce"] == ["rejected"] * 5
