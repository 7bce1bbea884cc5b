"""What no route but the bounce route may act on: loops, programs, bounces, oversized mail.

A message is kept out of the routes that store what people write (replies,
posts) when:

1. it is larger than ``[inbound] max_size`` (nothing of it is stored);
2. it carries the List-Id of one of our own lists, or an ``X-Loop`` naming
   one of our domains: a letter or a forwarded reply of ours coming back,
   which answered again would go round for ever;
3. a program sent it (``bounces.dsn.automatic``: ``Auto-Submitted`` other
   than ``no``, ``Precedence`` bulk, junk or list, the vacation headers and
   subjects of RFC 3834's section 3);
4. it is a bounce or a complaint (``bounces.parse.is_failure_notice``).

The order is the cost of the check, cheapest first. The reason is logged
in the ``inbound`` table; the message itself is not kept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from mailer.bounces import mime
from mailer.bounces.addresses import addresses_in
from mailer.bounces.dsn import automatic
from mailer.bounces.parse import is_failure_notice
from mailer.config import Config
from mailer.inbound.routes import bounce_address, posting_domain
from mailer.letters.mime import ascii_domain
from mailer.letters.sender import sender_of

TOO_LARGE: Final = "too large"
LOOP: Final = "loop"
AUTOMATIC: Final = "auto-reply"
BOUNCE: Final = "bounce"
#: A megabyte of the size settings.
MB: Final = 1 << 20

_ANGLE = re.compile(r"<([^<>]*)>")


@dataclass(frozen=True)
class Ours:
    """What names us in a header: our lists' List-Ids and the domains we mail from."""

    list_ids: frozenset[str]
    domains: frozenset[str]
    max_bytes: int


def ours(config: Config, list_names: Sequence[str]) -> Ours:
    """Our List-Ids (``<list>.<domain>``, as letters write them) and domains."""
    addresses = (
        sender_of(None, config)[1],
        bounce_address(config),
        config.replies.address,
        config.bounces.unsubscribe_address,
    )
    domains = {posting_domain(config)}
    domains |= {a.rpartition("@")[2].lower() for a in addresses if "@" in a}
    domains = {ascii_domain(d) for d in domains if d}
    list_ids = {f"{name}.{domain}" for name in list_names for domain in domains}
    return Ours(frozenset(list_ids), frozenset(domains), int(config.inbound.max_size * MB))


def reason_to_drop(raw: bytes, head: mime.Part, size: int, us: Ours) -> str:
    """Why this message may not be stored as a reply or post, or ``""``."""
    if size > us.max_bytes:
        return f"{TOO_LARGE}: {size:,} bytes (limit {us.max_bytes:,})"
    loop = _loop(head, us)
    if loop:
        return f"{LOOP}: {loop}"
    program = automatic(head)
    if program:
        return f"{AUTOMATIC}: {program}"
    if is_failure_notice(raw):
        return BOUNCE
    return ""


def _loop(head: mime.Part, us: Ours) -> str:
    """The header that shows the message is ours coming back, or ``""``."""
    for value in mime.headers(head, "list-id"):
        found = _ANGLE.search(value)
        list_id = (found.group(1) if found else value).strip().lower()
        if list_id in us.list_ids:
            return f"List-Id {list_id}"
    for value in mime.headers(head, "x-loop"):
        for address in addresses_in(value):
            if address.rpartition("@")[2].lower() in us.domains:
                return f"X-Loop {address}"
    return ""


def category(reason: str) -> str:
    """The kind of a reason (``loop``, ``bounce``, ...), for counting."""
    return reason.partition(":")[0]
