"""Whether a message is a bounce at all, before anything is read from it.

The bounce and reply addresses also get people's mail (replies, forwards),
programs' mail (tickets, offers) and auto-replies. Their words can sound
like a bounce ("rejected", "does not exist"), and reading them as one would
mark as dead an address a person merely mentioned. So a message is read as
a bounce when it presents itself as one: a report part, an
``X-Failed-Recipients`` header, a mail system's sender, a bounce's subject,
or, failing those, a notice's wording. A person's reply or forward (a
``Re:`` or ``Fwd:`` subject from a sender that is no mail system) is no
bounce, unless it forwards one: ``Fwd: Returned mail: ...``.
"""

from __future__ import annotations

import re
from typing import Final

from mailer.bounces import mime
from mailer.bounces.mime import Part
from mailer.bounces.notice import DELAY, PERMANENT, strip_boilerplate

_BOUNCE_SENDER: Final = re.compile(
    r"mailer-daemon|postmaster|mail ?delivery|mail administrator|mail system|mdaemon"
    r"|post_master|-admin@|bounce",
    re.I,
)
_BOUNCE_SUBJECT: Final = re.compile(
    r"undeliver|undelivered|delivery (?:status|failure|failed|notification|problem)"
    r"|returned mail|mail delivery|failure notice|non.?delivery|could not be delivered"
    r"|delivery has failed|not delivered|mail system error|rejected|failed|error|bounce"
    r"|returning message|warning|delayed|not member|loop|unzustellbar|nicht zustellbar"
    r"|non remis|no entregado|エラー|不達|返送",
    re.I,
)
# "Re:" and its translations (group 1), "Fwd:" and its (group 2), after a
# tag a list or a ticket system may put first ("[Ticket #4711] Re:").
_PREFIX: Final = re.compile(
    r"\s*(?:\[[^\]\n]{0,60}\]\s*)?"
    r"(?:(re|aw|sv|vs|antw|ref|rif|odp)|(fwd?|tr|wg|rv|enc|doorst))\s*(?:\[\d+\])?\s*:",
    re.I,
)
# The subject of a bounce a person forwards: what only a mail system writes.
_FORWARDED_BOUNCE: Final = re.compile(
    r"undeliver|returned mail|delivery status notification|failure notice"
    r"|mail delivery (?:failed|failure|system)|delivery (?:has )?failed|non.?delivery"
    r"|could not be delivered|unzustellbar|nicht zustellbar|non remis",
    re.I,
)


def from_mail_system(head: Part) -> bool:
    """Whether the sender (From, Return-Path) is a mail system's: MAILER-DAEMON, postmaster."""
    sender = mime.header(head, "from") + " " + mime.header(head, "return-path")
    return _BOUNCE_SENDER.search(sender) is not None


def says_bounce(msg: Part, parts: mime.Parts) -> bool:
    """Whether the message presents itself as a bounce: report, sender, subject.

    An empty Return-Path is no sign here: auto-replies are sent with one too
    (RFC 3834).
    """
    if parts.delivery_status or mime.header(msg, "x-failed-recipients"):
        return True
    if from_mail_system(msg):
        return True
    subject = mime.header(msg, "subject")
    prefix = _PREFIX.match(subject)
    if prefix is None:
        return _BOUNCE_SUBJECT.search(subject) is not None
    forwarded = prefix.group(2) is not None
    return forwarded and _FORWARDED_BOUNCE.search(subject, prefix.end()) is not None


def looks_like_bounce(msg: Part, bounce_like: bool, written: str) -> bool:
    """Whether to read the message as a bounce (``bounce_like``: :func:`says_bounce`'s answer).

    Besides what the message says of itself, the null sender and a
    notice's wording count, except for a reply or forward: those come from
    people, or from auto-responders that answer with the letter's subject.
    """
    if bounce_like:
        return True
    if _PREFIX.match(mime.header(msg, "subject")):
        return False
    if mime.header(msg, "return-path").strip() == "<>":
        return True
    notice = written[:5000].lower()
    return bool(PERMANENT.search(notice) or DELAY.search(notice))


def says_delayed(msg: Part, written: str) -> bool:
    """Whether the notice as a whole reports a delay rather than a failure."""
    text = (mime.header(msg, "subject") + "\n" + written[:5000]).lower()
    return bool(DELAY.search(text)) and not PERMANENT.search(strip_boilerplate(text))
