"""Formats that fit neither the standard reports nor the plain notice shapes.

Each reader here recognises one family by something the family always has
(a header, a JSON shape) and returns findings, or ``None`` when the message is
not of its family.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from mailer.bounces import mime
from mailer.bounces.addresses import addresses_in, first_address
from mailer.bounces.classify import find_status
from mailer.bounces.mime import Part
from mailer.bounces.model import COMPLAINT, Finding


def hotmail_complaint(originals: list[Part], msg: Part) -> list[Finding] | None:
    """Microsoft's JMRP complaint: recipient in X-HmXmrOriginalRecipient.

    The header is on the attached original, or, where the complaint comes as
    the reported message itself, on the message we received.
    """
    for original in [msg, *originals]:
        recipient = mime.header(original, "x-hmxmroriginalrecipient")
        if recipient:
            return [
                Finding(
                    recipient=first_address(recipient) or recipient.lower(),
                    kind=COMPLAINT,
                    reason="feedback",
                    diagnostic="complaint (Microsoft JMRP)",
                )
            ]
    subject = mime.header(msg, "subject").lower()
    if originals and re.match(r"\s*complaint about message from", subject):
        recipients = addresses_in(mime.header(originals[0], "to"))
        return [
            Finding(recipient=r, kind=COMPLAINT, reason="feedback", diagnostic=subject)
            for r in recipients
        ] or [Finding(recipient="", kind=COMPLAINT, reason="feedback", diagnostic=subject)]
    return None


# AOL's old notices: a line ending in ":" that introduces the recipients,
# then each member's screen name alone on an indented line.
_AOL_INTRO: Final = re.compile(
    r"(?:recipients?|delivered to|screen ?names?)\b[^\n]*:[ \t]*$", re.I | re.M
)
_SCREEN_NAME: Final = re.compile(r"[ \t]+([A-Za-z][A-Za-z0-9 ]{2,15}?)[ \t]*")


def aol_screen_names(msg: Part, written: str) -> list[str]:
    """The members an AOL notice names by screen name alone, as their aol.com addresses.

    An AOL address is the screen name without its spaces; the notice is
    AOL's only when it comes from aol.com.
    """
    if not first_address(mime.header(msg, "from")).endswith("@aol.com"):
        return []
    intro = _AOL_INTRO.search(written)
    if intro is None:
        return []
    names: list[str] = []
    for line in written[intro.end():].lstrip("\r\n").split("\n")[:50]:
        match = _SCREEN_NAME.fullmatch(line)
        if match is None:
            break
        names.append(match.group(1).replace(" ", "").lower() + "@aol.com")
    return names


#: The fields of an RFC 5965 feedback report.
_FEEDBACK_FIELDS: Final = (
    "feedback-type", "user-agent", "version", "original-mail-from", "original-rcpt-to",
    "removal-recipient", "arrival-date", "source-ip", "reported-domain", "incidents",
)


def feedback_on_top(msg: Part) -> str:
    """A feedback report written as the message's own headers, as a report's text.

    Some complaint senders put the report's fields (``Feedback-Type`` and the
    rest) on the message itself instead of in a ``message/feedback-report``
    part; ``""`` when the message has no ``Feedback-Type`` header.
    """
    if not msg.get("feedback-type"):
        return ""
    return "\n".join(
        f"{name}: {value}" for name, value in msg.headers if name in _FEEDBACK_FIELDS
    )


def _json_document(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    if start < 0 or start > 200 or ('"notificationType"' not in text and '"Type"' not in text):
        return None
    try:
        document, _ = json.JSONDecoder().raw_decode(text, start)
    except (ValueError, RecursionError):  # not JSON, or nested past all sense
        # Mail gateways wrap long lines, even inside JSON strings.
        try:
            flat = re.sub(r"\r?\n", "", text[start:])
            document, _ = json.JSONDecoder().raw_decode(flat)
        except (ValueError, RecursionError):
            return None
    if not isinstance(document, dict):
        return None
    inner = document.get("Message")
    if isinstance(inner, str) and inner.lstrip().startswith("{"):
        try:
            nested = json.loads(inner)
        except ValueError:
            return document
        if isinstance(nested, dict):
            return nested
    return document


def ses_notification(notice: list[str]) -> list[Finding] | None:
    """Amazon SES notifications (through SNS): bounce, complaint or delivery as JSON."""
    for text in notice:
        document = _json_document(text)
        if document is None:
            continue
        kind = str(document.get("notificationType") or document.get("eventType") or "")
        if kind == "Bounce" and isinstance(document.get("bounce"), dict):
            bounce = document["bounce"]
            findings = []
            permanent = str(bounce.get("bounceType", "")) == "Permanent"
            for item in bounce.get("bouncedRecipients") or []:
                if not isinstance(item, dict):
                    continue
                recipient = first_address(str(item.get("emailAddress", "")))
                if not recipient:
                    continue
                diagnostic = str(item.get("diagnosticCode") or "")
                status = find_status(str(item.get("status") or "")) or find_status(diagnostic)
                if not diagnostic and not status:
                    diagnostic = f"{bounce.get('bounceType', '')} {bounce.get('bounceSubType', '')}"
                findings.append(
                    Finding(
                        recipient=recipient,
                        status=status,
                        diagnostic=diagnostic,
                        action="failed" if permanent else "",
                    )
                )
            return findings
        if kind == "Complaint" and isinstance(document.get("complaint"), dict):
            complaint = document["complaint"]
            feedback = str(complaint.get("complaintFeedbackType") or "abuse")
            recipients = [
                first_address(str(item.get("emailAddress", "")))
                for item in complaint.get("complainedRecipients") or []
                if isinstance(item, dict)
            ]
            return [
                Finding(
                    recipient=r, kind=COMPLAINT, reason="feedback",
                    diagnostic=f"feedback-type: {feedback}",
                )
                for r in recipients
                if r
            ]
        if kind in ("Delivery", "Send", "Open", "Click", "DeliveryDelay") and kind:
            return []
    return None
