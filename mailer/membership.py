"""People joining and leaving lists: the rules, with no SQL and no HTTP.

1. Consent is never silently restored. An address that unsubscribed,
   bounced, complained, was blocked or forgotten is not brought back by
   ``add`` or an import; someone who unsubscribed comes back only by
   confirming a link sent to their address (fresh, proven consent), on
   single and double opt-in lists alike. Addresses that bounced hard,
   complained, were blocked or forgotten are left alone even then.
2. A subscribe form never reveals whether an address is known: these
   functions return what to *do* (mail a confirmation or not), never a text.
   The language chosen on a form is written in, and becomes the person's
   language when they are new, or when they had none and confirm a link
   (which proves the address is theirs); it never replaces another.
3. A confirmation link is refused when its ids now name someone else, or
   when it is older than the person's last unsubscribe from that list.
4. Each change is one transaction, and leaves an event in the person's history.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from mailer import clock
from mailer.config import Config
from mailer.contacts.addresses import Address, address_key, normalize_domain
from mailer.errors import InputError, NothingStored
from mailer.inbound import files
from mailer.languages import normalize_tag
from mailer.letters.confirmation import build_confirmation
from mailer.letters.mime import OutgoingMessage
from mailer.store import (
    bounces,
    deliveries,
    inbound,
    posts,
    replies,
    subscribers,
    subscriptions,
    suppressions,
)
from mailer.store.database import Store
from mailer.store.events import record_event
from mailer.store.lists import find_list_by_id
from mailer.store.models import (
    SUPPRESSING_STATUSES,
    Consent,
    MailingList,
    Subscriber,
    SubscriberStatus,
    SubscriptionStatus,
)
from mailer.store.subscribers import find_subscriber, get_subscriber_by_id, set_status
from mailer.tokens import Signer

#: Subscriber statuses that a web form may not lift, even with a confirmation.
_NEVER_FROM_WEB = (SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED, SubscriberStatus.BLOCKED)
Added = Literal["added", "subscribed", "exists", "updated", "suppressed"]


@dataclass(frozen=True)
class AddOutcome:
    """What ``add`` did: added (new person), subscribed (known person), already on
    the list (exists), updated, or suppressed (refused, with the reason)."""

    outcome: Added
    subscriber: Subscriber | None
    reason: str = ""


def add(
    store: Store,
    mailing_list: MailingList,
    address: Address,
    *,
    name: str = "",
    attributes: dict[str, Any] | None = None,
    consent: Consent,
    update: bool = False,
    confirmed: bool = False,
    language: str = "",
) -> AddOutcome:
    """Subscribe an address to a list in one transaction, never undoing an opt-out.

    A name is one line (it is printed in greetings and headers): one holding a
    line break is refused. ``language`` is a tag (``es``, ``pt-BR``), checked.
    """
    language = normalize_tag(language)
    if any(ch in name for ch in "\r\n\0\u2028\u2029"):
        raise InputError(f"name {name[:40]!r}: a name may not contain a line break")
    with store.transaction() as conn:
        existing = find_subscriber(conn, address.email)
        refusal = _refusal(conn, mailing_list, address, existing)
        if refusal:
            return AddOutcome("suppressed", existing, refusal)
        outcome: Added = "added"
        if existing is None:
            subscriber_id = subscribers.insert(
                conn, address.email, address.key, name, attributes or {}, language
            )
            record_event(conn, subscriber_id, "created", {"method": consent.method})
        else:
            subscriber_id = existing.id
            profile = (name, attributes or {}, language)
            if update and _update_profile(conn, existing, profile, consent):
                outcome = "updated"
        if subscriptions.standing(conn, mailing_list.id, subscriber_id) is not None:
            outcome = outcome if outcome == "updated" else "exists"
        else:
            _join(conn, mailing_list, subscriber_id, consent, confirmed)
            if existing is not None and outcome != "updated":
                outcome = "subscribed"
        subscriber = get_subscriber_by_id(conn, subscriber_id)
    return AddOutcome(outcome, subscriber)


def _refusal(
    conn: sqlite3.Connection,
    mailing_list: MailingList,
    address: Address,
    existing: Subscriber | None,
) -> str:
    """Why this address may not join this list now, or "" (checked before any write)."""
    reason = suppressions.reason_suppressed(conn, address.key)
    if existing is not None and existing.status in SUPPRESSING_STATUSES:
        reason = f"suppressed ({existing.status})"
    if reason:
        return reason
    if existing is not None:
        row = subscriptions.standing(conn, mailing_list.id, existing.id)
        if row is not None and row["status"] == SubscriptionStatus.UNSUBSCRIBED:
            return "suppressed (unsubscribed from list)"
    return ""


def _update_profile(
    conn: sqlite3.Connection,
    existing: Subscriber,
    profile: tuple[str, dict[str, Any], str],
    consent: Consent,
) -> bool:
    """Overwrite name, attributes and language (each when given) if they change; whether
    they did (repeats are no-ops)."""
    name, attributes, language = profile
    merged = {**existing.attributes, **attributes}
    new_name = name or existing.name
    new_language = language or existing.language
    if (new_name, merged, new_language) == (existing.name, existing.attributes,
                                            existing.language):
        return False
    subscribers.update_profile(conn, existing.id, new_name, merged)
    if new_language != existing.language:
        subscribers.set_language(conn, existing.id, new_language)
    record_event(conn, existing.id, "updated", {"method": consent.method})
    return True


def _join(
    conn: sqlite3.Connection,
    mailing_list: MailingList,
    subscriber_id: int,
    consent: Consent,
    confirmed: bool,
) -> None:
    status = (
        SubscriptionStatus.CONFIRMED
        if confirmed or not mailing_list.double_optin
        else SubscriptionStatus.UNCONFIRMED
    )
    subscriptions.insert(conn, mailing_list.id, subscriber_id, status, consent)
    record_event(
        conn,
        subscriber_id,
        "subscribed",
        {"status": status, "method": consent.method, "source": consent.source},
        list_id=mailing_list.id,
    )


# -- the web's subscribe form, its confirmation link, and the unsubscribe page --------------


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
    """What a subscribe request led to; ``confirm`` means: mail a confirmation link.

    ``language`` is the language the request was made in: what to write to
    them in (the confirmation), whatever language they had before.
    """

    action: Literal["subscribed", "confirm", "nothing"]
    subscriber_id: int | None = None
    email: str = ""
    language: str = ""


def request_subscription(
    store: Store,
    mailing_list: MailingList,
    address: Address,
    name: str,
    proof: Proof,
    *,
    language: str = "",
) -> JoinOutcome:
    """Handle a subscribe form: subscribe, ask for confirmation, or quietly do nothing.

    ``language`` is the one chosen on the form (a tag, "" if none was offered):
    stored for a new subscriber; a known one without a language takes it on
    confirming (rule 2).
    """
    language = normalize_tag(language)
    consent = Consent("web", proof.client, {"stage": "requested", **proof.as_detail()})
    outcome = add(
        store, mailing_list, address, name=name, consent=consent, confirmed=False,
        language=language,
    )
    subscriber = outcome.subscriber
    if subscriber is None:
        return JoinOutcome("nothing", language=language)
    if outcome.outcome in ("added", "subscribed"):
        if mailing_list.double_optin:
            return _ask_to_confirm(store, mailing_list, subscriber, proof, language)
        return JoinOutcome("subscribed", subscriber.id, subscriber.email, language)
    if outcome.outcome == "suppressed":
        # Only an earlier opt-out may be undone, and only by a confirmed link.
        if subscriber.status in _NEVER_FROM_WEB or suppressions.reason_suppressed(
            store, address.key
        ):
            return JoinOutcome("nothing", subscriber.id, language=language)
        return _ask_to_confirm(store, mailing_list, subscriber, proof, language)
    row = subscriptions.standing(store, mailing_list.id, subscriber.id)
    if row is not None and row["status"] == SubscriptionStatus.UNCONFIRMED:
        return _ask_to_confirm(store, mailing_list, subscriber, proof, language)
    return JoinOutcome("nothing", subscriber.id, language=language)


def _ask_to_confirm(
    store: Store,
    mailing_list: MailingList,
    subscriber: Subscriber,
    proof: Proof,
    language: str,
) -> JoinOutcome:
    with store.transaction() as conn:
        record_event(
            conn,
            subscriber.id,
            "confirmation requested",
            {"method": "web", "source": proof.client, "user_agent": proof.user_agent},
            list_id=mailing_list.id,
        )
    return JoinOutcome("confirm", subscriber.id, subscriber.email, language)


def confirmation_message(
    config: Config, signer: Signer, mailing_list: MailingList, outcome: JoinOutcome
) -> OutgoingMessage:
    """The message with the link that confirms ``outcome`` (a request to confirm).

    The link is signed, expires after ``[web] confirm_days``, is bound to this
    address on this list (``confirm_binding``), knows when it was issued and
    carries the language the request was made in.
    """
    assert outcome.subscriber_id is not None
    valid = timedelta(days=config.web.confirm_days)
    binding = confirm_binding(outcome.email, mailing_list.name)
    token = signer.confirm(
        outcome.subscriber_id, mailing_list.id, valid, bound_to=binding, language=outcome.language
    )
    url = f"{config.web.base_url.rstrip('/')}/c/{token}"
    return build_confirmation(config, mailing_list, outcome.email, url, outcome.language)


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
    language: str = "",
) -> ConfirmOutcome:
    """Confirm a subscription from a signed link, storing the consent proof (rule 3).

    ``language`` is the one the link carries (the form's): it becomes the
    person's language if they have none (rule 2).
    """
    with store.transaction() as conn:
        subscriber = get_subscriber_by_id(conn, subscriber_id)
        mailing_list = find_list_by_id(store, list_id)
        if mailing_list is None:
            return ConfirmOutcome("refused")
        if subscriber is None or subscriber.status in _NEVER_FROM_WEB:
            return ConfirmOutcome("refused", mailing_list)
        if binding and binding != confirm_binding(subscriber.email, mailing_list.name):
            return ConfirmOutcome("refused")
        if suppressions.reason_suppressed(conn, address_key(subscriber.email)):
            return ConfirmOutcome("refused", mailing_list)
        row = subscriptions.standing(conn, list_id, subscriber_id)
        if (
            row is not None
            and row["status"] == SubscriptionStatus.CONFIRMED
            and subscriber.status is SubscriberStatus.ACTIVE
        ):
            return ConfirmOutcome("already", mailing_list)
        left_at = row["unsubscribed_at"] if row is not None else None
        if left_at and clock.parse_iso(left_at).timestamp() > issued_at:
            return ConfirmOutcome("refused", mailing_list)
        earlier = json.loads(row["consent_detail"] or "{}") if row is not None else {}
        detail: dict[str, Any] = {
            **proof.as_detail(), "stage": "confirmed", "confirmed_at": clock.now_iso()
        }
        if earlier.get("stage") == "requested":
            # Keep the request's own evidence (the form, its client) beside the confirmation.
            detail["requested"] = earlier
        subscriptions.confirm(
            conn, list_id, subscriber_id, source=proof.client, detail=detail,
            exists=row is not None,
        )
        if subscriber.status is SubscriberStatus.UNSUBSCRIBED:
            set_status(conn, subscriber_id, "active", reason="confirmed a web subscription")
        if language and not subscriber.language:
            subscribers.set_language(conn, subscriber_id, normalize_tag(language))
        record_event(
            conn, subscriber_id, "confirmed", {"method": "web", "source": proof.client},
            list_id=list_id,
        )
    return ConfirmOutcome("confirmed", mailing_list)


@dataclass(frozen=True)
class Membership:
    """What a page behind a link needs to know: the list, whether they are still on it,
    and the language they read ("" when not known, or when they are gone)."""

    mailing_list: MailingList | None
    subscribed: bool
    language: str = ""


def membership(store: Store, subscriber_id: int, list_id: int) -> Membership:
    """The list named by a link's token, whether the subscriber is on it, their language."""
    subscriber = get_subscriber_by_id(store, subscriber_id)
    return Membership(
        find_list_by_id(store, list_id),
        subscriptions.on_list(store, list_id, subscriber_id),
        subscriber.language if subscriber is not None else "",
    )


def leave(
    store: Store,
    subscriber_id: int,
    list_id: int | None,
    *,
    method: str,
    client: str = "",
    campaign: int | None = None,
) -> list[int]:
    """Unsubscribe from one list (or all, ``list_id`` None); harmless to repeat.

    ``campaign`` is the letter whose link was used (0 or None: not known).
    """
    with store.transaction() as conn:
        if get_subscriber_by_id(conn, subscriber_id) is None:
            return []
        return subscriptions.leave(
            conn, subscriber_id, list_id, method=method, source=client, campaign=campaign
        )


# -- what an admin does to a person ------------------------------------------------------


def block(store: Store, email: str, *, reason: str = "blocked by an admin") -> Subscriber | None:
    """Suppress an address everywhere, whether or not it is a subscriber yet."""
    with store.transaction() as conn:
        suppressions.suppress(conn, "email", email, reason)
        subscriber = find_subscriber(conn, email)
        if subscriber is not None:
            set_status(conn, subscriber.id, "blocked", reason=reason)
            subscriber = get_subscriber_by_id(conn, subscriber.id)
    return subscriber


@dataclass(frozen=True)
class DomainBlock:
    """A whole domain blocked (or unblocked): which, how many subscribers have an
    address at it, and whether it changed anything (False: it already was so)."""

    domain: str
    subscribers: int
    changed: bool


def block_domain(store: Store, domain: str, *, reason: str = "blocked by an admin") -> DomainBlock:
    """Suppress every address at ``domain``, known or not, from now on.

    Nobody is deleted and nobody's status changes: the one rule of who may be
    mailed (``store.suppressions``) leaves them out of every send, count and
    import at once, and lifting the block (``unblock_domain``) gives them back
    their standing. The block is an event of its own, in no one person's history.
    """
    key = normalize_domain(domain)
    with store.transaction() as conn:
        added = suppressions.suppress(conn, "domain", key, reason)
        count = suppressions.people_at(conn, key)
        if added:
            detail = {"domain": key, "reason": reason, "subscribers": count}
            record_event(conn, None, "domain blocked", detail)
    return DomainBlock(key, count, added)


def unblock_domain(store: Store, domain: str) -> DomainBlock:
    """Lift a domain's block: its addresses are mailed as their own standing says again.

    Addresses blocked one by one, and whoever opted out, stay as they are: a
    domain block never changed their consent, so lifting it restores none.
    """
    key = normalize_domain(domain)
    with store.transaction() as conn:
        lifted = suppressions.lift_domain(conn, key)
        count = suppressions.people_at(conn, key)
        if lifted:
            record_event(conn, None, "domain unblocked", {"domain": key, "subscribers": count})
    return DomainBlock(key, count, lifted)


def forget(store: Store, email: str, *, replies_folder: Path) -> None:
    """Erase a person (GDPR): delete their data, keep only a hash that suppresses them.

    Works for an address that was never a subscriber too (blocked, or met in
    a bounce or complaint): what names it goes, the hash stays. Bounce events
    are kept for the campaigns' counts, with the address and diagnostic
    replaced by a placeholder. Their replies (the ones proved theirs and the
    ones sent from the address) are deleted with their files under
    ``replies_folder``, their posts deleted, and the address blanked in the
    intake's log. ``NothingStored`` when nothing is held.
    """
    key = address_key(email)
    with store.transaction() as conn:
        subscriber = find_subscriber(conn, email)
        subscriber_id = subscriber.id if subscriber is not None else None
        reports = bounces.about(conn, subscriber_id, key)
        answers = replies.about(conn, subscriber_id, key)
        if (
            subscriber is None
            and not reports
            and not answers
            and not suppressions.is_listed(conn, key)
        ):
            raise NothingStored(email)
        suppressions.forget(conn, key)
        bounces.unname(conn, [report.id for report in reports])
        replies.delete(conn, [answer.id for answer in answers])
        posts.delete_from(conn, key)
        inbound.unname(conn, key, [(answer.message_id, answer.recipient) for answer in answers])
        if subscriber_id is not None:
            deliveries.delete_of(conn, subscriber_id)
            subscribers.delete(conn, subscriber_id)
    # Once the rows are gone for good: a failed transaction keeps its files too.
    files.remove(replies_folder, [answer.folder for answer in answers])
