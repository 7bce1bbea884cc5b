"""Amazon SES notifications (inside a verified SNS message) as reports.

SES publishes ``Bounce``, ``Complaint`` and ``Delivery`` notifications (and,
through event publishing, the same as ``eventType``). A bounce is
``Permanent``, ``Transient`` or ``Undetermined`` with a subtype; each
bounced recipient may carry the remote server's status and words. Each
notification has a ``feedbackId``, the event's id. When the topic is set to
include the original headers, the letter's Message-ID is quoted in ``mail``.
Deliveries and other events change nobody and are only counted.
"""

from __future__ import annotations

import json
from typing import Any

from mailer.bounces.providers.report import (
    SUPPRESSED,
    Reports,
    complaint,
    failure,
    mapping,
    read_json,
    records,
    text,
)

PROVIDER = "ses"

_VERDICT = {"Permanent": True, "Transient": False}
#: What a bounce's subtype says when the server's words say nothing.
_SUBTYPES = {
    "NoEmail": "userunknown",
    "Suppressed": SUPPRESSED,
    "OnAccountSuppressionList": SUPPRESSED,
    "MailboxFull": "mailboxfull",
    "MessageTooLarge": "toolarge",
    "ContentRejected": "contenterror",
    "AttachmentRejected": "contenterror",
}


def ses_reports(message: str, sns_message_id: str) -> Reports:
    """The reports in one SES notification (the text of an SNS message)."""
    data = mapping(PROVIDER, read_json(PROVIDER, message.encode("utf-8")), "the notification")
    kind = text(PROVIDER, data, "notificationType", required=False) or text(
        PROVIDER, data, "eventType"
    )
    quoted = json.dumps(data.get("mail", {}), ensure_ascii=False)
    if kind == "Bounce":
        return _bounce(mapping(PROVIDER, data.get("bounce"), "'bounce'"), sns_message_id, quoted)
    if kind == "Complaint":
        found = mapping(PROVIDER, data.get("complaint"), "'complaint'")
        event_id = text(PROVIDER, found, "feedbackId", required=False) or sns_message_id
        not_spam = text(PROVIDER, found, "complaintFeedbackType", required=False) == "not-spam"
        people = records(PROVIDER, found.get("complainedRecipients"), "'complainedRecipients'")
        return Reports([
            complaint(PROVIDER, event_id, text(PROVIDER, person, "emailAddress"),
                      not_spam=not_spam, quoted=quoted)
            for person in people
        ])
    return Reports(ignored=1)


def _bounce(found: dict[str, Any], sns_message_id: str, quoted: str) -> Reports:
    event_id = text(PROVIDER, found, "feedbackId", required=False) or sns_message_id
    verdict = _VERDICT.get(text(PROVIDER, found, "bounceType", required=False))
    fallback = _SUBTYPES.get(text(PROVIDER, found, "bounceSubType", required=False), "")
    people = records(PROVIDER, found.get("bouncedRecipients"), "'bouncedRecipients'")
    return Reports([
        failure(
            PROVIDER, event_id, text(PROVIDER, person, "emailAddress"), permanent=verdict,
            status=text(PROVIDER, person, "status", required=False),
            diagnostic=text(PROVIDER, person, "diagnosticCode", required=False),
            fallback=fallback, quoted=quoted,
        )
        for person in people
    ])
