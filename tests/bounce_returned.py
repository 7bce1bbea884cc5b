"""The letters a bounce or a complaint returns, and messages built around them, for the tests.

A discussion list's post (addressed to the list), one of mailer's own
letters (addressed to its subscriber), a notice that names nobody and
returns one of them, and complaints whose report is on the outer message.
Our own addresses: ``news@example.com`` sends, people live at
``example.org`` and ``example.net``.
"""

from __future__ import annotations

from tests.bounce_samples import DATE, SENDER, _crlf, original

#: A discussion list's post as its list server sends it: To is the list itself.
LIST_POST = f"""Return-Path: <talk-bounces@lists.example.net>
Message-ID: <post-7@lists.example.net>
Date: {DATE}
From: Example News <{SENDER}>
To: talk@lists.example.net
Subject: [talk] November meeting
List-Id: Talk about things <talk.lists.example.net>
List-Post: <mailto:talk@lists.example.net>
List-Unsubscribe: <mailto:talk-leave@lists.example.net>
Precedence: list
Sender: talk-bounces@lists.example.net

See you on Thursday.
"""

#: One of mailer's own letters: the subscriber is the To, the list is in List-Id.
OUR_LETTER = f"""Return-Path: <{SENDER}>
Message-ID: <m3.ab12cd34.1@example.com>
Date: {DATE}
From: Example News <{SENDER}>
To: {{to}}
Subject: November letter
List-Id: <news.example.com>
List-Unsubscribe: <mailto:unsubscribe+t0k3n@example.com>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
Precedence: bulk
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Hello, here is our November letter.
"""


def no_recipient_notice(
    attached: str,
    *,
    text: str = "Your message could not be delivered: the mailbox is unavailable.",
    content_type: str = "message/rfc822",
) -> bytes:
    """A notice (by default one that names nobody) and the letter it returns attached.

    Some servers attach the letter as ``text/plain`` rather than as a message.
    """
    return _crlf(f"""From: Mail Delivery System <MAILER-DAEMON@mx.example.com>
To: {SENDER}
Subject: Undeliverable message
Message-ID: <nobody-1@mx.example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="N"

--N
Content-Type: text/plain

{text}

--N
Content-Type: {content_type}

{attached}
--N--
""")


def list_post() -> str:
    """A discussion list's post (To: the list)."""
    return LIST_POST


def our_letter(to: str) -> str:
    """One of our own letters, addressed to one subscriber."""
    return OUR_LETTER.format(to=to)


def hotmail_outer_complaint(address: str = "xena@example.org") -> bytes:
    """A JMRP complaint delivered inline: our letter itself, Hotmail's headers on top."""
    return _crlf(f"""X-HmXmrOriginalRecipient: <{address}>
X-Message-Delivery: Vj0xLjE7dXM9MDtsPTA7YT0wO0Q9MjtHRD0xO1NDTD02
X-Message-Status: n:0
Received: from mx.example.com ([192.0.2.1]) by mx.hotmail.com with Microsoft SMTPSVC;
 {DATE}
{original(address)}""")


def feedback_headers_on_top(address: str = "yann@example.org") -> bytes:
    """A complaint whose feedback fields are headers of the outer message."""
    return _crlf(f"""From: Feedback Loop <fbl@isp.example.net>
To: abuse@example.com
Subject: Abuse report
Message-ID: <fbl-top@isp.example.net>
Feedback-Type: abuse
User-Agent: ExampleFBL/2.0
Version: 1
Original-Rcpt-To: <{address}>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="F"

--F
Content-Type: text/plain

A user marked your message as spam.

--F
Content-Type: message/rfc822

{original(address)}
--F--
""")
