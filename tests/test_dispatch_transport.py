"""Transports and rate limits on their own: the outbox, relay settings, token buckets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mailer.config import RelayConfig, SmtpConfig
from mailer.dispatch.ratelimit import RateLimits, TokenBucket
from mailer.dispatch.transports.base import queue_id_of
from mailer.dispatch.transports.outbox import OutboxTransport
from mailer.dispatch.transports.smtp import SmtpTransport, is_loopback, relays_of
from mailer.errors import ConfigError, TransportError
from tests.clocks import FakeClock
from tests.smtp_sink import Faults, SmtpSink


def test_outbox_writes_each_message_whole_into_new(tmp_path: Path) -> None:
    async def go() -> None:
        channel = await OutboxTransport(tmp_path / "box").open()
        reply = await channel.send(
            "b@example.org", "r@example.com", b"Subject: x\r\n\r\nhi\r\n", False
        )
        assert reply.accepted and reply.queue_id

    asyncio.run(go())
    (message,) = list((tmp_path / "box" / "new").iterdir())
    assert message.read_bytes() == (
        b"Return-Path: <b@example.org>\r\nDelivered-To: r@example.com\r\nSubject: x\r\n\r\nhi\r\n"
    )
    assert list((tmp_path / "box" / "tmp").iterdir()) == []


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("10.0.0.1", False),
        ("relay.example.org", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_relay_settings_are_checked() -> None:
    assert relays_of(SmtpConfig(host="relay.example.org")) == (
        RelayConfig(host="relay.example.org", port=587, tls="starttls"),
    )
    with pytest.raises(ConfigError, match="loopback"):
        relays_of(SmtpConfig(host="relay.example.org", tls="none"))
    with pytest.raises(ConfigError, match="weight"):
        relays_of(SmtpConfig(relays=(RelayConfig(host="a.example", weight=0),)))


def test_queue_ids_are_read_from_the_reply() -> None:
    assert queue_id_of("2.0.0 Ok: queued as 4XyZ12") == "4XyZ12"
    assert queue_id_of("2.0.0 Ok") == ""


def test_an_smtp_channel_is_reused_and_refusals_do_not_break_it() -> None:
    sink = SmtpSink(Faults(reject={"gone@example.com"}))
    sink.start()
    try:

        async def go() -> list[int]:
            transport = SmtpTransport(
                SmtpConfig(host="127.0.0.1", port=sink.port, tls="none", timeout=5)
            )
            channel = await transport.open()
            codes = []
            for rcpt in ("a@example.com", "gone@example.com", "b@example.com"):
                reply = await channel.send(
                    "s@example.org", rcpt, b"Subject: x\r\n\r\nhi\r\n", False
                )
                codes.append(reply.code)
            await channel.close()
            return codes

        assert asyncio.run(go()) == [250, 550, 250]
        assert sorted(sink.counts()) == ["a@example.com", "b@example.com"]
    finally:
        sink.stop()


def test_a_closed_port_is_a_transport_error() -> None:
    sink = SmtpSink(Faults())
    sink.start()
    port = sink.port
    sink.stop()

    async def go() -> None:
        await SmtpTransport(SmtpConfig(host="127.0.0.1", port=port, tls="none", timeout=2)).open()

    with pytest.raises(TransportError, match="no SMTP relay could be reached"):
        asyncio.run(go())


def test_token_bucket_waits_for_its_refill() -> None:
    fake = FakeClock()
    bucket = TokenBucket(rate=10, burst=2, clock=fake.monotonic)
    assert [bucket.delay(), bucket.delay()] == [0.0, 0.0]
    assert bucket.delay() == pytest.approx(0.1)
    assert bucket.delay() == pytest.approx(0.2)
    fake.advance(1.0)
    assert bucket.delay() == 0.0
    assert TokenBucket(rate=0).delay() == 0.0


def test_domain_limits_are_kept_apart() -> None:
    limits = RateLimits(rate=0, domain_rate=1, clock=FakeClock().monotonic)
    waits = [limits.delay(rcpt) for rcpt in ("a@one.example", "b@two.example", "c@ONE.example")]
    assert waits == [0.0, 0.0, pytest.approx(1.0)]


def test_starttls_is_required_not_merely_tried() -> None:
    # A relay (or someone in the middle) that does not offer STARTTLS gets nothing in clear.
    sink = SmtpSink(Faults())
    sink.start()
    try:

        async def go() -> None:
            await SmtpTransport(
                SmtpConfig(host="127.0.0.1", port=sink.port, tls="starttls", timeout=2)
            ).open()

        with pytest.raises(TransportError, match="STARTTLS"):
            asyncio.run(go())
        assert sink.received == []
    finally:
        sink.stop()
