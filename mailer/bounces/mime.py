"""Reading a message that may be broken in any way, without ever raising.

Bounces are written by thousands of programs, some of them careless: MIME
boundaries that never close, charsets nobody has heard of, base64 that is not
base64, bytes that are not text. Everything here degrades to "less text"
rather than an exception, because a bounce we cannot read fully is still
worth reading partly.

The splitter is our own rather than the standard library's parser because a
bounce needs far less than a full parse: the headers, the text parts, the
report parts, and only the *headers* of the returned original. Skipping the
rest makes reading a bounce several times faster.
"""

from __future__ import annotations

import binascii
import contextlib
import email.header
import html
import re
from dataclasses import dataclass, field
from typing import Final

#: Only the head of a huge message is read: a notice and its machine-readable
#: report come first, and the tail is the returned original (attachments).
MAX_BYTES: Final = 2_000_000
#: Parts nested deeper than this are not looked at (a bounce of a bounce of ...).
MAX_DEPTH: Final = 12
#: A header value is read this far: the standard library's decoding of
#: encoded words slows down with the square of their number.
MAX_HEADER: Final = 20_000
#: Header lines and parts past these counts are not read: real mail has a
#: few dozen of each, and every lookup would otherwise walk them all.
MAX_HEADER_LINES: Final = 2_000
MAX_PARTS: Final = 200

# A tag ends at the next "<" at the latest: an unclosed "<p" then costs one
# scan up to the next tag, not one scan to the end of the text for each.
_TAG = re.compile(r"<[^<>]*>")
_BREAK = re.compile(r"<\s*(?:br|/p|/div|/tr|/li|/h\d|p|div|tr|li)\b[^<>]*>", re.I)
_HIDDEN = re.compile(r"<\s*(script|style)\b", re.I)
_SPACES = re.compile(r"[ \t\r\f\v\xa0]+")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_NOT_BASE64: Final = bytes(
    c for c in range(256)
    if not (chr(c).isascii() and (chr(c).isalnum() or chr(c) in "+/="))
)
_PARAM = re.compile(r';\s*([A-Za-z0-9_\-*]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))')


@dataclass
class Part:
    """One MIME entity: its headers (names lower-cased, in order) and its body."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    children: list[Part] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        """Every value of header ``name``."""
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    @property
    def content_type(self) -> str:
        """The media type, lower case; ``text/plain`` when absent or unreadable."""
        value = self.get("content-type") or ""
        media = value.split(";", 1)[0].strip().lower()
        return media if "/" in media else "text/plain"

    def param(self, name: str, header_name: str = "content-type") -> str:
        """A parameter of a structured header (``boundary``, ``charset``, ...)."""
        value = self.get(header_name) or ""
        for match in _PARAM.finditer(value):
            if match.group(1).lower().rstrip("*") == name:
                return match.group(2) if match.group(2) is not None else match.group(3)
        return ""


@dataclass
class Parts:
    """A bounce taken apart: what it says to people and to programs."""

    notice: list[str] = field(default_factory=list)  # human-readable text parts
    html: list[str] = field(default_factory=list)  # HTML parts (used when no text)
    delivery_status: list[str] = field(default_factory=list)  # message/delivery-status
    feedback: list[str] = field(default_factory=list)  # message/feedback-report
    original: list[Part] = field(default_factory=list)  # returned message(s), headers only
    #: The same returned messages whole, as bytes: a notice forwarded as an
    #: attachment is read from them.
    original_raw: list[bytes] = field(default_factory=list)
    original_headers: list[str] = field(default_factory=list)  # text/rfc822-headers


def _decode_header_bytes(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        if b"\x1b$" in data:
            return data.decode("iso-2022-jp", "replace")
        return data.decode("latin-1")


def _parse_headers(block: bytes) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    name = ""
    value: list[str] = []
    for raw_line in block.split(b"\n", MAX_HEADER_LINES)[:MAX_HEADER_LINES]:
        line = _decode_header_bytes(raw_line.rstrip(b"\r"))
        if line[:1] in (" ", "\t") and name:
            value.append(line.strip())
            continue
        if name:
            headers.append((name, " ".join(value)))
        key, sep, rest = line.partition(":")
        if sep and key and " " not in key.strip() and len(key) < 80:
            name, value = key.strip().lower(), [rest.strip()]
        else:
            name, value = "", []
    if name:
        headers.append((name, " ".join(value)))
    return headers


def load(raw: bytes, *, headers_only: bool = False, depth: int = 0) -> Part:
    """Split ``raw`` into parts leniently; junk gives a part with no headers."""
    if len(raw) > MAX_BYTES:
        raw = raw[:MAX_BYTES]
    if depth == 0:
        raw = _line_feeds(raw)
    if raw.startswith(b"From ") and b"\n" in raw[:1000]:
        raw = raw.split(b"\n", 1)[1]  # an mbox "From " line is not a header
    if raw.startswith((b"\n", b"\r\n")):  # no headers at all: the body follows
        head, body = b"", raw[raw.index(b"\n") + 1:]
    elif (match := _HEADER_END.search(raw)) is not None:
        head, body = raw[: match.start()], raw[match.end():]
    elif _looks_like_headers(raw):
        head, body = raw, b""
    else:
        head, body = b"", raw
    part = Part(headers=_parse_headers(head) if head else [], body=body)
    if headers_only or depth >= MAX_DEPTH:
        return part
    if part.content_type.startswith("multipart/"):
        boundary = part.param("boundary")
        if boundary:
            part.children = [
                load(chunk, depth=depth + 1)
                for chunk in _split_multipart(body, boundary)[:MAX_PARTS]
            ]
    return part


#: How far into a message its line ends are looked at.
_SNIFF: Final = 4096


def _line_feeds(raw: bytes) -> bytes:
    """Lines ended by a lone CR (old Mac OS) made LF-ended; other messages untouched.

    Everything after this splits lines at LF: a message without one would
    be a single line, its headers unread.
    """
    head = raw[:_SNIFF]
    if b"\n" in head or b"\r" not in head:
        return raw
    return raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _looks_like_headers(raw: bytes) -> bool:
    first = raw.split(b"\n", 1)[0]
    key, sep, _ = first.partition(b":")
    return bool(sep) and b" " not in key.strip() and 0 < len(key) < 80


def _split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """The chunks between boundary lines; a missing closing boundary is forgiven."""
    delimiter = b"--" + boundary.encode("latin-1", "replace")
    chunks: list[bytes] = []
    position = _find_delimiter(body, delimiter, 0, first=True)
    while position != -1:
        start = position + len(delimiter)
        if body[start: start + 2] == b"--":
            break
        line_end = body.find(b"\n", start)
        if line_end == -1:
            break
        next_position = _find_delimiter(body, delimiter, line_end, first=False)
        end = next_position if next_position != -1 else len(body)
        chunk = body[line_end + 1: end]
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
        chunks.append(chunk)
        position = next_position + 1 if next_position != -1 else -1
    return chunks


def _find_delimiter(body: bytes, delimiter: bytes, start: int, *, first: bool) -> int:
    """Where the next boundary line starts (its "\\n", or its "--" at the very top).

    A line that merely begins with the boundary (a nested part's longer
    boundary) is not one.
    """
    if first and body.startswith(delimiter) and _ends_delimiter(body, len(delimiter)):
        return 0
    needle = b"\n" + delimiter
    position = body.find(needle, start)
    while position != -1 and not _ends_delimiter(body, position + len(needle)):
        position = body.find(needle, position + 1)
    if position == -1 or first:
        return position + 1 if position != -1 else -1
    return position


def _ends_delimiter(body: bytes, index: int) -> bool:
    return body[index: index + 2] == b"--" or body[index: index + 1] in (
        b"", b"\r", b"\n", b" ", b"\t"
    )


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes to text by the declared charset, falling back rather than failing."""
    if b"\x1b$" in data and (not charset or charset.lower() in ("us-ascii", "ascii")):
        charset = "iso-2022-jp"  # Japanese mail often forgets to say so
    for name in (charset, "utf-8"):
        if not name:
            continue
        try:
            return data.decode(name.strip().strip('"').lower() or "utf-8", "replace")
        except (LookupError, ValueError):
            continue
    return data.decode("latin-1")


def body_bytes(part: Part) -> bytes:
    """A leaf part's body with its transfer encoding undone (best effort)."""
    encoding = (part.get("content-transfer-encoding") or "").strip().lower()
    body = part.body
    if encoding == "base64":
        cleaned = body.translate(None, _NOT_BASE64)
        cleaned = cleaned[: len(cleaned) - len(cleaned) % 4]
        try:
            return binascii.a2b_base64(cleaned)
        except (binascii.Error, ValueError):
            return body
    if encoding == "quoted-printable":
        try:
            return binascii.a2b_qp(body)
        except (binascii.Error, ValueError):
            return body
    return body


def payload_text(part: Part) -> str:
    """A leaf part's content as text, transfer-decoded and charset-decoded."""
    return decode_bytes(body_bytes(part), part.param("charset") or None)


def header(part: Part, name: str) -> str:
    """A header's value decoded from RFC 2047, on one line; ``""`` if absent."""
    text = part.get(name)
    if not text:
        return ""
    text = text[:MAX_HEADER]
    if "=?" in text:
        # A malformed encoded word leaves the raw text.
        with contextlib.suppress(Exception):
            text = "".join(
                decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk
                for chunk, charset in email.header.decode_header(text)
            )
    return " ".join(text.split())


def headers(part: Part, name: str) -> list[str]:
    """Every value of a repeated header, undecoded, on one line each."""
    return [" ".join(v.split()) for v in part.get_all(name)]


def html_to_text(markup: str) -> str:
    """Just enough HTML to text to read what a server wrote."""
    text = _BREAK.sub("\n", _without_hidden(markup))
    text = _TAG.sub(" ", text)
    text = html.unescape(text)
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.splitlines())


def _without_hidden(markup: str) -> str:
    """The markup without its script and style elements, in one pass.

    Each element is cut up to its own closing tag (or to the end when it has
    none), so the search for a closing tag never starts again from an
    earlier place.
    """
    lower = markup.lower()
    kept: list[str] = []
    position = 0
    while (match := _HIDDEN.search(markup, position)) is not None:
        kept.append(markup[position: match.start()])
        closing = lower.find("</" + match.group(1).lower(), match.end())
        if closing == -1:
            return "".join(kept)
        end = lower.find(">", closing)
        position = len(markup) if end == -1 else end + 1
    kept.append(markup[position:])
    return "".join(kept)


def split(msg: Part) -> Parts:
    """Sort a bounce's parts by what they are, never descending into the original."""
    parts = Parts()
    _visit(msg, parts, depth=0)
    return parts


def _visit(part: Part, parts: Parts, depth: int) -> None:
    if depth > MAX_DEPTH:
        return
    ctype = part.content_type
    if ctype in ("message/delivery-status", "message/global-delivery-status"):
        parts.delivery_status.append(payload_text(part))
    elif ctype == "message/feedback-report":
        parts.feedback.append(payload_text(part))
    elif ctype in ("message/rfc822", "message/global"):
        raw = body_bytes(part)
        parts.original.append(load(raw, headers_only=True))
        parts.original_raw.append(raw)
    elif ctype in ("text/rfc822-headers", "message/rfc822-headers", "text/global-headers"):
        parts.original_headers.append(payload_text(part))
    elif part.children:
        for child in part.children:
            _visit(child, parts, depth + 1)
    elif ctype == "text/html":
        parts.html.append(html_to_text(payload_text(part)))
    elif ctype.startswith("text/") or ctype.startswith("multipart/"):
        # A multipart whose boundary is broken arrives as one text payload.
        disposition = (part.get("content-disposition") or "").lower()
        if disposition.startswith("attachment") and ctype != "text/plain":
            return
        parts.notice.append(payload_text(part))
