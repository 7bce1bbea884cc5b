"""Delivery against a real SMTP server that misbehaves: every recipient ends sent once or failed."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from mailer import clock, membership
from mailer.config import Config, load_config
from mailer.dispatch.run import RunResult, deliver
from mailer.errors import RelayFailed
from mailer.store import Store, subscriptions
from mailer.store.campaigns import create as create_campaign
from mailer.store.deliveries import counters
from mailer.store.lists import get_list
from mailer.store.models import Campaign
from tests.clocks import START, FakeClock
from tests.smtp_sink import LETTER, Faults, SmtpSink, populate, sink_environment


@pytest.fixture(params=[True, False], ids=["pipelining", "one-at-a-time"])
def start_sink(request: pytest.FixtureRequest) -> Iterator[Callable[..., SmtpSink]]:
    """Sinks that offer PIPELINING (the lean transaction) or not (aiosmtplib's calls)."""
    started: list[SmtpSink] = []

    def start(**faults: object) -> SmtpSink:
        faults.setdefault("pipelining", request.param)
        sink = SmtpSink(Faults(**faults))  # type: ignore[arg-type]
        sink.start()
        started.append(sink)
        return sink

    yield start
    for sink in started:
        sink.stop()


@pytest.fixture(autouse=True, params=["1", "2"], ids=["one-worker", "two-workers"])
def workers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every run here by one worker, and by two sharing the recipients (senders in this
    process: the fake clock's sleep cannot cross into another)."""
    monkeypatch.setenv("MAILER_SENDING_WORKERS", request.param)
    return str(request.param)


def config_for(db_path: Path, port: int, **extra: str) -> Config:
    workers = os.environ["MAILER_SENDING_WORKERS"]
    env = sink_environment(port, **{"MAILER_SENDING_WORKERS": workers, **extra})
    return load_config(env=env, db=db_path)


def new_campaign(store: Store, name: str = "members") -> Campaign:
    return create_campaign(
        store,
        lists=[get_list(store, name)],
        subject="Spring meeting",
        letter_path="spring.md",
        letter_source=LETTER,
    )


def run_until_done(
    config: Config, store: Store, campaign_id: int, fake: FakeClock, *, rounds: int = 40
) -> RunResult:
    """Resume, moving the clock past the longest backoff each time, until nothing is left."""
    result = deliver(config, store, campaign_id, sleep=fake.sleep)
    for _ in range(rounds):
        if result.pending == 0 and result.deferred == 0:
            return result
        fake.advance(config.sending.retry_max + 1)
        result = deliver(config, store, campaign_id, sleep=fake.sleep)
    raise AssertionError(f"campaign not finished after {rounds} rounds: {result}")


def test_clean_run_sends_each_recipient_once_with_queue_ids(
    db_path: Path, store: Store, start_sink: Callable[..., SmtpSink], fake_clock: FakeClock
) -> None:
    emails = populate(store, "members", 60)
    sink = start_sink()
    campaign = new_campaign(store)
    result = deliver(config_for(db_path, sink.port), store, campaign.id, sleep=fake_clock.sleep)
    assert (result.sent, result.deferred, result.failed, result.state) == (60, 0, 0, "done")
    assert sink.counts() == dict.fromkeys(emails, 1)
    assert 1 <= sink.sessions <= 4, "each of the K=4 connections carries many messages"
    queue_ids = {r[0] for r in store.all("SELECT queue_id FROM deliveries")}
    assert len(queue_ids) == 60 and all(q.startswith("Q") for q in queue_ids)


def test_random_temporary_failures_and_drops_end_with_everyone_sent_once(
    db_path: Path, store: Store, start_sink: Callable[..., SmtpSink], fake_clock: FakeClock
) -> None:
    emails = populate(store, "members", 150)
    sink = start_sink(temp_rate=0.15, close_rate=0.05, drop_rate=0.05, seed=7)
    config = config_for(db_path, sink.port)
    campaign = new_campaign(store)
    first = deliver(config, store, campaign.id, sleep=fake_clock.sleep)
    assert first.deferred > 0, "the faults should have deferred someone"
    result = run_until_done(config, store, campaign.id, fake_clock)
    assert result.sent == 150 and result.failed == 0
    assert sink.counts() == dict.fromkeys(emails, 1)


def test_deferred_recipients_wait_for_their_backoff(
    db_path: Path, store: Store, start_sink: Callable[..., SmtpSink], fake_clock: FakeClock
) -> None:
    populate(store, "members", 80)
    sink = start_sink(temp_rate=0.3, seed=3)
    config = config_for(db_path, sink.port, MAILER_SENDING_RETRY_FIRST="120")
    campaign = new_campaign(store)
    deliver(config, store, campaign.id, sleep=fake_clock.sleep)
    deferred = store.all(
        "SELECT subscriber_id, next_attempt_at FROM deliveries WHERE state = 'deferred'"
    )
    assert deferred
    assert {r[1] for r in deferred} == {clock.iso(START + timedelta(seconds=120))}
    accepted_before = len(sink.received)

    fake_clock.advance(119)
    early = deliver(config, store, campaign.id, sleep=fake_clock.sleep)
    assert len(sink.received) == accepted_before, "retried before the backoff ran out"
    assert early.deferred == len(deferred)

    fake_clock.advance(1)
    deliver(config, store, campaign.id, sleep=fake_clock.sleep)
    assert len(sink.received) > accepted_before
    second = store.all("SELECT attempts, next_attempt_at FROM deliveries WHERE state = 'deferred'")
    # The backoff doubles: a second deferral waits 240 s from the retry.
    assert all(
        r[0] == 2 and r[1] == clock.iso(START + timedelta(seconds=120 + 240)) for r in second
    )


def test_permanent_refusals_fail_with_their_code_and_become_bounce_events(
    db_path: Path, store: Store, start_sink: Callable[..., SmtpSink], fake_clock: FakeClock
) -> None:
    emails = populate(store, "members", 20)
    rejected = {emails[3], emails[11]}
    sink = start_sink(reject=rejected)
    campaign = new_campaign(store)
    result = deliver(config_for(db_path, sink.port), store, campaign.id, sleep=fake_clock.sleep)
    assert (result.sent, result.failed) == (18, 2)
    failed = store.all(
        "SELECT email, last_code, last_text FROM deliveries WHERE state = 'failed' ORDER BY email"
    )
    assert [(r[0], r[1]) for r in failed] == [(e, 550) for e in sorted(rejected)]
    assert all("User unknown" in r[2] for r in failed)
    bounces = store.all(
        "SELECT recipient, kind, status, source, campaign_id, subscriber_id FROM bounces "
        "ORDER BY recipient"
    )
    assert [(b[0], b[1], b[2], b[3], b[4]) for b in bounces] == [
        (e, "hard", "5.1.1", "smtp", campaign.id) for e in sorted(rejected)
    ]
    assert all(b[5] is not None for b in bounces)
    assert set(sink.counts()) == set(emails) - rejected


def test_a_stalled_server_times_out_and_the_recipients_are_retried(
    db_path: Path, store: Store, start_sink: Callable[..., SmtpSink], fake_clock: FakeClock
) -> None:
    emails = populate(store, "members", 30)
    sink = start_sink(stall=2)
    # A real timeout on a real socket: short, but long enough for a loaded machine's replies.
    config = config_for(db_path, sink.port, MAILER_SMTP_TIMEOUT="0.5")
    campaign = new_campaign(store)
    first = deliver(config, store, campaign.id, sleep=fake_clock.sleep)
    # The two stalled transactions time out; on a loaded machine another reply may too.
    assert first.deferred >= 2
    texts = [r[0] for r in store.all("SELECT last_text FROM deliveries WHERE state='deferred'")]
    assert len(texts) == first.deferred and all("timed out" in t for t in texts)
    run_until_done(config, store, campaign.id, fake_clock)
    assert sink.counts() == dict.fromkeys(emails, 1)


def test_a_recipient_deferred_very_many_times_is_deferred_again(
    db_path: Path, store: Store, start_sink: Callable[..., SmtpSink], fake_clock: FakeClock
) -> None:
    populate(store, "members", 1)
    sink = start_sink(temp_rate=1.0)
    campaign = new_campaign(store)
    store.conn.execute("UPDATE deliveries SET attempts = 5000")
    config = config_for(db_path, sink.port, MAILER_SENDING_RETRY_MAX="600")
    result = deliver(config, store, campaign.id, sleep=fake_clock.sleep)
    assert result.deferred == 1
    row = store.one("SELECT attempts, next_attempt_at FROM deliveries")
    assert (row[0], row[1]) == (5001, clock.iso(START + timedelta(seconds=600)))


def test_an_address_the_relay_cannot_take_fails_without_a_bounce_or_a_broken_connection(
    db_path: Path, store: Store, start_sink: Callable[..., SmtpSink], fake_clock: FakeClock
) -> None:
    from mailer.contacts.addresses import normalize_address
    from mailer.store.models import Consent


    emails = populate(store, "members", 3)
    membership.add(
        store,
        get_list(store, "members"),
        normalize_address("josé@example.com"),
        consent=Consent(method="test"),
        confirmed=True,
    )
    sink = start_sink(no_smtputf8=True)
    campaign = new_campaign(store)
    config = config_for(db_path, sink.port, MAILER_SMTP_CONNECTIONS="1")
    result = deliver(config, store, campaign.id, sleep=fake_clock.sleep)
    assert (result.sent, result.deferred, result.failed) == (3, 0, 1)
    text = store.one("SELECT last_text FROM deliveries WHERE email = 'josé@example.com'")[0]
    assert "SMTPUTF8" in text
    assert store.one("SELECT count(*) FROM bounces")[0] == 0
    assert store.one("SELECT status FROM subscribers WHERE id = 4")[0] == "active"
    assert sink.counts() == dict.fromkeys(emails, 1)
    assert sink.sessions == 1, "the connection carries on after the refusal"


def test_temporary_failures_expire_after_the_deadline(
    db_path: Path, store: Store, start_sink: Callable[..., SmtpSink], fake_clock: FakeClock
) -> None:
    populate(store, "members", 5)
    sink = start_sink(temp_rate=1.0)
    config = config_for(
        db_path, sink.port, MAILER_SENDING_RETRY_FIRST="60", MAILER_SENDING_DEADLINE="600"
    )
    campaign = new_campaign(store)
    result = run_until_done(config, store, campaign.id, fake_clock)
    assert result.failed == 5 and result.sent == 0
    rows = store.all("SELECT last_code, expired, attempts FROM deliveries")
    assert all(r[0] in (451, 452) and r[1] == 1 for r in rows)
    assert all(r[2] > 1 for r in rows)
    assert store.one("SELECT count(*) FROM bounces")[0] == 0


def test_a_relay_that_is_down_leaves_its_share_to_the_others(
    db_path: Path, store: Store, start_sink: Callable[..., SmtpSink], fake_clock: FakeClock
) -> None:
    emails = populate(store, "members", 40)
    down = start_sink(refuse_all=True)
    up = start_sink()
    toml = db_path.parent / "mailer.toml"
    toml.write_text(
        f"""
[smtp]
timeout = 10
[[smtp.relays]]
host = "127.0.0.1"
port = {down.port}
tls = "none"
weight = 5
[[smtp.relays]]
host = "127.0.0.1"
port = {up.port}
tls = "none"
weight = 1
""",
        encoding="utf-8",
    )
    config = load_config(toml, env={"MAILER_SECRET_KEY": "k"}, db=db_path)
    campaign = new_campaign(store)
    result = deliver(config, store, campaign.id, sleep=fake_clock.sleep)
    assert result.sent == 40
    assert up.counts() == dict.fromkeys(emails, 1)
    assert down.received == []


def test_no_reachable_relay_stops_the_run_naming_the_campaign_and_who_is_left(
    db_path: Path, store: Store, start_sink: Callable[..., SmtpSink], fake_clock: FakeClock
) -> None:
    populate(store, "members", 10)
    down = start_sink(refuse_all=True)
    campaign = new_campaign(store)
    with pytest.raises(RelayFailed) as raised:
        deliver(config_for(db_path, down.port), store, campaign.id, sleep=fake_clock.sleep)
    # Six tries for each connection, the waits between them doubling from 0.1 s.
    assert sorted(set(fake_clock.slept)) == [0.1, 0.2, 0.4, 0.8, 1.6]
    assert (raised.value.campaign_id, raised.value.left) == (campaign.id, 10)
    assert "10 recipients not yet sent" in str(raised.value)
    assert counters(store, campaign.id)["pending"] == 10
    up = start_sink()
    result = deliver(config_for(db_path, up.port), store, campaign.id, sleep=fake_clock.sleep)
    assert result.sent == 10


def test_connect_attempts_sets_how_many_tries_a_run_makes_before_it_stops(
    db_path: Path, store: Store, start_sink: Callable[..., SmtpSink], fake_clock: FakeClock
) -> None:
    populate(store, "members", 3)
    down = start_sink(refuse_all=True)
    config = config_for(
        db_path, down.port, MAILER_SMTP_CONNECT_ATTEMPTS="3", MAILER_SMTP_CONNECTIONS="1"
    )
    with pytest.raises(RelayFailed, match="no SMTP relay could be reached"):
        deliver(config, store, new_campaign(store).id, sleep=fake_clock.sleep)
    assert fake_clock.slept == [0.1, 0.2]


def test_a_run_that_must_stop_stops_with_more_recipients_than_the_queue_holds(
    db_path: Path, store: Store, start_sink: Callable[..., SmtpSink], fake_clock: FakeClock
) -> None:
    # K=4 workers and a queue of 16: the producer is waiting to queue more when they stop.
    populate(store, "members", 200)
    sink = start_sink(refuse_all=True)
    campaign = new_campaign(store)
    with pytest.raises(RelayFailed, match="200 recipients not yet sent"):
        deliver(config_for(db_path, sink.port), store, campaign.id, sleep=fake_clock.sleep)
    assert counters(store, campaign.id)["pending"] == 200


def test_verp_envelope_sender_names_campaign_and_subscriber(
    db_path: Path, store: Store, start_sink: Callable[..., SmtpSink], fake_clock: FakeClock
) -> None:
    from mailer.tokens import Signer, verp_token

    populate(store, "members", 3)
    sink = start_sink()
    config = config_for(db_path, sink.port, MAILER_BOUNCES_RETURN_PATH="bounces@example.org")
    campaign = new_campaign(store)
    deliver(config, store, campaign.id, sleep=fake_clock.sleep)
    signer = Signer("test-secret")
    for received in sink.received:
        token = verp_token(received.mail_from, "bounces@example.org")
        assert token is not None
        claim = signer.verify(token, "v")
        subscriber = store.one("SELECT id FROM subscribers WHERE email = ?", (received.rcpt_to,))
        assert (claim.integer(0), claim.integer(1)) == (campaign.id, subscriber[0])


def test_a_hard_refusal_reaches_the_bounce_policy(
    db_path: Path, store: Store, start_sink: Callable[..., SmtpSink], fake_clock: FakeClock
) -> None:
    pytest.importorskip("mailer.bounces.policy")
    emails = populate(store, "members", 3)
    sink = start_sink(reject={emails[1]})
    deliver(config_for(db_path, sink.port), store, new_campaign(store).id, sleep=fake_clock.sleep)
    statuses = dict(store.all("SELECT email, status FROM subscribers"))
    assert statuses == {emails[0]: "active", emails[1]: "bounced", emails[2]: "active"}
    kinds = [r[0] for r in store.all("SELECT kind FROM events WHERE subscriber_id = 2")]
    assert "bounce" in kinds


def test_a_refused_sender_pauses_the_campaign_and_blames_no_recipient(
    db_path: Path, store: Store, start_sink: Callable[..., SmtpSink], fake_clock: FakeClock
) -> None:
    # More than the queue holds (K=4 workers, 16 queued): the producer waits when they stop.
    populate(store, "members", 200)
    sink = start_sink(refuse_sender=True)
    campaign = new_campaign(store)
    result = deliver(config_for(db_path, sink.port), store, campaign.id, sleep=fake_clock.sleep)
    assert result.state == "paused"
    assert "refused the sender" in result.paused and "553" in result.paused
    assert counters(store, campaign.id)["pending"] == 200
    assert store.one("SELECT count(*) FROM bounces")[0] == 0
    assert store.one("SELECT count(*) FROM subscribers WHERE status != 'active'")[0] == 0


def test_who_unsubscribes_after_the_snapshot_is_not_mailed(
    db_path: Path, store: Store, start_sink: Callable[..., SmtpSink], fake_clock: FakeClock
) -> None:


    emails = populate(store, "members", 4)
    sink = start_sink()
    campaign = new_campaign(store)
    with store.transaction() as conn:
        subscriptions.leave(conn, 2, get_list(store, "members").id, method="web")
    result = deliver(config_for(db_path, sink.port), store, campaign.id, sleep=fake_clock.sleep)
    assert (result.sent, result.failed) == (3, 1)
    assert set(sink.counts()) == {emails[0], emails[2], emails[3]}
    text = store.one("SELECT last_text FROM deliveries WHERE subscriber_id = 2")[0]
    assert text.startswith("skipped: no longer subscribed")


def test_nobody_is_mailed_once_the_campaigns_list_is_removed(
    db_path: Path, store: Store, start_sink: Callable[..., SmtpSink], fake_clock: FakeClock
) -> None:
    from mailer.store.lists import remove_list

    populate(store, "members", 3)
    sink = start_sink()
    campaign = new_campaign(store)
    remove_list(store, "members")  # every subscription to it ends with it
    result = deliver(config_for(db_path, sink.port), store, campaign.id, sleep=fake_clock.sleep)
    assert (result.sent, result.failed, result.state) == (0, 3, "done")
    assert sink.received == []
    texts = {r[0] for r in store.all("SELECT last_text FROM deliveries")}
    assert texts == {"skipped: no longer subscribed (gone)"}


def test_a_relay_that_breaks_connections_rests_while_the_others_carry_on(
    db_path: Path, store: Store, start_sink: Callable[..., SmtpSink], fake_clock: FakeClock
) -> None:
    emails = populate(store, "members", 60)
    broken = start_sink(drop_rate=1.0)
    healthy = start_sink()
    toml = db_path.parent / "mailer.toml"
    toml.write_text(
        "[smtp]\ntimeout = 10\nconnections = 4\n"
        + "".join(
            f'[[smtp.relays]]\nhost = "127.0.0.1"\nport = {port}\ntls = "none"\n'
            for port in (broken.port, healthy.port)
        ),
        encoding="utf-8",
    )
    config = load_config(toml, env={"MAILER_SECRET_KEY": "k"}, db=db_path)
    campaign = new_campaign(store)
    first = deliver(config, store, campaign.id, sleep=fake_clock.sleep)
    assert first.sent + first.deferred == 60
    assert first.deferred < 20, "the broken relay should have been left alone"
    run_until_done(config, store, campaign.id, fake_clock)
    assert broken.received == []
    assert healthy.counts() == dict.fromkeys(emails, 1)
