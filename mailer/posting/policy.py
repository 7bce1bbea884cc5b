"""What becomes of a post: the list's policy, who the poster is, and what proves it.

1. Who may post: nobody (``closed``), the list's posters (``announce``),
   its confirmed members and posters (``members``), anyone (``open``). A
   post the policy does not allow is held for a moderator, or refused with
   a polite answer when the list says ``--on-refused reject``.
2. Whether the From address is the poster's: the receiving server's DMARC
   or aligned DKIM pass (``auth-results``), the poster's click on a signed
   link mailed back to them (``confirm``), or either (``both``). A post
   that proves nothing waits for a moderator: a forged From of the
   coordinator never reaches the list by itself.

Nothing is dropped here: every post is stored with its status and why.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum

from mailer.contacts.addresses import normalize_address
from mailer.errors import InputError
from mailer.i18n import N_
from mailer.posting.authresults import Proof
from mailer.store.database import Store
from mailer.store.lists import posting_policy, set_posting_policy
from mailer.store.models import (
    DmarcAction,
    OnRefused,
    Posting,
    PostingPolicy,
    PostStatus,
    Verify,
)


class Standing(StrEnum):
    """Who the From address is to the list."""

    POSTER = "poster"
    MEMBER = "member"
    STRANGER = "stranger"


@dataclass(frozen=True)
class Verdict:
    """The post's status, why, and what proved its sender (for an accepted one)."""

    status: PostStatus
    reason: str
    proof: str = ""


def allowed(policy: PostingPolicy, standing: Standing) -> bool:
    """Whether the list takes posts from someone of this standing."""
    if policy.posting is Posting.OPEN:
        return True
    if policy.posting is Posting.ANNOUNCE:
        return standing is Standing.POSTER
    if policy.posting is Posting.MEMBERS:
        return standing is not Standing.STRANGER
    return False


def _refusal(policy: PostingPolicy, standing: Standing) -> str:
    """Why the list refuses the post: told the poster in their language when it rejects."""
    if policy.posting is Posting.CLOSED:
        return N_("posting is closed")
    if policy.posting is Posting.ANNOUNCE:
        return N_("not one of the list's posters")
    return N_("not a member of the list")


def judge(policy: PostingPolicy, standing: Standing, proved: Proof) -> Verdict:
    """The verdict on a post (the module's docstring has the rule)."""
    if not allowed(policy, standing):
        reason = _refusal(policy, standing)
        if policy.on_refused is OnRefused.REJECT:
            return Verdict(PostStatus.REJECTED, reason)
        return Verdict(PostStatus.HELD, reason)
    if proved.how and policy.verify in (Verify.AUTH_RESULTS, Verify.BOTH):
        return Verdict(PostStatus.APPROVED, proved.detail, proved.how)
    if policy.verify in (Verify.CONFIRM, Verify.BOTH):
        return Verdict(PostStatus.UNCONFIRMED, "waiting for the poster to confirm it")
    return Verdict(
        PostStatus.HELD, "the sender is not proved (no trusted DMARC or aligned DKIM pass)"
    )


def change_policy(store: Store, list_id: int, changes: dict[str, str | None]) -> PostingPolicy:
    """Change a list's posting settings; a None leaves one as it is.

    ``reply_to`` is ``poster``, ``list`` or an address (checked); the
    subject prefix is one line of at most 40 characters.
    """
    current = posting_policy(store, list_id)
    given = {name: value for name, value in changes.items() if value is not None}
    reply_to = given.get("reply_to")
    if reply_to is not None and reply_to not in ("poster", "list"):
        given["reply_to"] = normalize_address(reply_to).email
    prefix = given.get("subject_prefix")
    if prefix is not None and (any(ch in prefix for ch in "\r\n\0") or len(prefix) > 40):
        raise InputError(f"--subject-prefix {prefix[:60]!r} must be one line of at most 40 "
                         "characters")
    updated = dataclasses.replace(
        current,
        posting=Posting(given.get("posting", current.posting)),
        on_refused=OnRefused(given.get("on_refused", current.on_refused)),
        verify=Verify(given.get("verify", current.verify)),
        dmarc=DmarcAction(given.get("dmarc", current.dmarc)),
        reply_to=given.get("reply_to", current.reply_to),
        subject_prefix=given.get("subject_prefix", current.subject_prefix),
    )
    set_posting_policy(store, list_id, updated)
    return updated
