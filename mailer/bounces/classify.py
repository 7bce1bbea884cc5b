"""From a status code and a server's words to a kind (hard or soft) and a reason.

Mail servers say the same few things in thousands of ways, and the enhanced
status code (RFC 3463) is often missing, generic (``5.0.0``) or contradicted by
the text. So the wording is read first (``bounces.wording``, patterns grouped
by cause); the status code decides only when the wording says nothing we
recognise.

A failure is ``hard`` only when the address does not exist or will never take
mail: user unknown, host unknown, has moved, not accepted (the last only when
permanent). Every other failure is ``soft``: it may pass, and the policy
scores it instead of acting at once.

Reason words: hard ``userunknown``, ``hostunknown``, ``hasmoved``,
``notaccept``; soft ``mailboxfull``, ``toolarge``, ``suspended``, ``blocked``,
``spamdetected``, ``virusdetected``, ``policyviolation``, ``securityerror``,
``requireptr``, ``filtered``, ``rejected`` (the sender was refused),
``norelaying``, ``toomanyconn``, ``expired``, ``contenterror``,
``syntaxerror``, ``systemerror``, ``networkerror``, ``mailererror``,
``onhold`` and ``undefined`` (no cause given or recognised). Complaints say
``feedback`` (or ``notspam``), auto-replies ``vacation``.
"""

from __future__ import annotations

import re
from typing import Final

from mailer.bounces.model import HARD, SENDER_REFUSED, SOFT
from mailer.bounces.stage import DATA, GREETING, MAIL, smtp_command
from mailer.bounces.wording import match_wording

#: Reasons that mean the address itself is dead.
HARD_REASONS: Final = frozenset({"userunknown", "hostunknown", "hasmoved", "notaccept"})

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d])")
_REPLY = re.compile(r"(?<![\d.\-:/])([245][0-5]\d)(?:[ \-]|$)(?![\d.:])")

# Enhanced status codes that name one cause unambiguously.
_BY_STATUS: Final = {
    "1.1": "userunknown",
    "1.0": "userunknown",
    "1.3": "userunknown",
    "1.2": "hostunknown",
    "1.6": "hasmoved",
    "1.10": "notaccept",
    "2.1": "suspended",
    "2.2": "mailboxfull",
    "2.3": "toolarge",
    "3.4": "toolarge",
    "2.4": "systemerror",
    "3.0": "systemerror",
    "3.1": "mailboxfull",
    "3.2": "notaccept",
    "3.5": "systemerror",
    "4.1": "networkerror",
    "4.2": "networkerror",
    "4.3": "systemerror",
    "4.4": "hostunknown",
    "4.5": "networkerror",
    "4.6": "networkerror",
    "4.7": "expired",
    "5.0": "syntaxerror",
    "5.1": "syntaxerror",
    "5.2": "syntaxerror",
    "5.3": "toomanyconn",
    "5.4": "syntaxerror",
    "6.0": "contenterror",
    "6.1": "contenterror",
    "6.3": "contenterror",
    "7.0": "securityerror",
    "7.1": "blocked",
    "7.7": "securityerror",
    "7.8": "securityerror",
    "7.9": "securityerror",
    "7.13": "suspended",
    "7.23": "securityerror",
    "7.24": "securityerror",
    "7.25": "requireptr",
    "7.26": "securityerror",
    "7.27": "notaccept",
}


def find_status(text: str) -> str:
    """The most specific enhanced status code in ``text`` (``5.1.1``), or ``""``.

    Servers often put a generic code first (``550 5.0.0``, or ``#5.1.0``)
    and the precise one after it; a later code counts only in the class of
    the first (a 2.x.x of an earlier command is not the failure's).
    """
    best, rank = "", -1
    for found in _STATUS.finditer(text):
        klass, subject, detail = found.groups()
        if int(subject) > 7 or int(detail) > 30:
            continue
        if best and klass != best[0]:
            continue
        code = f"{klass}.{subject}.{detail}"
        if (specific := _specificity(code)) > rank:
            best, rank = code, specific
            if rank == 2:
                break
    return best


def more_specific(given: str, text: str) -> str:
    """``given`` (a report's Status), or the text's code when that says more.

    A report's ``Status: 5.0.0`` beside ``550 5.1.1 user unknown`` is the
    reporting server's shrug; the remote server's own code is the answer.
    """
    found = find_status(text)
    if not given:
        return found
    if not found or found[0] != given[0]:
        return given
    return found if _specificity(found) > _specificity(given) else given


def _specificity(code: str) -> int:
    """0 for ``5.0.0``, 1 for ``5.1.0``, 2 for ``5.1.1``."""
    _, subject, detail = code.split(".")
    return (subject != "0") + (detail != "0")


def find_reply_code(text: str) -> str:
    """The first SMTP reply code (``550``) in ``text``, or ``""``."""
    match = _REPLY.search(text)
    return match.group(1) if match else ""


def reason_from_status(status: str) -> str:
    """The cause an enhanced status code names on its own, or ``""``."""
    if not status or status.endswith(".0.0"):
        return ""
    return _BY_STATUS.get(status.split(".", 1)[1], "")


def kind_of(reason: str, status: str, reply: str = "") -> str:
    """Hard or soft: hard only for a dead address ("not accepted" only when permanent)."""
    if reason == "notaccept":
        temporary = status.startswith("4") or (not status and reply.startswith("4"))
        return SOFT if temporary else HARD
    return HARD if reason in HARD_REASONS else SOFT


_GENERIC: Final = re.compile(r"(?:requested )?(?:mail )?action not taken:? mailbox unavailable"
                             r"|mailbox unavailable", re.I)


def _only_generic_wording(text: str) -> bool:
    """Whether "user unknown" was read only from a reply code's standard text."""
    return match_wording(_GENERIC.sub(" ", text))[0] != "userunknown"


_FILTER_WORDING: Final = re.compile(r"user unknown|unknown user|no such user", re.I)


def classify(status: str, diagnostic: str, stage: str = "") -> tuple[str, str, str]:
    """``(kind, reason, status)`` for one failed recipient.

    ``stage`` is any text that may say which SMTP command the server refused
    (``bounces.stage``); what the command changes is :func:`_by_stage`'s.

    The status returned is the one given or, when the diagnostic's is more
    specific, that one; else one inferred from the reason, so that every
    failure carries a code.
    """
    status = more_specific(status, diagnostic)
    reply = find_reply_code(diagnostic)
    reason, precise = match_wording(diagnostic)
    reason = _by_stage(reason, status, reply, diagnostic, smtp_command(stage or diagnostic))
    temporary = status.startswith("4") or (not status and reply.startswith("4"))
    if reason == "userunknown" and temporary and _only_generic_wording(diagnostic):
        # "mailbox unavailable" is merely the standard text of 450 and 550;
        # with a 4xx code it says the mailbox is busy, not that it is gone.
        reason = "onhold"
    if reason == "hostunknown" and status.startswith("4"):
        reason = "networkerror"  # a lookup that may work next time
    by_status = reason_from_status(status)
    weak = not precise and reason in _WEAK
    if by_status in HARD_REASONS and reason not in HARD_REASONS and weak:
        # A precise "no such user" code beats vague wording ("rejected", "policy").
        reason = by_status
    if not reason:
        reason = by_status
    if not reason:
        reason = "onhold" if not diagnostic.strip() else "undefined"
    if not status:
        status = _inferred_status(reason, reply)
    return kind_of(reason, status, reply), reason, status


def _by_stage(reason: str, status: str, reply: str, diagnostic: str, command: str) -> str:
    """The reason once the refused command is known.

    - At MAIL FROM, or with a bad-sender code (5.1.7, 5.1.8), the server
      refused *our* sender before it heard of the recipient: ``rejected``,
      whatever the words ("user unknown" is then our address), unless they
      say the message is too large or the mailbox full.
    - At the greeting nothing is known of the recipient either: words that
      would declare the address dead say the server ``blocked`` us.
    - "User unknown" in answer to the message itself (DATA), not to the
      address (RCPT), is how some providers refuse senders their user
      filters out: the address exists, so it is ``filtered``, not dead.
    """
    if (command == MAIL or status[2:] in ("1.7", "1.8")) and reason not in (
        "mailboxfull", "toolarge"
    ):
        return SENDER_REFUSED
    if command == GREETING and kind_of(reason, status, reply) == HARD:
        return "blocked"
    if (
        command == DATA
        and reason == "userunknown"
        and reason_from_status(status) not in HARD_REASONS
        and _FILTER_WORDING.search(diagnostic)
    ):
        return "filtered"
    return reason


# Wording so vague that a specific status code should overrule it.
_WEAK: Final = frozenset(
    {"", "policyviolation", "contenterror", "systemerror", "syntaxerror", "filtered"}
)

_INFERRED: Final = {
    "userunknown": "1.1",
    "hostunknown": "1.2",
    "hasmoved": "1.6",
    "notaccept": "1.10",
    "mailboxfull": "2.2",
    "toolarge": "3.4",
    "suspended": "2.1",
    "norelaying": "7.1",
    "blocked": "7.1",
    "spamdetected": "7.1",
    "policyviolation": "7.1",
    "securityerror": "7.1",
    "virusdetected": "7.1",
    "requireptr": "7.25",
    "filtered": "2.0",
    "expired": "4.7",
    "toomanyconn": "4.5",
    "contenterror": "6.0",
    "systemerror": "3.0",
    "networkerror": "4.0",
    "syntaxerror": "5.2",
}


def _inferred_status(reason: str, reply: str) -> str:
    klass = reply[0] if reply else "5"
    if reason == "expired":
        klass = "4" if not reply else klass
    tail = _INFERRED.get(reason, "0.0")
    return f"{klass}.{tail}"
