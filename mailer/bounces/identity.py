"""Telling messages apart: the key that makes ingesting the same bounce twice a no-op.

The same bounce can arrive through a pipe, a Maildir and IMAP, each time with
other delivery headers and line ends; its key must be the same each time.
"""

from __future__ import annotations

import hashlib
import re

from mailer.bounces.model import ParsedBounce


def message_key(parsed: ParsedBounce, raw: bytes) -> str:
    """The Message-ID, or a content hash for a message without one."""
    return key_of(parsed.message_id, raw)


def key_of(message_id: str, raw: bytes) -> str:
    """``message_id`` when there is one, else a hash of the message's content.

    The hash leaves out what the way in adds or changes (an mbox ``From``
    line, line ends, the headers each delivery prepends), so the same
    message read from a pipe, a Maildir and IMAP gives one key.
    """
    if message_id:
        return message_id
    # The head of a huge message is enough to tell it apart (the parser reads
    # no more); a prefix cut after normalising is the same whichever line
    # ends the message came with.
    plain = _as_sent(raw[: 2 * _HASHED])[:_HASHED]
    return "sha256:" + hashlib.sha256(plain).hexdigest()


_HASHED = 1_000_000
# Headers a delivery adds in front of the message (RFC 5321 trace fields,
# local delivery agents, mail readers' bookkeeping).
_DELIVERY_HEADERS = re.compile(
    rb"(?:return-path|received|delivered-to|x-original-to|envelope-to|x-envelope-to"
    rb"|x-rcpt-to|status|x-status|x-keywords|x-uid|content-length|lines|x-imapbase)\s*:",
    re.I,
)


def _as_sent(raw: bytes) -> bytes:
    """The message with line ends made plain and delivery headers dropped."""
    text = raw.replace(b"\r\n", b"\n")
    if text.startswith(b"From "):
        text = text.partition(b"\n")[2]
    head, sep, body = text.partition(b"\n\n")
    kept: list[bytes] = []
    dropping = False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = _DELIVERY_HEADERS.match(line) is not None
        if not dropping:
            kept.append(line)
    return b"\n".join(kept) + sep + body
