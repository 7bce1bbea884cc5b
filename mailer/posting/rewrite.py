"""A post as each member receives it: the poster's message, made the list's.

Compiled once per campaign, built per member:

- the original MIME structure is kept (text, HTML, attachments, inline
  images); the headers of its journey and its signatures (``Received``,
  ``DKIM-Signature``, ``Return-Path``, ``Authentication-Results``,
  ``ARC-*``, ...) and any list headers it came with are removed;
- the list's headers are added: ``List-Id``, ``List-Post``,
  ``List-Unsubscribe`` with the member's own link, ``List-Unsubscribe-Post``,
  ``Precedence: list``; the subject gets the list's prefix once;
- ``From`` is the list's in the poster's name when their domain's DMARC
  policy asks for it (``munge``), or the post rides as a ``message/rfc822``
  attachment of a message from the list (``wrap``); ``Reply-To`` follows the
  list's setting;
- a footer with the member's unsubscribe link ends each text and HTML body.

The message is serialised once with a marker in place of each body; per
member only the bodies with their footer are encoded (quoted-printable)
and joined between the constant bytes, as letters are (``letters.mime``).
"""

from __future__ import annotations

import binascii
import email.policy
import html
import re
import secrets
from collections.abc import Callable, Iterator
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, make_msgid

from mailer import clock
from mailer.letters.mime import (
    OutgoingMessage,
    clean_display_name,
    encode_phrase,
    mail_address,
)
from mailer.store.models import MailingList, Post, PostingPolicy, Recipient

#: Headers of the original that say how it travelled or who signed it, and list
#: headers of another list: none of them is true of the copy members get.
_DROPPED = frozenset({
    "received", "return-path", "delivered-to", "x-original-to", "dkim-signature",
    "domainkey-signature", "x-google-dkim-signature", "authentication-results",
    "received-spf", "arc-seal", "arc-message-signature", "arc-authentication-results",
    "list-id", "list-post", "list-unsubscribe", "list-unsubscribe-post", "list-help",
    "list-subscribe", "list-owner", "list-archive", "precedence", "sender", "errors-to",
    "bcc", "x-loop", "return-receipt-to", "disposition-notification-to", "content-length",
    "lines", "status", "x-status",
})
_DROPPED_PREFIXES = ("x-spam-", "x-virus-", "arc-")

_POLICY = email.policy.SMTP.clone(max_line_length=78)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


class PostBuilder:
    """One post, ready to build each member's message (``dispatch.sender.Builder``)."""

    def __init__(
        self,
        raw: bytes,
        post: Post,
        mailing_list: MailingList,
        policy: PostingPolicy,
        *,
        list_address: str,
        unsubscribe: Callable[[Recipient], tuple[str, str]],
    ) -> None:
        """``unsubscribe`` gives a member's (HTTPS URL, mailto URI) of leaving the list."""
        self.subject = post.subject
        self._unsubscribe = unsubscribe
        self._title = mailing_list.display_title
        self._list_address = list_address
        message = _parse(raw)
        _strip(message)
        message = _dress(message, post, mailing_list, policy, list_address)
        self.message_id = str(message.get("Message-ID", "")).strip().strip("<>")
        self._bodies = list(_bodies(message))
        if not self._bodies:
            message = _with_footer_part(message)
            self._bodies = list(_bodies(message))
        self._texts = [_text_of(part) for part in self._bodies]
        self._kinds = [part.get_content_subtype() for part in self._bodies]
        markers = [f"MAILERBODY{n}{secrets.token_hex(8)}" for n in range(len(self._bodies))]
        for part, marker in zip(self._bodies, markers, strict=True):
            _replace_body(part, marker)
        data = message.as_bytes(policy=_POLICY)
        self._pieces = _cut(data, markers)
        #: A header left in UTF-8 (an address that cannot be encoded) needs SMTPUTF8.
        self._head_utf8 = not data.partition(b"\r\n\r\n")[0].isascii()

    def build(self, recipient: Recipient) -> OutgoingMessage:
        """The member's message: the list's headers, their unsubscribe link, the footers."""
        url, mailto = self._unsubscribe(recipient)
        rcpt, utf8 = mail_address(recipient.email)
        parts: list[bytes] = [f"List-Unsubscribe: <{url}>,\r\n <{mailto}>\r\n".encode("ascii")]
        for n, piece in enumerate(self._pieces):
            parts.append(piece)
            if n < len(self._texts):
                parts.append(_encode(self._with_footer(n, url)))
        return OutgoingMessage(
            recipient=rcpt, message_id=self.message_id, parts=tuple(parts),
            smtputf8=utf8 or self._head_utf8,
        )

    def _with_footer(self, n: int, url: str) -> str:
        text = self._texts[n]
        where = f"{self._title} <{self._list_address}>"
        if self._kinds[n] == "html":
            footer = (
                '<hr style="border:0;border-top:1px solid #ccc">'
                f'<p style="font-size:12px;color:#555">{html.escape(where)}<br>'
                f'<a href="{html.escape(url)}">Unsubscribe from this list</a></p>'
            )
            ends = [found.start() for found in _BODY_END.finditer(text)]
            if not ends:
                return text + "\n" + footer + "\n"
            return text[: ends[-1]] + footer + "\n" + text[ends[-1] :]
        ending = "" if text.endswith("\n") or not text else "\n"
        return f"{text}{ending}\n-- \n{where}\nUnsubscribe: {url}\n"


def _parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def _strip(message: Message) -> None:
    """Remove the travel, signature and foreign list headers (the module's docstring)."""
    for name in set(message.keys()):
        lowered = name.lower()
        if lowered in _DROPPED or lowered.startswith(_DROPPED_PREFIXES):
            del message[name]


def _dress(
    message: EmailMessage, post: Post, mailing_list: MailingList, policy: PostingPolicy,
    list_address: str,
) -> EmailMessage:
    """The list's headers, From and Reply-To on the post (or on its wrapper)."""
    poster = _poster(post)
    via = f"{post.sender_name or post.sender.partition('@')[0]} via {mailing_list.display_title}"
    if post.dmarc == "wrap":
        message = _wrapper(message, post, via, list_address)
    elif post.dmarc == "munge":
        del message["From"]
        message["From"] = address_header(via, list_address)
    own = str(message.get("Reply-To", "")) if post.dmarc != "wrap" else ""
    reply_to = _reply_to(policy, own or poster, list_address, bool(post.dmarc))
    if reply_to:
        del message["Reply-To"]
        message["Reply-To"] = reply_to
    subject = _prefixed(str(message.get("Subject", post.subject)), policy.subject_prefix)
    del message["Subject"]
    message["Subject"] = subject
    if "Message-ID" not in message:
        message["Message-ID"] = make_msgid(domain=list_address.rpartition("@")[2])
    if "Date" not in message:
        message["Date"] = format_datetime(clock.now().replace(microsecond=0))
    add_list_headers(message, mailing_list, list_address)
    return message


def add_list_headers(message: Message, mailing_list: MailingList, list_address: str) -> None:
    """The list's own headers (RFC 2369, RFC 2919, RFC 8058) but the member's
    ``List-Unsubscribe``, which ``build`` writes."""
    domain = list_address.rpartition("@")[2]
    # Unfolded: the message's policy folds every header when it is serialised.
    title = encode_phrase(clean_display_name(mailing_list.display_title))
    message["List-Id"] = f"{title} <{mailing_list.name}.{domain}>".strip()
    message["List-Post"] = f"<mailto:{list_address}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Precedence"] = "list"


def _poster(post: Post) -> str:
    return address_header(post.sender_name, post.sender) if post.sender else ""


def address_header(name: str, address: str) -> str:
    """``Name <address>`` on one line (the message's policy encodes and folds it)."""
    name = clean_display_name(name)
    if not name:
        return address
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}" <{address}>'


def _reply_to(policy: PostingPolicy, poster: str, list_address: str, rewritten: bool) -> str:
    """Where answers go: the poster (their own Reply-To, or their address, said outright
    once From is the list's), the list, or an address."""
    if policy.reply_to == "list":
        return list_address
    if policy.reply_to == "poster":
        return poster if rewritten else ""
    return policy.reply_to


def _prefixed(subject: str, prefix: str) -> str:
    """The subject with the list's prefix, once (an answer's ``Re: [x] ...`` keeps one)."""
    subject = " ".join(subject.split())
    if not prefix or prefix.lower() in subject.lower():
        return subject
    return f"{prefix} {subject}"


def _wrapper(original: EmailMessage, post: Post, via: str, list_address: str) -> EmailMessage:
    """A message from the list carrying the post whole as ``message/rfc822``."""
    outer = EmailMessage(policy=email.policy.default)
    outer["From"] = address_header(via, list_address)
    for name in ("To", "Cc", "Subject", "Date", "In-Reply-To", "References"):
        if name in original:
            outer[name] = str(original[name])
    outer["Message-ID"] = make_msgid(domain=list_address.rpartition("@")[2])
    who = _poster(post) or "someone"
    outer.set_content(
        f"{who} wrote to the list; the message is attached as it was sent.\n",
        charset="utf-8", cte="quoted-printable",
    )
    outer.add_attachment(original)
    return outer


def _bodies(message: Message) -> Iterator[Message]:
    """The text and HTML bodies a footer goes under: inline text parts, not inside an
    attached message."""
    if message.is_multipart():
        for part in message.get_payload():
            assert isinstance(part, Message)
            if part.get_content_maintype() == "message":
                continue
            yield from _bodies(part)
        return
    if message.get_content_type() not in ("text/plain", "text/html"):
        return
    if message.get_content_disposition() == "attachment":
        return
    yield message


def _with_footer_part(message: EmailMessage) -> EmailMessage:
    """A post with no text body (a lone file): a text part is added for the footer."""
    message.make_mixed()
    footer = EmailMessage(policy=email.policy.default)
    footer.set_content("", charset="utf-8")
    message.attach(footer)
    return message


def _text_of(part: Message) -> str:
    """A body's text, with ``\\n`` line ends."""
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    charset = part.get_content_charset() or "us-ascii"
    try:
        text = data.decode(charset, errors="replace")
    except LookupError:
        text = data.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _replace_body(part: Message, marker: str) -> None:
    """Put the marker where the body goes, declared as UTF-8 quoted-printable."""
    part.set_payload(marker)
    del part["Content-Transfer-Encoding"]
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_param("charset", "utf-8")


def _cut(data: bytes, markers: list[str]) -> list[bytes]:
    """The message's bytes between the markers, in order."""
    pieces = []
    for marker in markers:
        before, found, data = data.partition(marker.encode("ascii"))
        if not found:
            raise ValueError("a body's marker is missing from the serialised post")
        pieces.append(before)
    pieces.append(data)
    return pieces


def _encode(text: str) -> bytes:
    """A body as quoted-printable with CRLF line ends."""
    encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True)
    return encoded.replace(b"\n", b"\r\n").rstrip(b"\r\n")


def list_address_of(mailing_list: MailingList, domain: str) -> str:
    """The list's posting address."""
    return f"{mailing_list.name}@{domain}"


def poster_addresses(value: str) -> list[str]:
    """The addresses of a From header."""
    return [address for _, address in getaddresses([value]) if address]
