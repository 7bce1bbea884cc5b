"""The lean SMTP transaction against a real server (aiosmtpd on port 0): every reply judged."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer.config import SmtpConfig, load_config
from mailer.dispatch.run import RunResult, deliver
from mailer.dispatch.transports.pipeline import Envelope, wire_body
from mailer.dispatch.transports.smtp import PipelinedChannel, SmtpChannel, SmtpTransport
from mailer.letters.mime import LineCachedQP, qp
from mailer.store import Store
from mailer.store.campaigns import create as create_campaign
from mailer.store.lists import get_list
from tests.clocks import FakeClock
from tests.smtp_sink import Faults, SmtpSink, populate, sink_environment

DOTTED = """---
subject: "Dots"
list: members
---

Dear {{ subscriber.name }},

.a line that starts with a dot, and one that is only a dot:

.

{{ "." * 80 }}
"""


@pytest.fixture
def sinks() -> Iterator[list[SmtpSink]]:
    started: list[SmtpSink] = []
    yield started
    for sink in started:
        sink.stop()


def start(sinks: list[SmtpSink], **faults: object) -> SmtpSink:
    sink = SmtpSink(Faults(**faults))  # type: ignore[arg-type]
    sink.start()
    sinks.append(sink)
    return sink


def states(store: Store) -> dict[str, tuple[str, int | None]]:
    rows = store.all("SELECT email, state, last_code FROM deliveries")
    return {r[0]: (r[1], r[2]) for r in rows}


def _deliver_dots(
    store: Store, db_path: Path, sink: SmtpSink, connections: str, fake_clock: FakeClock
) -> RunResult:
    """The dotted letter to the list ``members``, through ``sink`` with ``connections``."""
    env = sink_environment(sink.port, MAILER_SMTP_CONNECTIONS=connections)
    config = load_config(env=env, db=db_path)
    campaign = create_campaign(
        store, lists=[get_list(store, "members")], subject="Dots",
        letter_path="dots.md", letter_source=DOTTED,
    )
    return deliver(config, store, campaign.id, sleep=fake_clock.sleep)


@pytest.mark.parametrize("connections", ["1", "3"])
def test_each_reply_of_a_pipelined_run_counts_for_its_own_recipient(
    connections: str,
    db_path: Path,
    store: Store,
    sinks: list[SmtpSink],
    fake_clock: FakeClock,
) -> None:
    emails = populate(store, "members", 40)
    refused, busy, closing = emails[5], emails[17], emails[29]
    sink = start(sinks, reject={refused}, busy={busy}, close_at={closing})
    result = _deliver_dots(store, db_path, sink, connections, fake_clock)
    assert (result.sent, result.failed, result.deferred) == (37, 1, 2)
    found = states(store)
    assert found[refused] == ("failed", 550)
    assert found[busy] == ("deferred", 452)
    assert found[closing] == ("deferred", 421)
    others = set(emails) - {refused, busy, closing}
    assert all(found[e] == ("sent", 250) for e in others)
    assert sink.counts() == dict.fromkeys(others, 1)
    assert sink.sessions >= 2, "the 421 closed a connection, and another was opened"


def test_each_body_carries_the_next_envelope_and_every_outcome_stays_its_own(
    db_path: Path, store: Store, sinks: list[SmtpSink], fake_clock: FakeClock
) -> None:
    emails = populate(store, "members", 30)
    refused, dropped = emails[7], emails[19]  # refused after its body; dropped after it
    sink = start(sinks, refuse_content={refused}, drop_after_body={dropped})
    result = _deliver_dots(store, db_path, sink, "1", fake_clock)

    assert (result.sent, result.failed, result.deferred) == (28, 1, 1)
    found = states(store)
    assert found[refused] == ("failed", 554)
    assert found[dropped][0] == "deferred"  # the next one, announced behind it, went later
    assert sink.counts() == dict.fromkeys(set(emails) - {refused, dropped}, 1)
    assert sink.sessions == 2
    chained = sink.handler.chained
    assert len(chained) == 30
    # Behind nearly every body the next envelope waited (the queue may have been empty
    # for a moment); behind the run's last one, nothing.
    assert sum(chained) >= 25 and not chained[-1]


def test_a_letter_with_dots_at_line_starts_arrives_as_written(
    db_path: Path, store: Store, sinks: list[SmtpSink], fake_clock: FakeClock
) -> None:
    populate(store, "members", 3)
    sink = start(sinks)
    config = load_config(env=sink_environment(sink.port), db=db_path)
    campaign = create_campaign(
        store, lists=[get_list(store, "members")], subject="Dots",
        letter_path="dots.md", letter_source=DOTTED,
    )
    deliver(config, store, campaign.id, sleep=fake_clock.sleep)
    received = sink.received
    assert len(received) == 3
    for one in received:
        assert b"\r\n." not in one.data, "no line of mailer's messages starts with a dot"
        message = email.message_from_bytes(one.data, policy=email.policy.default)
        text = message.get_body(("plain",))
        assert text is not None
        content = text.get_content().replace("\r\n", "\n")
        assert ".a line that starts with a dot" in content
        assert "\n.\n" in content
        assert "." * 80 in content.replace("\n", "")


def test_a_message_not_made_by_mailer_is_stuffed_on_the_way(sinks: list[SmtpSink]) -> None:
    sink = start(sinks)
    raw = b"Subject: x\n\n.one\r\n..two\n.\nend"

    async def go() -> int:
        transport = SmtpTransport(
            SmtpConfig(host="127.0.0.1", port=sink.port, tls="none", timeout=5)
        )
        channel = await transport.open()
        assert isinstance(channel, PipelinedChannel)
        reply = await channel.send("s@example.org", "r@example.com", raw, False)
        await channel.close()
        return reply.code

    assert asyncio.run(go()) == 250
    (got,) = sink.received
    assert got.data.replace(b"\r\n", b"\n").rstrip(b"\n") == raw.replace(b"\r\n", b"\n")


@pytest.mark.parametrize(
    ("offered", "wanted", "kind"),
    [
        (True, True, PipelinedChannel),
        (True, False, SmtpChannel),
        (False, True, SmtpChannel),
    ],
)
def test_the_lean_transaction_only_where_offered_and_wanted(
    offered: bool, wanted: bool, kind: type, sinks: list[SmtpSink]
) -> None:
    sink = start(sinks, pipelining=offered, reject={"gone@example.com"})

    async def go() -> list[int]:
        config = SmtpConfig(
            host="127.0.0.1", port=sink.port, tls="none", timeout=5, pipelining=wanted
        )
        channel = await SmtpTransport(config).open()
        assert isinstance(channel, kind)
        codes = []
        for rcpt in ("a@example.com", "gone@example.com", "b@example.com"):
            reply = await channel.send("s@example.org", rcpt, b"Subject: x\r\n\r\nhi\r\n", False)
            codes.append(reply.code)
        await channel.close()
        return codes

    assert asyncio.run(go()) == [250, 550, 250]
    assert sorted(sink.counts()) == ["a@example.com", "b@example.com"]


def test_the_pipelining_setting_is_read_from_the_environment() -> None:
    assert load_config(env={}).smtp.pipelining is True
    assert load_config(env={"MAILER_SMTP_PIPELINING": "false"}).smtp.pipelining is False


def test_envelope_commands_go_in_one_piece_and_refuse_line_breaks() -> None:
    envelope = Envelope("s@example.org", ("a@example.com", "b@example.com"))
    assert envelope.commands() == (
        b"MAIL FROM:<s@example.org>\r\nRCPT TO:<a@example.com>\r\n"
        b"RCPT TO:<b@example.com>\r\nDATA\r\n"
    )
    assert Envelope("s@example.org", ("é@example.com",), True).commands().startswith(
        b"MAIL FROM:<s@example.org> SMTPUTF8\r\n"
    )
    with pytest.raises(ValueError, match="cannot stand"):
        Envelope("s@example.org", ("a@example.com>\r\nRCPT TO:<b@example.com",)).commands()
    assert wire_body(b"a\r\n", stuffed=True) == b"a\r\n.\r\n"
    assert wire_body(b".a\nb", stuffed=False) == b"..a\r\nb\r\n.\r\n"


@given(st.text(alphabet=st.sampled_from(list(". a=\té\n")), max_size=400))
def test_quoted_printable_never_starts_a_line_with_a_dot_and_reads_back(text: str) -> None:
    """Nor does it hold a tab, a run of spaces or a space ending a line: a letter's body is
    in DKIM's relaxed form as it is written (``OutgoingMessage.relaxed``)."""
    import quopri

    encoded = qp(text)
    assert encoded == LineCachedQP().encode(text)
    assert not encoded.startswith(b".") and b"\n." not in encoded
    assert b"\t" not in encoded and b"  " not in encoded
    assert not encoded.endswith(b" ") and b" \r\n" not in encoded
    assert all(len(line) <= 76 for line in encoded.split(b"\r\n"))
    assert quopri.decodestring(encoded).decode("utf-8") == text.replace("\n", "\r\n")
