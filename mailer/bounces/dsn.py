"""The standard formats: RFC 3464 delivery status, RFC 5965 feedback, RFC 3834.

These are the easy cases, in theory: fields with names. In practice servers
fold, repeat and omit fields, write the address with or without its type
(``rfc822;``), and leave the diagnostic empty; so fields are read leniently and
whatever is missing is left for the wording of the notice to supply.
"""

from __future__ import annotations

import re
from typing import Final

from mailer.bounces import mime
from mailer.bounces.addresses import addresses_in, first_address
from mailer.bounces.classify import find_status
from mailer.bounces.mime import Part
from mailer.bounces.model import AUTO_REPLY, COMPLAINT, Finding

_RECIPIENT_FIELDS: Final = frozenset({"final-recipient", "original-recipient", "action", "status"})
_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9\-]*)\s*:\s?(.*)$")


def field_blocks(text: str) -> list[dict[str, str]]:
    """Split a report into blocks of fields (lower-case names, unfolded values)."""
    blocks: list[dict[str, str]] = []
    # Values are gathered as pieces and joined once: adding to a string field
    # by field would copy it again for every folded line.
    current: dict[str, list[str]] = {}
    last = ""
    for line in text.replace("\r", "").split("\n"):
        if not line.strip():
            if current:
                blocks.append(_joined(current))
                current, last = {}, ""
            continue
        if line[0] in " \t" and last:
            current[last].append(" " + line.strip())
            continue
        match = _FIELD.match(line)
        if match:
            last = match.group(1).lower()
            value = match.group(2).strip()
            if last in _RECIPIENT_FIELDS and last in current:
                # The next recipient's block, with the blank line left out.
                blocks.append(_joined(current))
                current = {}
            if last in current:
                current[last].append(", " + value)
            else:
                current[last] = [value]
    if current:
        blocks.append(_joined(current))
    return blocks


def _joined(fields: dict[str, list[str]]) -> dict[str, str]:
    return {name: "".join(pieces) for name, pieces in fields.items()}


def _strip_type(value: str) -> str:
    """``smtp; 550 ...`` → ``550 ...``; ``rfc822;a@b`` → ``a@b``."""
    head, sep, tail = value.partition(";")
    if sep and len(head) < 12 and " " not in head.strip():
        return tail.strip()
    return value.strip()


def read_delivery_status(text: str) -> list[Finding]:
    """One finding per recipient block of a ``message/delivery-status`` body."""
    findings: list[Finding] = []
    for block in field_blocks(text):
        final = block.get("final-recipient", "") or block.get("x-actual-recipient", "")
        original = block.get("original-recipient", "")
        recipient = first_address(_strip_type(final)) or first_address(_strip_type(original))
        if not recipient:
            continue
        raw_diagnostic = block.get("diagnostic-code", "")
        diagnostic = _strip_type(raw_diagnostic)
        # A local delivery program's complaint (X-Unix) is the mail system's
        # failure, whatever words it uses.
        reason = "mailererror" if raw_diagnostic.lower().startswith("x-unix") else ""
        status = find_status(block.get("status", ""))
        action = block.get("action", "").strip().lower().split(" ")[0].rstrip(";,")
        findings.append(
            Finding(
                recipient=recipient, status=status, diagnostic=diagnostic, action=action,
                reason=reason,
            )
        )
    return findings


def looks_like_delivery_status(text: str) -> bool:
    """Whether a text part is really a delivery-status report sent with the wrong type."""
    return bool(re.search(r"^(?:Final|Original)-Recipient\s*:", text, re.M | re.I)) and bool(
        re.search(r"^(?:Action|Status)\s*:", text, re.M | re.I)
    )


def read_feedback(text: str, originals: list[Part], headers_text: list[str]) -> list[Finding]:
    """Complaints from an ARF report: the recipients it names, or the original's To."""
    fields: dict[str, str] = {}
    for block in field_blocks(text):
        fields.update(block)
    feedback_type = fields.get("feedback-type", "abuse").strip().lower() or "abuse"
    recipients = addresses_in(fields.get("original-rcpt-to", ""))
    recipients += addresses_in(fields.get("removal-recipient", ""))
    if not recipients:
        recipients = original_recipients(originals, headers_text)
    reason = "feedback" if feedback_type != "not-spam" else "notspam"
    diagnostic = f"feedback-type: {feedback_type}"
    if not recipients:
        # The report hides the address (redacted); the complaint still counts.
        return [Finding(recipient="", kind=COMPLAINT, reason=reason, diagnostic=diagnostic)]
    return [
        Finding(recipient=r, kind=COMPLAINT, reason=reason, diagnostic=diagnostic)
        for r in dict.fromkeys(recipients)
    ]


def original_recipients(originals: list[Part], headers_text: list[str]) -> list[str]:
    """The To (and Cc) of the returned original message, when it came back."""
    found: list[str] = []
    for msg in originals:
        for name in ("to", "cc"):
            found += addresses_in(mime.header(msg, name))
    for text in headers_text:
        for block in field_blocks(text)[:1]:
            found += addresses_in(block.get("to", ""))
            found += addresses_in(block.get("cc", ""))
    return list(dict.fromkeys(found))


# RFC 3834 and the pre-standard headers vacation programs set.
_AUTO_HEADERS: Final = (
    ("x-autoreply", r"."),
    ("x-autorespond", r"."),
    ("x-auto-reply-from", r"."),
    ("x-mail-autoreply", r"."),
    ("x-autogenerated", r"reply"),
    ("precedence", r"auto.?reply"),
    ("x-precedence", r"auto.?reply"),
    ("auto-submitted", r"auto-replied"),
)
_AUTO_SUBJECT: Final = re.compile(
    r"^\s*(?:auto(?:matic)?[ \-_]?(?:reply|response|answer|antwort)|auto:|out of (?:the )?office"
    r"|vacation|away from|on vacation|abwesen|r[ée]ponse automatique|absence|respuesta autom"
    r"|risposta automatica|自動|不在)",
    re.I,
)


#: What else says no person wrote a message (RFC 3834 section 2): any Auto-Submitted
#: but "no", and the Precedence of list and bulk mail.
_AUTOMATIC_HEADERS: Final = (
    ("auto-submitted", r"^\s*(?!no\b)\S"),
    ("precedence", r"^\s*(bulk|junk|list)\b"),
    ("x-precedence", r"^\s*(bulk|junk|list)\b"),
)


def _vacation_sign(msg: Part) -> str:
    """The header or subject that shows a vacation message, or ``""``."""
    for name, pattern in _AUTO_HEADERS:
        if re.search(pattern, mime.header(msg, name), re.I):
            return name
    return "subject" if _AUTO_SUBJECT.search(mime.header(msg, "subject")) else ""


def automatic(msg: Part) -> str:
    """What shows that a program, not a person, sent this message (``""``: nothing).

    The vacation signs the bounce reader knows, and also any ``Auto-Submitted``
    other than ``no`` and ``Precedence: bulk``, ``junk`` or ``list``: mail that
    RFC 3834 says no program should answer, and that no member wrote. Returns
    the header's name and value (or the subject), for the record.
    """
    for name, pattern in _AUTOMATIC_HEADERS:
        value = mime.header(msg, name)
        if re.search(pattern, value, re.I):
            return f"{name}: {value[:40]}"
    sign = _vacation_sign(msg)
    if sign:
        return f"{sign}: {mime.header(msg, sign)[:40]}"
    return ""


def auto_reply(msg: Part, *, reads_like_bounce: bool = False) -> Finding | None:
    """An auto-reply event for the message's sender, if it is a vacation message.

    Mail systems mark their bounces as automatic too (Exim writes
    ``Auto-Submitted: auto-replied``): a message that ``reads_like_bounce``
    (by its sender or subject) is an auto-reply only by an auto-reply's own
    subject, never by those headers alone.
    """
    if not _AUTO_SUBJECT.search(mime.header(msg, "subject")):
        if reads_like_bounce:
            return None
        hit = any(
            re.search(pattern, mime.header(msg, name), re.I) for name, pattern in _AUTO_HEADERS
        )
        if not hit:
            return None
    sender = first_address(mime.header(msg, "from")) or first_address(
        mime.header(msg, "sender")
    )
    return Finding(recipient=sender, kind=AUTO_REPLY, reason="vacation")
