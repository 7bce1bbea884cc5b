"""From a status code and a server's words to a kind (hard or soft) and a reason.

Mail servers say the same few things in thousands of ways, and the enhanced
status code (RFC 3463) is often missing, generic (``5.0.0``) or contradicted by
the text. So the wording is read first, against patterns grouped by cause;
the status code decides only when the wording says nothing we recognise.

A failure is ``hard`` only when the address does not exist or will never take
mail: user unknown, host unknown, has moved, not accepted (the last only when
permanent). Every other failure is ``soft``: it may pass, and the policy
scores it instead of acting at once.
"""

from __future__ import annotations

import re
from typing import Final

from mailer.bounces.model import HARD, SOFT

#: Reasons that mean the address itself is dead.
HARD_REASONS: Final = frozenset({"userunknown", "hostunknown", "hasmoved", "notaccept"})

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d])")
_REPLY = re.compile(r"(?<![\d.\-:/])([245][0-5]\d)(?:[ \-]|$)(?![\d.:])")

# Ordered: the first group whose pattern matches names the reason. Groups
# that name a specific, soft cause come before the generic "does not exist"
# wording, because servers often add "user unknown"-like filler to a policy
# rejection but rarely the reverse.
_RULES: Final[list[tuple[str, str]]] = [
    (
        "hasmoved",
        r"has moved|address (?:has )?changed|moved to (?:a )?new|no longer (?:at|with)"
        r"|new (?:e-?mail )?address is",
    ),
    (
        "mesgtoobig",
        r"(?:message|mail|e-?mail)(?: size)? (?:is )?too (?:big|large|long)"
        r"|size (?:limit )?exceed|exceeds? (?:the )?(?:maximum |max )?(?:message |allowed )?size"
        r"|message size (?:exceeds|limit)|too much mail data|message length exceeds"
        r"|larger than (?:the )?(?:allowed|permitted)|message file too big",
    ),
    (
        "mailboxfull",
        r"mailbox (?:is )?full|over ?quota|quota (?:exceeded|violation|full)"
        r"|exceed(?:ed|s)? (?:the |his |her |their |its )?(?:storage|quota|disk)"
        r"|(?:mailbox|mail ?box|account|inbox) (?:is |has )?(?:over|exceeded|full|out of space)"
        r"|insufficient (?:system )?storage|disk (?:quota|full)|not enough (?:disk )?space"
        r"|mailfolder is full|user.{0,20} is over|mailbox size limit|full mailbox"
        r"|would exceed|storage (?:limit|quota|allocation)|too many messages in (?:the )?mailbox"
        r"|mailbox (?:has )?exceeded",
    ),
    (
        "norelaying",
        r"relay(?:ing)? (?:access )?(?:denied|not permitted|prohibited|not allowed)"
        r"|not (?:permitted|allowed) to relay|unable to relay|we do not relay"
        r"|relay not permitted|no relaying|relaying mail to .* not allowed|not a gateway"
        r"|not our customer",
    ),
    ("virusdetected", r"virus|malware|infected"),
    (
        "securityerror",
        r"\bspf\b|\bdkim\b|\bdmarc\b|sender policy framework"
        r"|authentication (?:required|failed|failure)|not authenticated|authentication"
        r"|\bauth(?:entication)? (?:error|failure)|tls (?:is )?required|must issue a starttls"
        r"|encryption required|unauthenticated",
    ),
    (
        "requireptr",
        r"reverse (?:dns|lookup)|\bptr\b|no rdns|rdns|(?:dns|hostname) lookup"
        r" failure for|cannot find your hostname|reverse (?:hostname|address)"
        r"|ip name lookup failed|client host .* (?:name|hostname) (?:mismatch|lookup)"
        r"|does not resolve to",
    ),
    (
        "spamdetected",
        r"\bspam|\bjunk\b|bulk (?:e-?mail|mail)|unsolicited|content (?:was )?rejected"
        r" as|looks like spam|message (?:has been )?classified as|high probability of being",
    ),
    (
        "blocked",
        r"block(?:ed|list|ing)|black ?list|listed (?:on|in|at)|\bdnsbl\b|\brbl\b"
        r"|spamhaus|spamcop|barracuda ?central|sorbs|reputation|client host .*rejected"
        r"|access denied|connection (?:refused|rejected)|banned|denylist|not allowed to send"
        r"|your ip|ip address .*(?:rejected|not allowed)|has been temporarily rate limited"
        r"|throttl|poor reputation|\bdeny\b|denied by|refused by|sender (?:ip )?rejected"
        r"|rejected (?:by|due to) (?:the )?(?:local )?(?:policy|administrative)"
        r"|we do not accept mail from|service unavailable",
    ),
    (
        "toomanyconn",
        r"too many (?:connections|concurrent|sessions|recipients)|connection limit"
        r"|rate limit|too many messages|exceeded (?:the )?(?:rate|limit)|try again later"
        r"|sending (?:rate|quota)",
    ),
    (
        "expired",
        r"retry (?:time|timeout) (?:not reached|exceeded)|delivery time expired"
        r"|message (?:has been )?expired|expired|(?:gave|give|giving) up|could not be delivered"
        r" (?:within|for)|has not been delivered for|queue(?:d)? too long|time ?out"
        r"|timed out|no answer from|retry timeout exceeded|cannot send message for"
        r"|connection (?:lost|closed|dropped)|could not deliver (?:for|within)",
    ),
    (
        "suspend",
        r"suspend|disabled|deactivat|inactive|not active|locked|on ?hold"
        r"|account (?:is )?(?:expired|closed|frozen)|temporarily (?:unavailable|blocked)"
        r"|is not (?:currently )?accepting|expired account|mailbox (?:is )?(?:not )?(?:enabled|available for)",
    ),
    (
        "hostunknown",
        r"host (?:or domain name )?(?:not found|unknown|lookup failed)|unknown host"
        r"|domain (?:name )?(?:not found|unknown|does not exist|doesn'?t exist|is not valid)"
        r"|no such (?:domain|host)|unrouteable (?:mail )?domain|name or service not known"
        r"|nxdomain|no (?:valid )?(?:mx|a|dns) (?:or a )?records?|mx (?:record )?not found"
        r"|domain .* (?:not exist|unknown)|illegal host|unknown domain|invalid domain"
        r"|non-existent domain|non-existent host|hostname (?:not found|unknown)"
        r"|no route to host|recipient domain|couldn'?t find any host|unresolvable",
    ),
    (
        "notaccept",
        r"does not accept (?:mail|e-?mail|messages)|not accepting (?:any )?mail"
        r"|null mx|accepts no mail|no mail (?:is )?accepted|will not accept mail",
    ),
    (
        "userunknown",
        r"(?:user|recipient|mailbox|account|address|addressee|local.?part)"
        r"(?: name)?(?: is)? (?:unknown|not found|not known|doesn'?t exist|does not exist"
        r"|invalid|not (?:listed|recogni[sz]ed|valid|exist)|unavailable|no longer)"
        r"|unknown (?:user|recipient|mailbox|account|local.?part|address|e-?mail)"
        r"|no such (?:user|recipient|mailbox|account|address|person|local user|e-?mail)"
        r"|invalid (?:recipient|mailbox|user|address|e-?mail|account)|not a valid (?:user|mailbox"
        r"|recipient|address)|unrouteable address|does not exist|doesn'?t exist|not exist"
        r"|no mailbox|mailbox not|not our user|is not a known user|user not local"
        r"|bad destination (?:mailbox|address)|recipient rejected|address rejected"
        r"|no (?:valid )?(?:user|recipient|account)s? (?:here|by that name|with that)"
        r"|not listed in|cannot be found|could not be found|never logged|not recognized"
        r"|not recognised|dosn'?t have|not have an account|unknown or illegal alias"
        r"|user doesn'?t|i have no one by that name|who\? |sorry, no mailbox"
        r"|no one by that name|undeliverable address|invalid address|bad address"
        r"|mailbox unavailable|recipient .* (?:not|no longer) (?:valid|available)",
    ),
    (
        "contenterror",
        r"content|mime|header|charset|encoding|8bit|line too long|message (?:is )?"
        r"malformed|attachment|format",
    ),
    ("policyviolation", r"polic(?:y|ies)|prohibited|not permitted|not allowed|violat"),
    ("filtered", r"filter|rejected|refused|not authorized|unauthorized|restricted"),
    (
        "syntaxerror",
        r"syntax error|command unrecognized|command not implemented"
        r"|bad sequence of commands|invalid command|unrecognized command",
    ),
    (
        "systemerror",
        r"system error|internal error|server error|local error|temporary failure"
        r"|loop|too many hops|mail (?:server|system) (?:error|failure|problem)|i/o error"
        r"|configuration error|mailer error|unknown mailer|out of memory|resources",
    ),
    (
        "networkerror",
        r"network|could not connect|unable to connect|connect(?:ion)? to .* failed"
        r"|host unreachable|unreachable|dns|lookup",
    ),
]
_COMPILED: Final = [(reason, re.compile(pattern, re.I)) for reason, pattern in _RULES]

# Enhanced status codes that name one cause unambiguously.
_BY_STATUS: Final = {
    "1.1": "userunknown",
    "1.0": "userunknown",
    "1.3": "userunknown",
    "1.2": "hostunknown",
    "1.6": "hasmoved",
    "1.10": "notaccept",
    "2.1": "suspend",
    "2.2": "mailboxfull",
    "2.3": "mesgtoobig",
    "3.4": "mesgtoobig",
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
    "7.13": "suspend",
    "7.23": "securityerror",
    "7.24": "securityerror",
    "7.25": "requireptr",
    "7.26": "securityerror",
    "7.27": "notaccept",
}


def find_status(text: str) -> str:
    """The first enhanced status code (``5.1.1``) in ``text``, or ``""``."""
    for match in _STATUS.finditer(text):
        klass, subject, detail = match.groups()
        if int(subject) <= 7 and int(detail) <= 30:
            return f"{klass}.{subject}.{detail}"
    return ""


def find_reply_code(text: str) -> str:
    """The first SMTP reply code (``550``) in ``text``, or ``""``."""
    match = _REPLY.search(text)
    return match.group(1) if match else ""


def reason_from_text(text: str) -> str:
    """The cause the wording names, or ``""`` when it names none we know."""
    if not text:
        return ""
    for reason, pattern in _COMPILED:
        if pattern.search(text):
            return reason
    return ""


def reason_from_status(status: str) -> str:
    """The cause an enhanced status code names on its own, or ``""``."""
    if not status or status.endswith(".0.0"):
        return ""
    return _BY_STATUS.get(status.split(".", 1)[1], "")


def kind_of(reason: str, status: str, reply: str = "") -> str:
    """Hard or soft: hard only for a dead address, and never for a 4xx answer."""
    temporary = status.startswith("4") or (not status and reply.startswith("4"))
    if reason in HARD_REASONS and not temporary:
        return HARD
    return SOFT


def classify(status: str, diagnostic: str) -> tuple[str, str, str]:
    """``(kind, reason, status)`` for one failed recipient.

    The status returned is the one given, or one found in the diagnostic, or
    one inferred from the reason, so that every failure carries a code.
    """
    status = status or find_status(diagnostic)
    reply = find_reply_code(diagnostic)
    reason = reason_from_text(diagnostic)
    by_status = reason_from_status(status)
    if by_status in HARD_REASONS and reason not in HARD_REASONS and reason in _WEAK:
        # A precise "no such user" code beats vague wording ("rejected", "policy").
        reason = by_status
    if not reason:
        reason = by_status
    if not reason:
        reason = "onhold" if not diagnostic.strip() else "undefined"
    if not status:
        status = _inferred_status(reason, reply)
    return kind_of(reason, status, reply), reason, status


# Wording so vague that a specific status code should overrule it.
_WEAK: Final = frozenset(
    {
        "",
        "filtered",
        "policyviolation",
        "contenterror",
        "systemerror",
        "networkerror",
        "syntaxerror",
        "blocked",
        "expired",
        "suspend",
    }
)

_INFERRED: Final = {
    "userunknown": "1.1",
    "hostunknown": "1.2",
    "hasmoved": "1.6",
    "notaccept": "1.10",
    "mailboxfull": "2.2",
    "mesgtoobig": "3.4",
    "suspend": "2.1",
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
