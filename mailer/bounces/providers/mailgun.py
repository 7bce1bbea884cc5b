"""Mailgun's webhooks: the signature, its freshness, and the events as reports.

Every request carries ``signature: {timestamp, token, signature}``, the last
being HMAC-SHA256 of timestamp and token under our HTTP webhook signing
key. A captured request would verify for ever, so a request proves itself
only when its timestamp is within ``window`` seconds of our clock and its
token was not seen before. Tokens are kept only as long as their timestamp
would pass the window, and at most ``keep`` of them, so memory stays
bounded. Only signed requests add tokens, so strangers cannot fill it.

Events: ``failed`` (``severity`` permanent or temporary; ``reason``
``suppress-*`` when Mailgun would not even try an address on its
suppression lists) and ``complained``; the rest change nobody. The event id
is ``event-data.id``; the letter's own Message-ID is quoted in
``message.headers``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import OrderedDict
from typing import Any

from mailer import clock
from mailer.bounces.providers.report import (
    SUPPRESSED,
    Reports,
    complaint,
    failure,
    mapping,
    text,
)
from mailer.errors import MalformedReport, Unverified

PROVIDER = "mailgun"
_VERDICT = {"permanent": True, "temporary": False}


class MailgunVerifier:
    """Checks a request's signature, timestamp and token; remembers the tokens it took."""

    def __init__(self, key: str, *, window: float = 300.0, keep: int = 100_000) -> None:
        self._key = key.encode("utf-8")
        self.window = window
        self._keep = keep
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, signature: Any) -> str:
        """The request's token, now taken; ``Unverified`` for a bad, stale or replayed one."""
        if not isinstance(signature, dict):
            raise Unverified(PROVIDER, "the request is not signed")
        try:
            timestamp = text(PROVIDER, signature, "timestamp")
            token = text(PROVIDER, signature, "token")
            given = text(PROVIDER, signature, "signature")
        except MalformedReport as exc:
            raise Unverified(PROVIDER, f"the signature is incomplete: {exc.reason}") from None
        expected = hmac.new(self._key, (timestamp + token).encode("utf-8"), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest(), given.lower()):
            raise Unverified(PROVIDER, "the signature does not verify")
        try:
            signed_at = float(timestamp)
        except ValueError:
            raise Unverified(PROVIDER, "the timestamp is not a number") from None
        now = clock.now().timestamp()
        if abs(now - signed_at) > self.window:
            raise Unverified(PROVIDER, f"the timestamp is more than {self.window:g} s off")
        self._take(token, now, signed_at + self.window)
        return token

    def _take(self, token: str, now: float, expires: float) -> None:
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now:
                self._seen.popitem(last=False)
            if token in self._seen:
                raise Unverified(PROVIDER, "the token was used before (a replayed request)")
            self._seen[token] = expires
            while len(self._seen) > self._keep:
                self._seen.popitem(last=False)

    def release(self, token: str) -> None:
        """Forget a token whose request was not stored, so that Mailgun's retry is taken."""
        with self._lock:
            self._seen.pop(token, None)


def mailgun_reports(data: dict[str, Any]) -> Reports:
    """The report in one Mailgun webhook request (one event)."""
    event = mapping(PROVIDER, data.get("event-data"), "'event-data'")
    kind = text(PROVIDER, event, "event")
    if kind not in ("failed", "complained"):
        return Reports(ignored=1)
    event_id = text(PROVIDER, event, "id")
    recipient = text(PROVIDER, event, "recipient")
    quoted = json.dumps(event.get("message", {}), ensure_ascii=False)
    reason = text(PROVIDER, event, "reason", required=False)
    if kind == "complained" or reason == "suppress-complaint":
        return Reports([complaint(PROVIDER, event_id, recipient, quoted=quoted)])
    status = mapping(PROVIDER, event.get("delivery-status") or {}, "'delivery-status'")
    words = [text(PROVIDER, status, name, required=False)
             for name in ("code", "message", "description")]
    return Reports([failure(
        PROVIDER, event_id, recipient,
        permanent=_VERDICT.get(text(PROVIDER, event, "severity", required=False)),
        status=text(PROVIDER, status, "enhanced-code", required=False),
        diagnostic=" ".join(word for word in words if word),
        fallback=SUPPRESSED if reason.startswith("suppress-") else "",
        quoted=quoted,
    )])
