"""Requests to leave by mail: a message to the address every letter's List-Unsubscribe offers.

The addresses recognised are exactly those the letters advertise
(``tokens.unsubscribe_token``). The token in the address names the
subscriber and the list; a token that fails unsubscribes nobody. The request
is stored as an ``unsubscribe`` row naming the subscriber and the list, so
that it is read only once and shows in ``bounces ls``.
"""

from __future__ import annotations

import sqlite3

from mailer import tokens
from mailer.bounces.model import UNSUBSCRIBE, ParsedBounce
from mailer.config import Config
from mailer.errors import ConfigError, TokenError
from mailer.store import bounces, campaigns, subscriptions
from mailer.store.lists import list_name
from mailer.store.models import Proof
from mailer.store.subscribers import get_subscriber_by_id


def unsubscribe_by_mail(
    conn: sqlite3.Connection,
    parsed: ParsedBounce,
    config: Config,
    signer: tokens.Signer | None,
    message_id: str,
    source: str,
) -> list[str] | None:
    """Act on a request to leave: the changes made, or None when the message is not one."""
    for recipient in parsed.addressed_to:
        token = tokens.unsubscribe_token(recipient, config)
        if not token:
            continue
        if signer is None:
            # Storing it as nothing would lose a person's request to leave.
            raise ConfigError(
                f"mail to {recipient} asks to unsubscribe, but its token cannot be checked: "
                "MAILER_SECRET_KEY is unset"
            )
        try:
            claim = signer.verify(token, tokens.UNSUBSCRIBE)
            subscriber_id, list_id = claim.integer(0), claim.integer(1)
        except TokenError:
            continue  # forged or damaged: nobody is unsubscribed by it
        subscriber = get_subscriber_by_id(conn, subscriber_id)
        if subscriber is None:
            continue
        name = list_name(conn, list_id)
        campaign = claim.integer(2) or None
        left = (
            subscriptions.leave(
                conn, subscriber_id, list_id, method="mailto", source=source, campaign=campaign
            )
            if name is not None
            else []
        )
        shown = name or f"list {list_id} (removed)"
        bounces.insert(
            conn,
            bounces.NewBounce(
                message_id=message_id, recipient=subscriber.email, kind=UNSUBSCRIBE,
                status="", reason="mailto", diagnostic=f"asked by mail to leave {shown}",
                source=source, subscriber_id=subscriber_id,
                campaign_id=campaign if campaigns.exists(conn, campaign) else None,
                proof=Proof.MAILTO,
            ),
        )
        return [f"{subscriber.email}: unsubscribed from {shown} by mail"] if left else []
    return None
