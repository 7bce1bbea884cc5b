"""SendGrid's signed Event Webhook: the signature and the events as reports.

SendGrid signs the timestamp header followed by the raw body with ECDSA
(P-256, SHA-256) and sends the signature, base64 DER, in
``X-Twilio-Email-Event-Webhook-Signature``; we check it with the public key
its settings page shows (base64 DER, ``MAILER_WEBHOOKS_SENDGRID_PUBLIC_KEY``).
The body is checked as it came, byte for byte, before it is read as JSON.

A request carries a batch of events. ``bounce`` (``type`` ``bounce``, or
``blocked`` for a refusal that may pass), ``dropped`` (SendGrid would not
try the address) and ``spamreport`` are reports; the rest change nobody.
The event id is ``sg_event_id``; ``smtp-id`` is the letter's Message-ID.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mailer.bounces.providers.report import (
    SUPPRESSED,
    ProviderReport,
    Reports,
    complaint,
    failure,
    read_json,
    records,
    text,
)
from mailer.errors import ConfigError, Unverified

PROVIDER = "sendgrid"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

#: Why SendGrid dropped a message: its verdict and the reason that names (else soft).
_DROPPED = {
    "Bounced Address": (True, SUPPRESSED),
    "Unsubscribed Address": (True, SUPPRESSED),
    "Invalid": (True, "userunknown"),
}


def load_key(value: str) -> ec.EllipticCurvePublicKey:
    """The verification key from its base64 DER text (PEM is taken too); ``ConfigError`` else."""
    try:
        if "BEGIN PUBLIC KEY" in value:
            key = serialization.load_pem_public_key(value.encode("ascii"))
        else:
            key = serialization.load_der_public_key(base64.b64decode(value.strip(), validate=True))
    except (ValueError, binascii.Error, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ConfigError(
            "MAILER_WEBHOOKS_SENDGRID_PUBLIC_KEY is not a P-256 public key in base64 DER "
            "(copy the verification key from SendGrid's Mail Settings, Signed Event Webhook)"
        )
    return key


def verify(key: ec.EllipticCurvePublicKey, signature: str, timestamp: str, body: bytes) -> None:
    """Raise ``Unverified`` unless ``signature`` is SendGrid's over ``timestamp`` and ``body``."""
    if not signature or not timestamp:
        raise Unverified(PROVIDER, "the request is not signed")
    try:
        der = base64.b64decode(signature.strip(), validate=True)
        key.verify(der, timestamp.encode("utf-8") + body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature):
        raise Unverified(PROVIDER, "the signature does not verify") from None


def sendgrid_reports(body: bytes) -> Reports:
    """The reports in one batch of SendGrid events."""
    found = Reports()
    for event in records(PROVIDER, read_json(PROVIDER, body), "the batch of events"):
        report = _report(event)
        if report is None:
            found.ignored += 1
        else:
            found.events.append(report)
    return found


def _report(event: dict[str, Any]) -> ProviderReport | None:
    kind = text(PROVIDER, event, "event")
    if kind not in ("bounce", "dropped", "spamreport"):
        return None
    event_id = text(PROVIDER, event, "sg_event_id")
    recipient = text(PROVIDER, event, "email")
    quoted = text(PROVIDER, event, "smtp-id", required=False)
    if kind == "spamreport":
        return complaint(PROVIDER, event_id, recipient, quoted=quoted)
    reason = text(PROVIDER, event, "reason", required=False)
    if kind == "dropped":
        if reason == "Spam Reporting Address":
            return complaint(PROVIDER, event_id, recipient, quoted=quoted)
        permanent, fallback = _DROPPED.get(reason, (False, ""))
    else:
        permanent = text(PROVIDER, event, "type", required=False) != "blocked"
        fallback = "blocked" if not permanent else ""
    return failure(
        PROVIDER, event_id, recipient, permanent=permanent,
        status=text(PROVIDER, event, "status", required=False), diagnostic=reason,
        fallback=fallback, quoted=quoted,
    )
