"""Reading a built message back the way a mail client's library does, and what it objects to."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import Any


def parse(data: bytes) -> EmailMessage:
    """The message as the standard library reads it (policy ``default``)."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def all_defects(message: EmailMessage) -> list[Any]:
    """Every defect the parser found, in the parts' structure and in their headers."""
    found: list[Any] = []
    for part in message.walk():
        found.extend(part.defects)
        for name in part:
            found.extend(getattr(part[name], "defects", ()))
    return found
