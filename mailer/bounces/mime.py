"""Reading a message that may be broken in any way, without ever raising.

Bounces are written by thousands of programs, some of them careless: MIME
boundaries that never close, charsets nobody has heard of, base64 that is not
base64, bytes that are not text. Everything here degrades to "less text"
rather than an exception, because a bounce we cannot read fully is still
worth reading partly.
"""

from __future__ import annotations

import email
import email.header
import html
import re
from dataclasses import dataclass, field
from email.message import Message
from email.policy import compat32
from typing import Final

#: Only the head of a huge message is read: a notice and its machine-readable
#: report come first, and the tail is the returned original (attachments).
MAX_BYTES: Final = 2_000_000

_TAG = re.compile(r"<(?:script|style)\b.*?</(?:script|style)\s*>|<[^>]*>", re.I | re.S)
_BREAK = re.compile(r"<\s*(?:br|/p|/div|/tr|/li|/h\d|p|div|tr|li)\b[^>]*>", re.I)
_SPACES = re.compile(r"[ \t\r\f\v]+")


@dataclass
class Parts:
    """A bounce taken apart: what it says to people and to programs."""

    notice: list[str] = field(default_factory=list)  # human-readable text parts
    html: list[str] = field(default_factory=list)  # HTML parts (used when no text)
    delivery_status: list[str] = field(default_factory=list)  # message/delivery-status
    feedback: list[str] = field(default_factory=list)  # message/feedback-report
    original: list[Message] = field(default_factory=list)  # returned message(s)
    original_headers: list[str] = field(default_factory=list)  # text/rfc822-headers


def load(raw: bytes) -> Message:
    """Parse ``raw`` leniently; junk gives an empty message, never an exception."""
    if len(raw) > MAX_BYTES:
        raw = raw[:MAX_BYTES]
    try:
        return email.message_from_bytes(raw, policy=compat32)
    except Exception:  # the parser is lenient, but not on every input
        return Message()


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


def header(msg: Message, name: str) -> str:
    """A header's value decoded from RFC 2047, on one line; ``""`` if absent or broken."""
    try:
        value = msg.get(name)
    except Exception:
        return ""
    if value is None:
        return ""
    text = str(value) if not isinstance(value, str) else value
    if "=?" in text:
        try:
            text = "".join(
                decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk
                for chunk, charset in email.header.decode_header(text)
            )
        except Exception:
            pass
    return " ".join(text.split())


def headers(msg: Message, name: str) -> list[str]:
    """Every value of a repeated header, decoded."""
    try:
        values = msg.get_all(name) or []
    except Exception:
        return []
    return [" ".join(str(v).split()) for v in values]


def payload_text(part: Message) -> str:
    """A leaf part's content as text, transfer-decoded and charset-decoded."""
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        try:
            charset = part.get_content_charset()
        except Exception:
            charset = None
        return decode_bytes(data, charset)
    try:
        payload = part.get_payload()
    except Exception:
        return ""
    if isinstance(payload, str):
        return payload
    if isinstance(payload, list):
        return "\n\n".join(_message_text(p) for p in payload if isinstance(p, Message))
    return ""


def _message_text(msg: Message) -> str:
    """A header block (as the parser made of a delivery-status part) back to text."""
    lines = [f"{k}: {v}" for k, v in msg.items()]
    body = msg.get_payload()
    if isinstance(body, str) and body.strip():
        lines.append("")
        lines.append(body)
    return "\n".join(lines)


def html_to_text(markup: str) -> str:
    """Just enough HTML to text to read what a server wrote."""
    text = _BREAK.sub("\n", markup)
    text = _TAG.sub(" ", text)
    text = html.unescape(text)
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.splitlines())


def content_type(part: Message) -> str:
    """The part's media type, lower case; ``text/plain`` when unreadable."""
    try:
        return part.get_content_type()
    except Exception:
        return "text/plain"


def split(msg: Message) -> Parts:
    """Sort a bounce's parts by what they are, never descending into the original."""
    parts = Parts()
    _visit(msg, parts, depth=0)
    return parts


def _visit(part: Message, parts: Parts, depth: int) -> None:
    if depth > 20:
        return
    ctype = content_type(part)
    if ctype == "message/delivery-status" or ctype == "message/global-delivery-status":
        parts.delivery_status.append(payload_text(part))
    elif ctype == "message/feedback-report":
        parts.feedback.append(payload_text(part))
    elif ctype in ("message/rfc822", "message/global"):
        try:
            inner = part.get_payload()
        except Exception:
            inner = None
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            parts.original.append(inner[0])
        elif isinstance(inner, str):
            parts.original.append(load(inner.encode("utf-8", "replace")))
    elif ctype in ("text/rfc822-headers", "message/rfc822-headers", "text/global-headers"):
        parts.original_headers.append(payload_text(part))
    elif part.is_multipart():
        try:
            children = part.get_payload()
        except Exception:
            children = []
        if isinstance(children, list):
            for child in children:
                if isinstance(child, Message):
                    _visit(child, parts, depth + 1)
    elif ctype == "text/html":
        parts.html.append(html_to_text(payload_text(part)))
    elif ctype.startswith("text/") or ctype.startswith("multipart/"):
        # A multipart whose boundary is broken arrives as one text payload.
        if _is_attachment(part) and ctype != "text/plain":
            return
        parts.notice.append(payload_text(part))


def _is_attachment(part: Message) -> bool:
    try:
        disposition = part.get_content_disposition()
    except Exception:
        return False
    return disposition == "attachment"
