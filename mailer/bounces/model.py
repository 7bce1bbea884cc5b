"""What a bounce says, once read: one event per recipient it reports on.

The parser's output is deliberately plain data (frozen dataclasses) so that
the store, the policy and the command line can share it without any of them
knowing how the message was read.
"""

from __future__ import annotations

from dataclasses import dataclass

HARD = "hard"
SOFT = "soft"
COMPLAINT = "complaint"
DELAYED = "delayed"
AUTO_REPLY = "auto-reply"
UNKNOWN = "unknown"
#: Not a bounce: a request to leave, mailed to the List-Unsubscribe address.
UNSUBSCRIBE = "unsubscribe"

#: Every kind an event can have, in the order the documentation lists them.
KINDS = (HARD, SOFT, COMPLAINT, DELAYED, AUTO_REPLY, UNKNOWN, UNSUBSCRIBE)

#: The reason of a failure that refused *our sender* (at MAIL FROM, or with a
#: bad-sender code), not the recipient: a soft event the policy never scores.
SENDER_REFUSED = "rejected"


@dataclass(frozen=True)
class BounceEvent:
    """One recipient's fate as a bounce, complaint or auto-reply reports it.

    ``status`` is the enhanced status code (``5.1.1``) as the server gave it or
    as inferred from its wording; ``reason`` a short machine word
    (``userunknown``); ``diagnostic`` the server's own text, for people.
    ``campaign`` and ``subscriber`` are known only from a verified token
    (VERP or a signed Message-ID).
    """

    recipient: str
    kind: str
    status: str = ""
    reason: str = ""
    diagnostic: str = ""
    campaign: int | None = None
    subscriber: int | None = None



@dataclass(frozen=True)
class ParsedBounce:
    """Everything read from one message: its own Message-ID and its events.

    The Message-ID is what makes ingesting the same bounce twice a no-op.
    """

    message_id: str
    events: tuple[BounceEvent, ...]
    #: The addresses the message itself was delivered to (To, Delivered-To,
    #: ...), where an unsubscribe token in a mailto address is found.
    addressed_to: tuple[str, ...] = ()
    #: How the message proved which letter and subscriber it is about:
    #: ``verp`` (a signed envelope address), ``message-id`` (a Message-ID that
    #: mailer signed, quoted back) or ``""`` (it proves nothing).
    proof: str = ""
    #: A token of ours was there but its signature failed: stored for the
    #: record, acted on by nobody.
    tampered: bool = False


@dataclass
class Finding:
    """A recipient a reader found, before classification turns it into an event.

    ``action`` is the DSN action (``failed``, ``delayed``, ``delivered``, ...)
    when the message states one; ``""`` when only wording was read.
    """

    recipient: str
    status: str = ""
    diagnostic: str = ""
    action: str = ""
    kind: str = ""  # set by readers that know it outright (complaint, auto-reply)
    reason: str = ""
    stage: str = ""  # text that may say which SMTP command was refused
