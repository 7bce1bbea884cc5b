"""Mail that is no bounce gives no failure: people's replies and forwards, programs, auto-replies.

The bounce and reply addresses get all of these. None may ever give a hard
bounce: each would mark as dead an address someone merely mentioned. They
call :func:`read_bounce`, the reader without the catch-all, so that an error
in it fails here instead of passing as ``unknown``.
"""

from __future__ import annotations

import pytest

from mailer.bounces.parse import read_bounce
from tests import bounce_not_bounces as not_bounces
from tests import bounce_samples as samples


@pytest.mark.parametrize("raw", not_bounces.ordinary_messages())
def test_an_ordinary_message_gives_no_failure(raw: bytes) -> None:
    assert [(e.recipient, e.kind) for e in read_bounce(raw).events] == [("", "unknown")]


@pytest.mark.parametrize("raw", [*not_bounces.auto_replies(), samples.vacation()])
def test_an_auto_reply_gives_no_failure(raw: bytes) -> None:
    kinds = {e.kind for e in read_bounce(raw).events}
    assert kinds <= {"auto-reply", "unknown"}, kinds


@pytest.mark.parametrize("raw", [*not_bounces.ordinary_messages(), *not_bounces.auto_replies()])
def test_neither_gives_a_failure_when_sent_from_the_null_sender(raw: bytes) -> None:
    # An empty Return-Path makes a message read as a notice; still no hard bounce.
    raw = raw.replace(b"\r\n\r\n", b"\r\nReturn-Path: <>\r\n\r\n", 1)
    assert "hard" not in {e.kind for e in read_bounce(raw).events}


def test_a_person_forwarding_a_bounce_inline_is_read_as_that_bounce() -> None:
    bounce = samples.sendmail_plain("sara@example.org").decode("utf-8").replace("\r\n", "\n")
    raw = samples._crlf(f"""From: Tom <tom@example.net>
To: {samples.SENDER}
Subject: Fwd: Returned mail: see transcript for details
Message-ID: <fwd-inline@example.net>

Got this when I wrote to Sara, is her address on your list?

---------- Forwarded message ---------
{bounce}""")
    assert [(e.recipient, e.kind) for e in read_bounce(raw).events] == [
        ("sara@example.org", "hard")
    ]
