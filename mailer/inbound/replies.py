"""Answers to a circular: proved by their address, stored under their letter, forwarded.

Every letter's Reply-To is ``replies+<token>@...``, the token signed and
naming the campaign and the subscriber (``tokens.Signer.reply``). A reply:

1. is proved by that token: one that verifies names the campaign and the
   subscriber, whatever address the member writes from; a reply without a
   token, or whose token fails (tampered, or meant for something else), is
   stored as unverified, with no campaign and no subscriber;
2. is stored with its sender, subject, date and text, and its message and
   attachments are saved under the replies folder (``inbound.files``), all
   in one transaction with its line in the intake's log;
3. is forwarded to ``[replies] forward_to``, when set, after it is stored:
   a forward that fails for now stays pending and is tried again when the
   MTA delivers the message again (or with the next reply); one refused for
   good (a 5xx) is marked failed with the server's answer.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass

from mailer import tokens
from mailer.dispatch.run import send_one
from mailer.errors import ConfigError, TokenError, TransportError
from mailer.inbound import files
from mailer.inbound.arrival import Arrival, Intake, Received
from mailer.inbound.forward import forward_copy
from mailer.inbound.message import content_of
from mailer.inbound.noise import MB
from mailer.inbound.routes import Destination
from mailer.store import bounces, campaigns, replies
from mailer.store.models import ForwardState, Outcome, Reply

VERIFIED = "verified"
NO_TOKEN = "unverified: no token"
BAD_TOKEN = "unverified: the token does not verify"


@dataclass(frozen=True)
class Proof:
    """Whom a reply's address proves it is from, and why (or why not)."""

    campaign_id: int | None
    subscriber_id: int | None
    verified: bool
    reason: str


def prove(conn: sqlite3.Connection, token: str, signer: tokens.Signer | None) -> Proof:
    """What the token in a replies address proves (the trust rule for replies)."""
    if not token:
        return Proof(None, None, False, NO_TOKEN)
    if signer is None:
        # Stored as unverified, the member's answer would lose whose it is.
        raise ConfigError(
            "a reply's token cannot be checked: MAILER_SECRET_KEY is unset"
        )
    try:
        claim = signer.verify(token, tokens.REPLY)
        campaign_id, subscriber_id = claim.integer(0) or None, claim.integer(1) or None
    except TokenError:
        return Proof(None, None, False, BAD_TOKEN)
    return Proof(
        campaign_id if campaigns.exists(conn, campaign_id) else None,
        subscriber_id if bounces.subscriber_exists(conn, subscriber_id) else None,
        True,
        VERIFIED,
    )


def take(intake: Intake, arrival: Arrival, destination: Destination) -> Received:
    """Store a reply (once), then forward what waits to be forwarded."""
    received = _store(intake, arrival, destination)
    forwarded = forward_pending(intake)
    return Received(
        received.route, received.outcome, received.reason, received.verified,
        forwarded=forwarded,
    )


def _store(intake: Intake, arrival: Arrival, destination: Destination) -> Received:
    content = content_of(arrival.raw)
    facts, config = arrival.facts, intake.config
    folder = ""
    try:
        with intake.store.transaction() as conn:
            if intake.seen(conn, arrival):
                return Received(destination.kind, None)
            proof = prove(conn, destination.token, intake.signer)
            reply_id = replies.insert(
                conn,
                replies.NewReply(
                    message_id=arrival.key, recipient=arrival.recipient,
                    campaign_id=proof.campaign_id, subscriber_id=proof.subscriber_id,
                    verified=proof.verified, sender=facts.sender,
                    sender_name=facts.sender_name, subject=facts.subject,
                    sent_at=facts.sent_at, text=content.text,
                    forward=ForwardState.PENDING if config.replies.forward_to
                    else ForwardState.NONE,
                ),
            )
            folder, saved = files.save(
                intake.root, reply_id, arrival.raw, content.attachments,
                int(config.replies.max_attachment_mb * MB),
            )
            replies.set_files(conn, reply_id, folder, saved)
            intake.record(conn, arrival, destination, Outcome.STORED, proof.reason)
    except BaseException:
        files.remove(intake.root, [folder])  # the reply is not stored: nor are its files
        raise
    return Received(destination.kind, Outcome.STORED, proof.reason, proof.verified)


def forward_pending(intake: Intake) -> int:
    """Forward every reply waiting for it; how many went.

    A failure that may pass (the relay unreachable, a 4xx) is raised, so a
    piped message is kept by the MTA and the forward tried again; a refusal
    for good is recorded on the reply and the rest go on.
    """
    config = intake.config
    if not config.replies.forward_to:
        return 0
    sent = 0
    for reply in replies.to_forward(intake.store.conn):
        state, note = _forward(intake, reply)
        with intake.store.transaction() as conn:
            replies.set_forward(conn, reply.id, state, note)
        sent += state is ForwardState.SENT
    return sent


def _forward(intake: Intake, reply: Reply) -> tuple[ForwardState, str]:
    try:
        raw = files.message_path(intake.root, reply.folder).read_bytes()
    except FileNotFoundError:
        return ForwardState.FAILED, "the reply's message file is missing"
    message = forward_copy(raw, reply, intake.config)
    try:
        asyncio.run(send_one(intake.config, message))
    except TransportError as exc:
        if exc.code is not None and exc.code >= 500:
            return ForwardState.FAILED, str(exc)
        raise
    return ForwardState.SENT, ""
