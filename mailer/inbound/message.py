"""What a person wrote: the sender, subject and date, the text, the attached files.

The headers are read by the bounce reader's lenient splitter
(``bounces.mime``), which never raises, whatever a mail program made of
them. The body and attachments are read by the standard library's parser,
which decodes every transfer encoding and the RFC 2231 file names that mail
programs write; a message it cannot take apart still gives its text, from
the lenient reader, and no attachments.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from datetime import UTC
from email.message import EmailMessage, Message
from email.utils import parseaddr, parsedate_to_datetime
from typing import Final

from mailer import clock
from mailer.bounces import mime

#: Characters of a reply's text that are stored (the message itself is kept whole).
MAX_TEXT: Final = 200_000
#: Attachments read from one message; the rest are left in the stored message.
MAX_ATTACHMENTS: Final = 100
#: Parts nested deeper than this are not looked into.
MAX_DEPTH: Final = 12


@dataclass(frozen=True)
class Head:
    """Who sent a message, about what, and when they say they did."""

    sender: str
    sender_name: str
    subject: str
    sent_at: str | None
    message_id: str


@dataclass(frozen=True)
class Attachment:
    """One attached file: the name its sender gave it (never a path), its type, its bytes."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Content:
    """The text of a message (its plain part, else its HTML as text) and its files."""

    text: str
    attachments: tuple[Attachment, ...]


def head_of(part: mime.Part) -> Head:
    """The sender, subject, date and Message-ID of a message's headers."""
    name, address = parseaddr(mime.header(part, "from"))
    if "@" not in address:
        name, address = parseaddr(mime.header(part, "sender"))
    return Head(
        sender=address if "@" in address else "",
        sender_name=" ".join(name.split())[:200],
        subject=mime.header(part, "subject")[:1000],
        sent_at=_date(mime.header(part, "date")),
        message_id=mime.header(part, "message-id").strip()[:1000],
    )


def _date(value: str) -> str | None:
    """A Date header as the store's time, or None when it cannot be read."""
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # "-0000": the time is UTC, its zone unknown
        return clock.iso(moment.replace(tzinfo=UTC))
    return clock.iso(moment)


def content_of(raw: bytes) -> Content:
    """The text and attachments of a message; never raises."""
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return Content(_text(message)[:MAX_TEXT], tuple(_attachments(message)))
    except Exception:  # a message the parser cannot take apart (nesting, encodings)
        parts = mime.split(mime.load(raw))
        return Content("\n".join(parts.notice or parts.html)[:MAX_TEXT], ())


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain", "html"))
    if body is None:
        return ""
    text = _decoded(body)
    if body.get_content_type() == "text/html":
        text = mime.html_to_text(text)
    return text.replace("\r\n", "\n").strip()


def _decoded(part: Message) -> str:
    """A text part's content, decoded by its charset as leniently as the bounce reader."""
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    return mime.decode_bytes(data, part.get_content_charset())


def _attachments(message: EmailMessage) -> list[Attachment]:
    """Every part that is not the text: files, images, attached messages."""
    bodies = [message.get_body(("plain",)), message.get_body(("html",))]
    found: list[Attachment] = []
    for part in _leaves(message, 0):
        if len(found) >= MAX_ATTACHMENTS:
            break
        if any(part is body for body in bodies):
            continue
        filename = str(part.get_filename() or "")
        kind = part.get_content_type()
        if kind.startswith("text/") and not filename and part.get_content_disposition() != (
            "attachment"
        ):
            continue  # another rendering of the text, or a mail program's own text part
        found.append(Attachment(" ".join(filename.split())[:255], kind, _bytes(part)))
    return found


def _leaves(part: Message, depth: int) -> list[Message]:
    """The parts that hold content, an attached message counting as one."""
    if part.get_content_type() == "message/rfc822" or depth >= MAX_DEPTH:
        return [part]
    if part.is_multipart():
        payload = part.get_payload()
        children = payload if isinstance(payload, list) else []
        return [
            leaf
            for child in children
            if isinstance(child, Message)
            for leaf in _leaves(child, depth + 1)
        ]
    return [part]


def _bytes(part: Message) -> bytes:
    """A part's content as a file holds it: decoded, or an attached message as sent."""
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            return inner[0].as_bytes()
        return b""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""
