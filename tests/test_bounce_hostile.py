"""Hostile input: shapes whose naive reading takes time or memory out of all proportion.

Each message here is small enough for the parser to take whole, and built so
that a pattern or loop that rescans what it has already read would take
minutes; the parser must read each one and still answer. They call
``read_bounce``, the reader without ``parse_message``'s catch-all, so that an
input that makes the reader raise fails here instead of passing as ``unknown``.
"""

from __future__ import annotations

from mailer.bounces import dsn, mime
from mailer.bounces.notice import cut_original
from mailer.bounces.parse import read_bounce

_HEAD = (
    b"From: MAILER-DAEMON@mx.example.net\r\nTo: news@example.com\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\n"
)


def test_html_full_of_unclosed_tags_is_read() -> None:
    for junk in ("<p" * 200_000, "<br" * 200_000, "<script>" * 50_000, "<style" * 50_000):
        text = mime.html_to_text("<p>user unknown</p>" + junk)
        assert "user unknown" in text


def test_html_script_and_style_are_dropped_and_the_rest_kept() -> None:
    text = mime.html_to_text(
        "<style>p { color: red }</style><p>one</p><SCRIPT type=x>a < b</script >two"
    )
    assert [line.strip() for line in text.splitlines() if line.strip()] == ["one", "two"]


def test_html_bounce_of_unclosed_tags_gives_its_recipient() -> None:
    raw = (
        _HEAD + b"Content-Type: text/html\r\n\r\n"
        b"<p>&lt;gone@example.org&gt;: 550 5.1.1 user unknown</p>" + b"<p" * 300_000
    )
    event = read_bounce(raw).events[0]
    assert (event.recipient, event.kind) == ("gone@example.org", "hard")


def test_a_header_of_many_thousand_encoded_words_is_read() -> None:
    subject = b"=?utf-8?q?=C3=A9?= " * 100_000
    part = mime.load(b"Subject: " + subject + b"\r\n\r\nbody\r\n")
    assert mime.header(part, "subject").startswith("\u00e9")


def test_a_report_field_folded_over_many_lines_is_read() -> None:
    text = "Final-Recipient: rfc822; gone@example.org\n" + " more\n" * 300_000 + "Action: failed\n"
    [block] = dsn.field_blocks(text)
    assert block["final-recipient"].startswith("rfc822; gone@example.org more")
    assert block["action"] == "failed"


def test_a_long_run_of_folded_header_lines_in_a_notice_is_read() -> None:
    notice = "<gone@example.org>: user unknown\n" + " Received: x\n" * 100_000
    assert cut_original(notice).startswith("<gone@example.org>")


def test_base64_of_mostly_junk_decodes_what_is_there() -> None:
    part = mime.load(
        b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=" + b"!@#$%^&*" * 250_000
    )
    assert mime.body_bytes(part) == b"hello"


def _report(recipients: int, notice: bytes) -> bytes:
    blocks = b"".join(
        b"Final-Recipient: rfc822; u%d@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n" % i
        for i in range(recipients)
    )
    return (
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n'
        + _HEAD + b"\r\n--R\r\nContent-Type: text/plain\r\n\r\n" + notice
        + b"\r\n--R\r\nContent-Type: message/delivery-status\r\n\r\n" + blocks + b"--R--\r\n"
    )


def test_a_report_whose_notice_is_one_line_of_thousands_of_addresses_is_read() -> None:
    raw = _report(40, b"copies went to: " + b"someone@example.net " * 15_000)
    events = read_bounce(raw).events
    assert [e.recipient for e in events] == [f"u{i}@example.org" for i in range(40)]
    assert {e.kind for e in events} == {"hard"}


def test_deeply_nested_json_in_a_notice_keeps_the_message_id() -> None:
    raw = (
        _HEAD + b"Message-ID: <deep@mx.example.net>\r\n\r\n"
        b'{"notificationType": "Bounce", "bounce": ' + b"[" * 100_000
    )
    parsed = read_bounce(raw)
    assert parsed.message_id == "<deep@mx.example.net>"
    assert [e.kind for e in parsed.events] == ["unknown"]


def test_quotes_and_dots_that_never_close_into_an_address_are_read_in_passing() -> None:
    for junk in (b'"' * 300_000, b'"' + b"a" * 300_000, b"a." * 150_000, b'"a' * 150_000):
        raw = _HEAD + b"\r\n<gone@example.org>: 550 5.1.1 user unknown\r\n" + junk + b"@\r\n"
        event = read_bounce(raw).events[0]
        assert (event.recipient, event.kind) == ("gone@example.org", "hard")
