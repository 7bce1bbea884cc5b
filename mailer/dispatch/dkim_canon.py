"""DKIM's relaxed canonical forms (RFC 6376 3.4.2, 3.4.4), made as seldom as a letter allows.

Relaxed, for header and body:

- a header field's name in lower case, unfolded, runs of spaces and tabs
  made one space, and no space at the end of the value or around the colon;
- in the body, runs of spaces and tabs made one space, none at the end of a
  line, empty lines at the end dropped, and a body that is not empty ending
  in CRLF.

Why not simply compute them: finding the white space to reduce means
searching the whole body twice, a third of what signing a 13 kB letter
cost. mailer's own messages are written in relaxed form already (the
quoted-printable codes a tab or a second space, ``letters.mime``), so their
body is hashed as it is; and the header fields a letter's messages share are
canonicalised once (docs/benchmarks.md has the figures).
"""

from __future__ import annotations

import hashlib
import re

CRLF = b"\r\n"
_WSP_RUN = re.compile(rb"[ \t]+")
#: Runs of spaces alone: ten times faster to find than runs of spaces and tabs, and
#: the only runs in most bodies (quoted-printable keeps tabs only inside a line).
_SPACES = re.compile(rb"  +")
#: A header field ends at a line break that no space or tab follows.
_FIELD_END = re.compile(rb"\r\n(?![ \t])")
#: What SMTP clients (aiosmtplib among them) send as a line end: CRLF, and a lone
#: CR or LF made one. Found by a regular expression: a literal search in ``re`` is
#: faster here than ``bytes.find`` for a pattern of more than one byte.
_LINE_END = re.compile(rb"\r\n|\n|\r")
_LONE_CR = re.compile(rb"\r(?!\n)")
_SPACE_AT_END = re.compile(rb" \r\n")
#: Header fields remembered before the memory starts again, so it stays flat.
_CACHE_LIMIT = 4096

#: A header field as signing sees it: its lower-case name, and its relaxed form with
#: CRLF when it is one of the signed headers (None when it is not).
Field = tuple[bytes, bytes | None]


def relaxed_header(name: bytes, value: bytes) -> bytes:
    """One header field in relaxed form, without its line end."""
    if b"\r\n" in value:
        value = value.replace(b"\r\n", b"")
    if b"\t" in value or b"  " in value:
        value = _WSP_RUN.sub(b" ", value)
    return name.rstrip(b" \t").lower() + b":" + value.strip(b" ")


def relaxed_body(body: bytes) -> bytes:
    """The body in relaxed form; ``body`` uses CRLF line ends."""
    reduced = _reduced(body)
    end = _content_end(reduced)
    return reduced[:end] + CRLF if end else b""


def body_hash(body: bytes) -> bytes:
    """SHA-256 of the relaxed body, without copying it once more to add the last CRLF."""
    reduced = _reduced(body)
    return _hash_without_empty_end(reduced, 0, _content_end(reduced))


def _reduced(text: bytes) -> bytes:
    """``text`` with runs of white space made one space and none left before a CRLF."""
    if b"\t" in text:
        text = _WSP_RUN.sub(b" ", text)
    elif b"  " in text:
        text = _SPACES.sub(b" ", text)
    if _SPACE_AT_END.search(text):
        text = text.replace(b" \r\n", CRLF)
    return text


def _content_end(body: bytes, start: int = 0) -> int:
    """Where ``body`` (from ``start``) ends without its empty lines at the end."""
    end = len(body)
    while body.endswith(CRLF, start, end):
        end -= 2
    return end


def with_crlf(data: bytes) -> bytes:
    """``data`` with every line ending in CRLF, the last one too, as SMTP sends it.

    What is signed must be what arrives: an SMTP client turns a lone CR or LF
    into CRLF and ends the last line itself (a text part can hold a lone CR
    from a subscriber's attribute, which quoted-printable keeps as it is).
    """
    # With no lone CR, every CR begins a CRLF: the line ends are all CRLF when there
    # are as many LFs as CRs. Counting single bytes is quick; counting pairs is not.
    if _LONE_CR.search(data) or data.count(b"\n") != data.count(b"\r"):
        data = _LINE_END.sub(CRLF, data)
    return data if data.endswith(CRLF) else data + CRLF


class MessageCanon:
    """The canonical header fields and body hash of messages, each header field's canonical
    form remembered.

    Most fields of a letter's messages (From, Subject, List-Id, Content-Type
    ...) are the same bytes in every message, and are canonicalised once. A
    body that is ``relaxed`` already (mailer's own: no tab, no run of spaces,
    no space ending a line; ``OutgoingMessage.relaxed``) is hashed as it is,
    in place; any other is reduced first.
    """

    def __init__(self, signed: frozenset[bytes], limit: int = _CACHE_LIMIT) -> None:
        self._signed = signed
        self._fields: dict[bytes, Field] = {}
        self._limit = limit

    def message(self, data: bytes, *, relaxed: bool = False) -> tuple[list[Field], bytes]:
        """The header fields in order (signed ones with their relaxed form) and the body hash;
        ``data`` ends every line in CRLF."""
        end = data.find(b"\r\n\r\n")
        head, start = (data[:end], end + 4) if end >= 0 else (data.removesuffix(CRLF), len(data))
        if len(self._fields) > self._limit:
            self._fields.clear()
        get, field = self._fields.get, self._remember
        fields = [got if (got := get(line)) is not None else field(line)
                  for line in _FIELD_END.split(head)]
        if relaxed:
            return fields, _hash_without_empty_end(data, start, _content_end(data, start))
        return fields, body_hash(data[start:])

    def _remember(self, line: bytes) -> Field:
        name, _, value = line.partition(b":")
        key = name.rstrip(b" \t").lower()
        known = self._fields[line] = (
            key, relaxed_header(key, value) + CRLF if key in self._signed else None
        )
        return known


def _hash_without_empty_end(body: bytes, start: int, end: int) -> bytes:
    """SHA-256 of ``body`` from ``start`` to ``end`` and a CRLF (nothing when that is empty),
    without copying the body to cut it."""
    digest = hashlib.sha256(memoryview(body)[start:end])
    if end > start:
        digest.update(CRLF)
    return digest.digest()
