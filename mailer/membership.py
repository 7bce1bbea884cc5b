"""What the web pages do to subscriptions: join, confirm, leave.

The rules, on top of those in ``mailer.store.subscribers``:

- A subscribe form never reveals whether an address is known; these
  functions return what to *do* (send a confirmation or not), never a text.
- Consent is never silently restored. Someone who unsubscribed comes back
  only by confirming a link sent to their address (fresh, proven consent),
  on single and double opt-in lists alike. Addresses that bounced hard,
  complained, were blocked or forgotten are left alone.
- Each change is one transaction, and leaves an event in the subscriber's history.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from mailer import clock
from mailer.contacts.addresses import Address, address_key
from mailer.errors import NotFoundError
from mailer.store import Store
from mailer.store.events import record_event
from mailer.store.lists import get_list_by_id
from mailer.store.models import Consent, MailingList
from mailer.store.subscribers import (
    add_subscriber,
    get_subscriber_by_id,
    set_status,
    suppression_reason,
    unsubscribe,
)

#: Subscriber statuses that a web form may not lift, even with a confirmation.
_NEVER_FROM_WEB = ("bounced", "complained", "blocked")


@dataclass(frozen=True)
class Proof:
    """Evidence of a request made through a web page."""

    client: str
    user_agent: str
    form: str

    def as_detail(self) -> dict[str, str]:
        return {"form": self.form, "user_agent": self.user_agent, "client": self.client}


@dataclass(frozen=True)
class JoinOutcome:
    """What a subscribe request led to; ``confirm`` means: mail a confirmation link."""

    action: Literal["subscribed", "confirm", "nothing"]
    subscriber_id: int | None = None
    email: str = ""


def request_subscription(
    store: Store, mailing_list: MailingList, address: Address, name: str, proof: Proof
) -> JoinOutcome:
    """Handle a subscribe form: subscribe, ask for confirmation, or quietly do nothing."""
    consent = Consent("web", proof.client, {"stage": "requested", **proof.as_detail()})
    outcome = add_subscriber(
        store, mailing_list, address, name=name, consent=consent, confirmed=False
    )
    subscriber = outcome.subscriber
    if subscriber is None:
        return JoinOutcome("nothing")
    if outcome.outcome in ("added", "subscribed"):
        if mailing_list.double_optin:
            return _confirm(store, mailing_list, subscriber.id, subscriber.email, proof)
        return JoinOutcome("subscribed", subscriber.id, subscriber.email)
    if outcome.outcome == "suppressed":
        # Only an earlier opt-out may be undone, and only by a confirmed link.
        if subscriber.status in _NEVER_FROM_WEB or suppression_reason(store, address):
            return JoinOutcome("nothing", subscriber.id)
        return _confirm(store, mailing_list, subscriber.id, subscriber.email, proof)
    row = store.one(
        "SELECT status FROM subscriptions WHERE list_id = ? AND subscriber_id = ?",
        (mailing_list.id, subscriber.id),
    )
    if row is not None and row["status"] == "unconfirmed":
        return _confirm(store, mailing_list, subscriber.id, subscriber.email, proof)
    return JoinOutcome("nothing", subscriber.id)


def _confirm(
    store: Store, mailing_list: MailingList, subscriber_id: int, email: str, proof: Proof
) -> JoinOutcome:
    with store.transaction() as conn:
        record_event(
            conn,
            subscriber_id,
            "confirmation requested",
            {"method": "web", "source": proof.client, "user_agent": proof.user_agent},
            list_id=mailing_list.id,
        )
    return JoinOutcome("confirm", subscriber_id, email)


@dataclass(frozen=True)
class ConfirmOutcome:
    """``confirmed`` now, ``already`` confirmed before, or ``refused`` (gone or suppressed)."""

    status: Literal["confirmed", "already", "refused"]
    mailing_list: MailingList | None = None


def confirm_binding(email: str, list_name: str) -> str:
    """What a confirmation link's ids must still stand for: this address on this list."""
    text = f"{address_key(email)}\n{list_name}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def confirm_subscription(
    store: Store,
    subscriber_id: int,
    list_id: int,
    proof: Proof,
    *,
    binding: str = "",
    issued_at: int = 0,
) -> ConfirmOutcome:
    """Confirm a subscription from a signed link, storing the consent proof.

    ``binding`` (from the link, see ``confirm_binding``) is refused when the
    ids now name another address or list than when the link was sent. A link
    issued (``issued_at``, seconds) before the person last left this list is
    refused too: leaving is their latest word, and an old link in their
    mailbox must not undo it.
    """
    now = clock.now_iso()
    with store.transaction() as conn:
        subscriber = get_subscriber_by_id(conn, subscriber_id)
        try:
            mailing_list = get_list_by_id(store, list_id)
        except NotFoundError:
            return ConfirmOutcome("refused")
        if subscriber is None or subscriber.status in _NEVER_FROM_WEB:
            return ConfirmOutcome("refused", mailing_list)
        if binding and binding != confirm_binding(subscriber.email, mailing_list.name):
            return ConfirmOutcome("refused")
        key = address_key(subscriber.email)
        if suppression_reason(conn, Address(subscriber.email, key)):
            return ConfirmOutcome("refused", mailing_list)
        row = conn.execute(
            "SELECT status, consent_detail, unsubscribed_at FROM subscriptions "
            "WHERE list_id = ? AND subscriber_id = ?",
            (list_id, subscriber_id),
        ).fetchone()
        if row is not None and row["status"] == "confirmed" and subscriber.status == "active":
            return ConfirmOutcome("already", mailing_list)
        left_at = row["unsubscribed_at"] if row is not None else None
        if left_at and clock.parse_iso(left_at).timestamp() > issued_at:
            return ConfirmOutcome("refused", mailing_list)
        earlier = json.loads(row["consent_detail"] or "{}") if row is not None else {}
        detail: dict[str, Any] = {**proof.as_detail(), "stage": "confirmed", "confirmed_at": now}
        if earlier.get("stage") == "requested":
            # Keep the request's own evidence (the form, its client) beside the confirmation.
            detail["requested"] = earlier
        detail_text = json.dumps(detail, ensure_ascii=False, sort_keys=True)
        if row is None:
            conn.execute(
                "INSERT INTO subscriptions (list_id, subscriber_id, status, created_at, "
                "updated_at, consent_at, consent_method, consent_source, consent_detail) "
                "VALUES (?, ?, 'confirmed', ?, ?, ?, 'web', ?, ?)",
                (list_id, subscriber_id, now, now, now, proof.client, detail_text),
            )
        else:
            conn.execute(
                "UPDATE subscriptions SET status = 'confirmed', updated_at = ?, consent_at = ?, "
                "consent_method = 'web', consent_source = ?, consent_detail = ?, "
                "unsubscribed_at = NULL WHERE list_id = ? AND subscriber_id = ?",
                (now, now, proof.client, detail_text, list_id, subscriber_id),
            )
        if subscriber.status == "unsubscribed":
            set_status(conn, subscriber_id, "active", reason="confirmed a web subscription")
        record_event(
            conn,
            subscriber_id,
            "confirmed",
            {"method": "web", "source": proof.client},
            list_id=list_id,
        )
    return ConfirmOutcome("confirmed", mailing_list)


@dataclass(frozen=True)
class Membership:
    """What an unsubscribe page needs to know: the list, and whether they are still on it."""

    mailing_list: MailingList | None
    subscribed: bool


def membership(store: Store, subscriber_id: int, list_id: int) -> Membership:
    """The list named by an unsubscribe token, and whether the subscriber is on it."""
    try:
        mailing_list: MailingList | None = get_list_by_id(store, list_id)
    except NotFoundError:
        mailing_list = None
    row = store.one(
        "SELECT s.status FROM subscriptions s JOIN subscribers p ON p.id = s.subscriber_id "
        "WHERE s.list_id = ? AND s.subscriber_id = ?",
        (list_id, subscriber_id),
    )
    return Membership(mailing_list, row is not None and row["status"] != "unsubscribed")


def leave(
    store: Store, subscriber_id: int, list_id: int | None, *, method: str, client: str
) -> list[int]:
    """Unsubscribe from one list (or all, ``list_id`` None); harmless to repeat."""
    with store.transaction() as conn:
        if get_subscriber_by_id(conn, subscriber_id) is None:
            return []
        return unsubscribe(conn, subscriber_id, list_id, method=method, source=client)
