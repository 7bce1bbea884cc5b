"""The lenient MIME reader under the bounce parser."""

from __future__ import annotations

from mailer.bounces import mime


def test_nested_boundary_that_extends_the_outer_one_is_not_confused() -> None:
    raw = (
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b'--B\r\nContent-Type: multipart/alternative; boundary="Bx"\r\n\r\n'
        b"--Bx\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--Bx--\r\n"
        b"--B\r\nContent-Type: text/plain\r\n\r\nsecond\r\n--B--\r\n"
    )
    assert mime.split(mime.load(raw)).notice == ["first", "second"]


def test_missing_closing_boundary_keeps_the_last_part() -> None:
    raw = b'Content-Type: multipart/mixed; boundary=Z\n\n--Z\n\nfirst\n--Z\n\nlast words\n'
    assert mime.split(mime.load(raw)).notice == ["first", "last words\n"]


def test_damaged_base64_and_unknown_charset_still_give_text() -> None:
    part = mime.load(
        b"Content-Type: text/plain; charset=x-unheard-of\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8g!!d29y*bGQ=\r\n"
    )
    assert mime.payload_text(part) == "hello world"


def test_encoded_words_are_decoded_and_broken_ones_left_alone() -> None:
    part = mime.load(b"Subject: =?utf-8?q?=C3=A9chec?= =?bogus?x?zz?=\r\n\r\n")
    assert mime.header(part, "subject").startswith("\u00e9chec")


def test_returned_original_is_read_for_its_headers_only() -> None:
    raw = (
        b'Content-Type: multipart/report; boundary="R"\r\n\r\n'
        b"--R\r\nContent-Type: message/rfc822\r\n\r\n"
        b"To: someone@example.org\r\nContent-Type: text/plain\r\n\r\nbody text\r\n--R--\r\n"
    )
    parts = mime.split(mime.load(raw))
    assert [mime.header(o, "to") for o in parts.original] == ["someone@example.org"]
    assert parts.notice == []


def test_html_only_notice_becomes_text() -> None:
    text = mime.html_to_text("<p>Hello&nbsp;<b>there</b></p><p>second</p>")
    assert [line for line in text.splitlines() if line] == ["Hello there", "second"]
