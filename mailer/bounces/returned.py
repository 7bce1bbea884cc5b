"""The letter a bounce returns: whom it was for, when the notice itself names nobody.

A notice that names no recipient usually returns the letter, attached or
inline, and its headers can say whom it was for. But the To of a letter is
not its envelope recipient: a discussion list's post is addressed to the list
itself, a letter may go to several people, and reporting the list's address
(or everyone in To) as the failed recipient is worse than reporting nothing.
So the returned letter names its failed recipient only by:

1. a header the receiving side wrote with the envelope recipient
   (``X-Original-To``, ``Delivered-To``, ``Envelope-To``, ``X-Envelope-To``,
   ``X-Rcpt-To``, ``Original-Recipient``): the letter reached that mailbox and
   failed after it (a forward, a full mailbox at delivery);
2. else its ``To``, but only for a letter to one person: one address in To,
   none in Cc, and not a discussion list's post (a ``List-Post``,
   ``Mailing-List`` or ``X-Mailing-List`` header, ``Precedence: list``, or a
   To that is the list's own address as its List-Id writes it). mailer's own
   letters qualify: each is addressed to its one subscriber, and an
   announcement list has no List-Post.

Anything else names nobody: the event is kept as ``unknown`` for a person to
read.
"""

from __future__ import annotations

import re
from typing import Final

from mailer.bounces import mime
from mailer.bounces.addresses import addresses_in
from mailer.bounces.mime import Part

_ENVELOPE: Final = (
    "x-original-to", "delivered-to", "envelope-to", "x-envelope-to", "x-rcpt-to",
    "original-recipient",
)
_LIST_HEADERS: Final = ("list-post", "mailing-list", "x-mailing-list")
_LIST_ID: Final = re.compile(r"<([^<>@\s]+\.[^<>@\s]+)>")


def returned_heads(originals: list[Part], headers_text: list[str]) -> list[Part]:
    """The returned letters' headers, attached or quoted as text, as parts."""
    heads = list(originals)
    for text in headers_text:
        if text.strip():
            heads.append(mime.load(text.encode("utf-8", "replace"), headers_only=True))
    return heads


def returned_recipients(heads: list[Part], excluded: set[str]) -> list[str]:
    """The failed recipient as the returned letter shows it (the module's rule), or ``[]``."""
    for head in heads:
        envelope = [
            address
            for name in _ENVELOPE
            for value in mime.headers(head, name)
            for address in addresses_in(value)
            if address not in excluded
        ]
        if envelope:
            return list(dict.fromkeys(envelope))
    for head in heads:
        to = addresses_in(mime.header(head, "to"))
        if len(to) == 1 and to[0] not in excluded and _to_one_person(head, to[0]):
            return to
    return []


def _to_one_person(head: Part, to: str) -> bool:
    """Whether a letter addressed to ``to`` alone is no discussion list's post."""
    if mime.header(head, "cc").strip():
        return False
    if any(mime.header(head, name) for name in _LIST_HEADERS):
        return False
    if mime.header(head, "precedence").strip().lower() == "list":
        return False
    # List-Id: "Name <talk.lists.example.net>" for the list talk@lists.example.net.
    found = _LIST_ID.search(mime.header(head, "list-id"))
    return found is None or found.group(1).replace(".", "@", 1).lower() != to
