"""What a provider's report says, once its request verified, and the JSON it came in.

A provider decides for itself whether a failure was permanent; the server's
own words say why. The two are weighed the way mailer weighs a bounce
(``bounces.classify``): a failure is hard only when the address is dead, so
a "permanent" failure whose words name a cause that may pass (a full
mailbox, a spam filter) is soft, and a "temporary" one is never hard. When
the words say nothing, the provider's verdict and its own type decide.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mailer.bounces.classify import classify, find_status, kind_of
from mailer.bounces.model import COMPLAINT, HARD, SOFT
from mailer.bounces.policy import NOT_SPAM
from mailer.errors import MalformedReport

#: Reasons ``classify`` gives when the server's words name no cause.
_SAID_NOTHING = frozenset({"undefined", "onhold"})
#: The reason of a failure the provider refused to try (its suppression list).
SUPPRESSED = "suppressed"


@dataclass(frozen=True)
class ProviderReport:
    """One recipient's fate as a provider reports it.

    ``event_id`` is the provider's own id of the event: stored as the row's
    key (``key``), it makes a second delivery of the same event a no-op.
    ``quoted`` is the text in which the provider quotes the original letter
    (its headers), where mailer's signed Message-ID names the campaign.
    """

    provider: str
    event_id: str
    recipient: str
    kind: str
    status: str = ""
    reason: str = ""
    diagnostic: str = ""
    quoted: str = ""

    @property
    def key(self) -> str:
        """The stored key: provider and event id, apart from every Message-ID."""
        return f"{self.provider}:{self.event_id}"


@dataclass
class Reports:
    """What one request carried: the reports to store, and how many events changed nobody."""

    events: list[ProviderReport] = field(default_factory=list)
    ignored: int = 0


def failure(
    provider: str,
    event_id: str,
    recipient: str,
    *,
    permanent: bool | None,
    status: str = "",
    diagnostic: str = "",
    fallback: str = "",
    quoted: str = "",
) -> ProviderReport:
    """A failed delivery, hard or soft by the provider's verdict and the server's words.

    ``permanent`` is the provider's verdict (None: it did not say);
    ``fallback`` the reason its own type names, used when the words name none.
    """
    stated = status or find_status(diagnostic)
    words_kind, reason, status = classify(status, diagnostic)
    if reason not in _SAID_NOTHING:
        kind = SOFT if permanent is False else words_kind
    elif permanent is None:
        reason = fallback or reason
        kind = kind_of(reason, status)
    else:
        reason = fallback or ("undefined" if permanent else reason)
        kind = HARD if permanent else SOFT
    if permanent is False and not stated and status.startswith("5"):
        status = "4" + status[1:]  # inferred from the words, but the provider will try again
    return ProviderReport(
        provider, event_id, recipient, kind, status=status, reason=reason,
        diagnostic=" ".join(diagnostic.split())[:1000], quoted=quoted,
    )


def complaint(
    provider: str, event_id: str, recipient: str, *, not_spam: bool = False, quoted: str = ""
) -> ProviderReport:
    """A spam complaint (or, with ``not_spam``, a report that the mail was wanted)."""
    reason = NOT_SPAM if not_spam else "feedback"
    return ProviderReport(provider, event_id, recipient, COMPLAINT, reason=reason, quoted=quoted)


def read_json(provider: str, body: bytes) -> Any:
    """The request's JSON; ``MalformedReport`` when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedReport(provider, "the body is not JSON") from None


def mapping(provider: str, value: Any, what: str) -> dict[str, Any]:
    """``value`` as a JSON object, or ``MalformedReport`` naming ``what`` it should be."""
    if not isinstance(value, dict):
        raise MalformedReport(provider, f"{what} is not a JSON object")
    return value


def text(provider: str, data: dict[str, Any], key: str, *, required: bool = True) -> str:
    """A string (or number) field of ``data``; missing or of another type is malformed.

    A field that is not required reads as ``""`` when absent or null.
    """
    value = data.get(key)
    if value is None and not required:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MalformedReport(provider, f"{key!r} is missing or not a string")
    if required and not str(value).strip():
        raise MalformedReport(provider, f"{key!r} is empty")
    return str(value)


def records(provider: str, value: Any, what: str) -> list[dict[str, Any]]:
    """A JSON array of objects (the recipients, the events), or ``MalformedReport``."""
    if not isinstance(value, list) or not value:
        raise MalformedReport(provider, f"{what} is missing or not a list")
    return [mapping(provider, item, f"an item of {what}") for item in value]
