"""The copy of a reply that goes to the coordinator's own mailbox.

The coordinator reads it like any mail and answers it with the Reply button:
the body is the member's, untouched (text, photos, signatures as sent), and
``Reply-To`` is the member. It comes ``From`` the replies address, in the
name of the member, because mail ``From`` the member's own domain, sent by
our server, fails that domain's DMARC and is refused or filed as spam; our
own domain's signature and SPF pass. ``X-Loop`` names the replies address,
so that if the coordinator's mailbox sends the copy back (an automatic
forward, a vacation reply), the intake knows it and drops it.
"""

from __future__ import annotations

import re
from datetime import datetime
from email.utils import format_datetime, make_msgid

from mailer import clock
from mailer.config import Config
from mailer.errors import HeaderInjectionError
from mailer.letters.mime import (
    OutgoingMessage,
    encode_unstructured,
    format_address,
    header,
    mail_address,
)
from mailer.store.models import Reply

#: Headers of the member's message that the copy keeps: how its body is to be
#: read, and which thread it belongs to. Everything else is written anew.
_KEPT = frozenset(
    {"content-type", "content-transfer-encoding", "content-language", "in-reply-to", "references"}
)
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def forward_copy(raw: bytes, reply: Reply, config: Config) -> OutgoingMessage:
    """The message to ``[replies] forward_to``: the member's message under new headers."""
    head, body = _split(raw)
    rcpt, rcpt_utf8 = mail_address(config.replies.forward_to)
    who = reply.sender_name or reply.sender or "someone"
    from_header, from_utf8 = format_address(
        f"{who} via {config.sender.organization}", config.replies.address
    )
    domain = config.replies.address.rpartition("@")[2]
    message_id = make_msgid(domain=domain)
    lines = [
        header("From", from_header),
        header("To", rcpt),
        *_reply_to(reply),
        header("Subject", encode_unstructured(reply.subject or "(no subject)")),
        header("Date", format_datetime(_sent(reply))),
        header("Message-ID", message_id),
        header("MIME-Version", "1.0"),
        header("X-Loop", config.replies.address),
        header("X-Mailer-Reply", _about(reply)),
    ]
    parts = (*lines, *_kept(head), b"\r\n", _crlf(body))
    return OutgoingMessage(
        recipient=rcpt, message_id=message_id.strip("<>"), parts=parts,
        smtputf8=rcpt_utf8 or from_utf8,
    )


def _sent(reply: Reply) -> datetime:
    """When the member sent it (their Date), else now: the coordinator's mailbox sorts by it."""
    return clock.parse_iso(reply.sent_at) if reply.sent_at else clock.now().replace(microsecond=0)


def _reply_to(reply: Reply) -> list[bytes]:
    """``Reply-To`` the member, when their address can stand in a header as it is."""
    try:
        return [header("Reply-To", format_address(reply.sender_name, reply.sender)[0])]
    except HeaderInjectionError:
        return []


def _about(reply: Reply) -> str:
    """What the intake knows of the reply, for the coordinator's mail filters."""
    proof = "verified" if reply.verified else "unverified"
    campaign = f"campaign {reply.campaign_id}" if reply.campaign_id else "no campaign"
    return f"{reply.id}; {campaign}; {proof}"


def _split(raw: bytes) -> tuple[bytes, bytes]:
    found = _HEADER_END.search(raw)
    if found is None:
        return raw, b""
    return raw[: found.start()], raw[found.end() :]


def _kept(head: bytes) -> list[bytes]:
    """The kept header fields of ``head``, each with its folded lines, CRLF-ended."""
    fields: list[list[bytes]] = []
    for line in head.replace(b"\r\n", b"\n").split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)
        else:
            fields.append([line])
    kept = []
    for lines in fields:
        name = lines[0].partition(b":")[0].strip().lower().decode("latin-1")
        if name in _KEPT:
            kept.append(b"\r\n".join(lines) + b"\r\n")
    return kept


def _crlf(body: bytes) -> bytes:
    return body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
