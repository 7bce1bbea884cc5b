"""Postmark's bounce and spam complaint webhooks as reports.

Postmark signs nothing: its webhook URL carries HTTP basic credentials
(``https://USER:PASSWORD@lists.example.org/hooks/postmark``), and a request
that presents ours proves it comes from our Postmark account. They are
compared in constant time, so the time an answer takes tells nothing about
how much of a guess was right.

A ``Bounce`` names its ``Type`` (``HardBounce``, ``SoftBounce``,
``Transient``, ``BadEmailAddress``, ...) and the server's words in
``Details``; ``Content``, where the server sends it, is the whole bounce,
with the original's headers. The event id is Postmark's ``ID``.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from mailer.bounces.model import AUTO_REPLY, UNKNOWN
from mailer.bounces.providers.report import (
    ProviderReport,
    Reports,
    complaint,
    failure,
    mapping,
    read_json,
    text,
)
from mailer.errors import Unverified

PROVIDER = "postmark"

#: Bounce types that are failures: Postmark's verdict, and the reason its type names.
_FAILURES: dict[str, tuple[bool, str]] = {
    "HardBounce": (True, ""),
    "BadEmailAddress": (True, "userunknown"),
    "SoftBounce": (False, ""),
    "Transient": (False, ""),
    "DnsError": (False, "networkerror"),
    "Blocked": (False, "blocked"),
    "SpamNotification": (False, "spamdetected"),
    "VirusNotification": (False, "virusdetected"),
    "ChallengeVerification": (False, "filtered"),
    "DMARCPolicy": (False, "policyviolation"),
}


def check_credentials(authorization: str, user: str, password: str) -> None:
    """Raise ``Unverified`` unless the ``Authorization`` header holds our user and password."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise Unverified(PROVIDER, "no basic credentials")
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise Unverified(PROVIDER, "the credentials cannot be read") from None
    given_user, colon, given_password = given.partition(b":")
    # Both compared, always: which of the two was wrong must not show in the time taken.
    same_user = hmac.compare_digest(given_user, user.encode("utf-8"))
    same_password = hmac.compare_digest(given_password, password.encode("utf-8"))
    if not (colon and same_user and same_password):
        raise Unverified(PROVIDER, "wrong user name or password")


def postmark_reports(body: bytes) -> Reports:
    """The report in one Postmark webhook request (one bounce or complaint)."""
    data = mapping(PROVIDER, read_json(PROVIDER, body), "the webhook")
    record = text(PROVIDER, data, "RecordType")
    if record not in ("Bounce", "SpamComplaint"):
        return Reports(ignored=1)  # deliveries, opens, clicks, subscription changes
    event_id = text(PROVIDER, data, "ID")
    recipient = text(PROVIDER, data, "Email")
    kind = text(PROVIDER, data, "Type", required=False)
    details = text(PROVIDER, data, "Details", required=False)
    quoted = text(PROVIDER, data, "Content", required=False) + "\n" + details
    if record == "SpamComplaint" or kind == "SpamComplaint":
        return Reports([complaint(PROVIDER, event_id, recipient, quoted=quoted)])
    if kind in _FAILURES:
        permanent, fallback = _FAILURES[kind]
        return Reports([failure(
            PROVIDER, event_id, recipient, permanent=permanent, diagnostic=details,
            fallback=fallback, quoted=quoted,
        )])
    # An auto-reply, or a type that says nothing about the address: kept, acted on by nobody.
    other = AUTO_REPLY if kind == "AutoResponder" else UNKNOWN
    reason = "vacation" if other == AUTO_REPLY else ""
    return Reports([ProviderReport(
        PROVIDER, event_id, recipient, other, reason=reason,
        diagnostic=" ".join(details.split())[:1000], quoted=quoted,
    )])
