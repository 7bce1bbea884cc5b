"""From a status code and a server's words to a kind (hard or soft) and a reason.

Mail servers say the same few things in thousands of ways, and the enhanced
status code (RFC 3463) is often missing, generic (``5.0.0``) or contradicted by
the text. So the wording is read first, against patterns grouped by cause;
the status code decides only when the wording says nothing we recognise.

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

import functools
import re
from typing import Final

from mailer.bounces.model import HARD, SOFT

#: Reasons that mean the address itself is dead.
HARD_REASONS: Final = frozenset({"userunknown", "hostunknown", "hasmoved", "notaccept"})

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d])")
_REPLY = re.compile(r"(?<![\d.\-:/])([245][0-5]\d)(?:[ \-]|$)(?![\d.:])")

# Ordered: the first group whose pattern matches names the reason. Three
# tiers: wording that overrides everything (a problem with the *sender*, a full
# mailbox, a moved address); then the "address is dead" wording; then the
# other soft causes. Servers often wrap a policy rejection in
# "Recipient address rejected:", so that phrase alone decides nothing.
_RULES: Final[list[tuple[str, str]]] = [
    ("rejected", r"not have permission to post|sender (?:address |domain )?(?:rejected|refused"
     r"|denied|unknown|invalid|verify failed|verification failed|not (?:allowed|permitted))"
     r"|domain of sender|envelope sender|sender domain|mail from .*(?:rejected|refused)"
     r"|your (?:e-?mail )?address .* (?:rejected|not allowed)"),
    ("hasmoved", r"has moved|address (?:has )?changed|moved to (?:a )?new|no longer (?:at|with)"
     r"|new (?:e-?mail )?address is"),
    ("toolarge", r"(?:message|mail|e-?mail)(?: size)? (?:is )?too (?:big|large|long)"
     r"|size (?:limit )?exceed|exceeds? (?:the )?(?:maximum |max )?(?:message |allowed )?size"
     r"|message size (?:exceeds|limit)|too much mail data|message length exceeds"
     r"|larger than (?:the )?(?:allowed|permitted)|message file too big"),
    ("mailboxfull", r"mailbox (?:is )?full|over ?quota|quota (?:exceeded|violation|full)"
     r"|exceed(?:ed|s)? (?:the |his |her |their |its )?(?:storage|quota|disk)"
     r"|(?:mailbox|mail ?box|account|inbox) (?:is |has )?(?:over|exceeded|full|out of space)"
     r"|insufficient (?:system )?storage|disk (?:quota|full)|not enough (?:disk )?space"
     r"|mailfolder is full|user.{0,20} is over|mailbox size limit|full mailbox"
     r"|would exceed|storage (?:limit|quota|allocation)|too many messages in (?:the )?mailbox"
     r"|mailbox (?:has )?exceeded|一杯|容量"),
    ("norelaying", r"relay(?:ing)? (?:access )?(?:denied|not permitted|prohibited|not allowed)"
     r"|not (?:permitted|allowed) to relay|unable to relay|we do not relay"
     r"|relay not permitted|no relaying|relaying mail to .* not allowed|not a gateway"),
    ("requireptr", r"\bptr\b|reverse (?:dns|lookup|hostname|address)|no rdns|\brdns\b"
     r"|cannot find your hostname|ip name lookup failed|does not resolve to"),
    ("filtered", r"\b5\d\d\s*:?\s+:\s*user unknown|refused due to recipient preferences"
     r"|rejected by (?:the )?recipient'?s? (?:filter|preferences)"),
    # The address is dead.
    ("userunknown", r"recipient address rejected: access denied|invalid (?:final )?delivery userid"
     r"|not listed in (?:the )?(?:domino|public|address|directory)|user .* not listed"),
    ("hostunknown", r"account or domain may not exist"
     r"|domain (?:is )?(?:not reachable|unreachable)"),
    ("notaccept", r"does not accept (?:mail|e-?mail|messages)|not accepting (?:any )?mail"
     r"|null mx|accepts no mail|no mail (?:is )?accepted|will not accept mail"
     r"|indicated no smtp service|no smtp service"),
    ("networkerror", r"malformed or unexpected name server|name server reply|try again"
     r"|temporary (?:dns|lookup)"),
    ("hostunknown", r"host (?:or domain name )?(?:not found|unknown|lookup failed)|unknown host"
     r"|domain (?:name )?(?:not found|unknown|does not exist|doesn'?t exist|is not valid)"
     r"|no such (?:domain|host)|unrouteable (?:mail )?domain|name or service not known"
     r"|nxdomain|no (?:valid )?(?:mx|a|dns) (?:or a )?records?|mx (?:record )?not found"
     r"|domain .* (?:not exist|unknown)|illegal host|unknown domain|invalid domain"
     r"|non-existent domain|non-existent host|hostname (?:not found|unknown)"
     r"|host [^\s]+ not found|couldn'?t find any host|unresolvable|no mx found"),
    ("suspended", r"suspend|disabled|deactivat|inactive|not active|account (?:is )?(?:locked|frozen"
     r"|closed|expired)|expired account|on ?hold"),
    ("userunknown", r"(?:user|recipient|mailbox|account|address|addressee|local.?part)"
     r"(?: name)?(?: is)? (?:unknown|not found|not known|doesn'?t exist|does not exist"
     r"|invalid|not (?:listed|recogni[sz]ed|valid|exist)|unavailable|no longer)"
     r"|unknown (?:user|recipient|mailbox|account|local.?part|address|e-?mail)"
     r"|no such (?:user|recipient|mailbox|account|address|person|local user|e-?mail)"
     r"|invalid (?:recipient|mailbox|user|address|e-?mail|account)|not a valid (?:user|mailbox"
     r"|recipient|address)|unrouteable address|does not exist|doesn'?t exist|not exist"
     r"|no mailbox|mailbox not|not our user|is not a known user|user not local"
     r"|bad destination (?:mailbox|address)"
     r"|no (?:valid )?(?:user|recipient|account)s? (?:here|by that name|with that)"
     r"|cannot be found|could not be found|never logged|not recognized"
     r"|not recognised|dosn'?t have|not have an account|unknown or illegal alias"
     r"|user doesn'?t|i have no one by that name|sorry, no mailbox"
     r"|no one by that name|undeliverable address|invalid address|bad address"
     r"|mailbox unavailable|recipient .* (?:not|no longer) (?:valid|available)"
     r"|見つかりません|存在しません"),
    # Every other cause is soft.
    ("virusdetected", r"virus|malware|infected"),
    ("securityerror", r"\bspf\b|\bdkim\b|\bdmarc\b|sender policy framework"
     r"|authentication (?:required|failed|failure)|not authenticated|authentication"
     r"|\bauth(?:entication)? (?:error|failure)|tls (?:is )?required|must issue a starttls"
     r"|encryption required|unauthenticated|not authorized"),
    ("requireptr", r"client host .* (?:name|hostname) (?:mismatch|lookup)"),
    ("spamdetected", r"\bspam(?!haus|cop)|\bjunk\b|bulk (?:e-?mail|mail)|unsolicited"
     r"|content (?:was )?rejected"
     r" as|looks like spam|message (?:has been )?classified as|high probability of being"),
    ("blocked", r"block(?:ed|list|ing)|black ?list|(?<!not )listed (?:on|in|at)|\bdnsbl\b"
     r"|\brbl\b|spamhaus|spamcop|barracuda ?central|sorbs|reputation|client host .*rejected"
     r"|access denied|connection (?:refused|rejected)|banned|denylist|not allowed to send"
     r"|your ip|ip address .*(?:rejected|not allowed)|has been temporarily rate limited"
     r"|throttl|\bdeny\b|denied by|refused by|sender (?:ip )?rejected"
     r"|rejected (?:by|due to) (?:the )?(?:local )?(?:policy|administrative)"
     r"|we do not accept mail from|service unavailable"),
    ("toomanyconn", r"too many (?:connections|concurrent|sessions|recipients)|connection limit"
     r"|rate limit|too many messages|exceeded (?:the )?(?:rate|limit)|try again later"
     r"|sending (?:rate|quota)"),
    ("expired", r"retry (?:time|timeout) (?:not reached|exceeded)|delivery time expired"
     r"|message (?:has been )?expired|expired|(?:gave|give|giving) up|could not be delivered"
     r" (?:within|for)|has not been delivered for|queue(?:d)? too long|time ?out"
     r"|timed out|no answer from|retry timeout exceeded|cannot send message for"
     r"|connection (?:lost|closed|dropped)|could not deliver (?:for|within)"),
    ("suspended", r"locked|temporarily (?:unavailable|blocked)|is not (?:currently )?accepting"),
    ("policyviolation", r"polic(?:y|ies)|prohibited|not permitted|not allowed|violat"),
    ("contenterror", r"content|\bmime\b|header|charset|encoding|8bit|line too long"
     r"|message (?:is )?malformed|attachment|media error"),
    ("filtered", r"filter|rejected|refused|unauthorized|restricted"),
    ("syntaxerror", r"syntax error|command unrecognized|command not implemented"
     r"|bad sequence of commands|invalid command|unrecognized command"),
    ("systemerror", r"system error|internal error|server error|local error|temporary failure"
     r"|loop|too many hops|mail (?:server|system) (?:error|failure|problem)|i/o error"
     r"|configuration error|mailer error|unknown mailer|out of memory|resources"),
    ("networkerror", r"network|could not connect|unable to connect|connect(?:ion)? to .* failed"
     r"|host unreachable|unreachable|dns|lookup"),
]
# Patterns are lower case and matched against lower-cased text: case-blind
# matching of long alternations is several times slower in ``re``.
_COMPILED: Final = [(reason, re.compile(pattern, re.M)) for reason, pattern in _RULES]
#: Wording past this many characters is not read (the cause comes first).
_MAX_TEXT: Final = 3000
# Rules before this index name their cause precisely; after it, vaguely.
_PRECISE: Final = next(i for i, (reason, _) in enumerate(_RULES) if reason == "virusdetected")

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


def forget_wordings() -> None:
    """Empty the memo of classified wordings (a benchmark starts each pass cold)."""
    _match_lower.cache_clear()


def precise_reason(text: str) -> str:
    """The cause the wording names when it names it precisely, else ``""``."""
    reason, precise = _match(text)
    return reason if precise else ""


def reason_from_text(text: str) -> str:
    """The cause the wording names, or ``""`` when it names none we know."""
    return _match(text)[0]


def _match(text: str) -> tuple[str, bool]:
    """The cause the wording names and whether the wording is precise."""
    if not text:
        return "", False
    return _match_lower(text[:_MAX_TEXT].lower())


@functools.lru_cache(maxsize=512)
def _match_lower(text: str) -> tuple[str, bool]:
    # The same diagnostic is asked about several times while one message is read.
    for index, (reason, pattern) in enumerate(_COMPILED):
        if pattern.search(text):
            return reason, index < _PRECISE
    return "", False


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


_AFTER_DATA: Final = re.compile(
    r"(?:in reply to|after) (?:the )?(?:end of )?data\b|>>> data\b|smtp command\W*data"
    r"|data command|while sending (?:the )?(?:message|data)",
    re.I,
)


_GENERIC: Final = re.compile(r"(?:requested )?(?:mail )?action not taken:? mailbox unavailable"
                             r"|mailbox unavailable", re.I)


def _only_generic_wording(text: str) -> bool:
    """Whether "user unknown" was read only from a reply code's standard text."""
    return _match(_GENERIC.sub(" ", text))[0] != "userunknown"


_FILTER_WORDING: Final = re.compile(r"user unknown|unknown user|no such user", re.I)
_COMMAND: Final = re.compile(r"^\s*>>>\s*([A-Za-z]+)", re.M)
_RCPT: Final = re.compile(r"rcpt to|rcpt command|after rcpt", re.I)


def _refused_at_data(text: str) -> bool:
    """Whether the "user unknown" answer came to DATA rather than to RCPT TO.

    A session transcript shows the command before the answer (``>>> DATA``);
    other servers say ``in reply to end of DATA command`` after it.
    """
    for match in _FILTER_WORDING.finditer(text):
        before = text[max(0, match.start() - 400): match.start()]
        after = text[match.end(): match.end() + 200]
        commands = _COMMAND.findall(before)
        if commands:
            if commands[-1].upper() == "DATA":
                return True
            continue
        if _AFTER_DATA.search(before[-200:] + after):
            return True
    return False


def classify(status: str, diagnostic: str, stage: str = "") -> tuple[str, str, str]:
    """``(kind, reason, status)`` for one failed recipient.

    ``stage`` is any text that may say which SMTP command the server refused.
    "User unknown" in answer to the message itself (DATA), not to the
    address (RCPT), is how some providers refuse senders their user filters
    out: the address exists, so it is ``filtered``, not dead.

    The status returned is the one given, or one found in the diagnostic, or
    one inferred from the reason, so that every failure carries a code.
    """
    status = status or find_status(diagnostic)
    reply = find_reply_code(diagnostic)
    reason, precise = _match(diagnostic)
    if status[2:] in ("1.7", "1.8") and reason not in ("mailboxfull", "toolarge"):
        reason = "rejected"  # the server refused the sender's address, not ours
    if (
        reason == "userunknown"
        and reason_from_status(status) not in HARD_REASONS
        and _FILTER_WORDING.search(diagnostic)
        and _refused_at_data(stage or diagnostic)
    ):
        reason = "filtered"
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
