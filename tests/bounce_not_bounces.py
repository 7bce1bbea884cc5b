"""Mail that reaches the bounce and reply addresses but is no bounce, built for the tests.

People's replies and forwards, programs' mail and auto-replies of several
kinds, with our own addresses (``news@example.com`` sends; people live at
``example.org`` and ``example.net``) and our own words.
"""

from __future__ import annotations

from tests.bounce_samples import DATE, SENDER, _crlf


def _message(headers: str, body: str) -> bytes:
    """A message of a person or a program (not a mail system), as our inbox gets it."""
    return _crlf(f"{headers.strip()}\nDate: {DATE}\nContent-Type: text/plain; charset=utf-8\n\n"
                 f"{body.strip()}\n")


def ordinary_messages() -> list[bytes]:
    """Mail that reaches the bounce or reply address but is no bounce: people and programs."""
    return [
        _message(f"""From: Alice <alice@example.org>
To: {SENDER}
Subject: Re: November letter
Message-ID: <r1@example.org>
In-Reply-To: <letter-1@example.com>""", """
Hello, please take me off the list. My old address alice@old.example.org does not
exist any more and mail to it is rejected; write to alice@example.org instead.
"""),
        _message(f"""From: Bob <bob@example.net>
To: {SENDER}
Subject: Re: Error in your November letter: delivery failed?
Message-ID: <r2@example.net>
In-Reply-To: <letter-1@example.com>""", """
The link to the shop gave an error, and my order to shop@example.com was rejected:
"user unknown". Could you check? Mail to orders@example.com could not be delivered either.
"""),
        _message(f"""From: Carol <carol@example.org>
To: {SENDER}
Subject: Fwd: November letter
Message-ID: <f1@example.org>""", f"""
Forwarding this to you, my friend dan@example.net says his copy never arrived.

---------- Forwarded message ---------
From: Example News <{SENDER}>
To: carol@example.org
Subject: November letter

Hello, here is our November letter.
"""),
        _message(f"""From: Shop <offers@shop.example.net>
To: {SENDER}
Subject: Your delivery is on its way
Message-ID: <promo-1@shop.example.net>
List-Unsubscribe: <mailto:leave@shop.example.net>""", """
Your parcel could not be delivered today; we will try again tomorrow.
Questions? Write to help@shop.example.net.
"""),
        _message(f"""From: Erin <erin@example.org>
To: {SENDER}
Subject: Re: November letter
Message-ID: <r3@example.org>""", """
> Mailbox full? Your last letter said my mailbox is full, but it is not.
My colleague frank@example.org no longer works here, his mailbox was closed.
"""),
    ]


def auto_replies() -> list[bytes]:
    """Auto-replies of several kinds: out of office, left the company, tickets, challenges."""
    return [
        _message(f"""From: Gina <gina@example.org>
To: {SENDER}
Subject: Automatic reply: November letter
Message-ID: <ar1@example.org>
Auto-Submitted: auto-replied
X-Auto-Response-Suppress: All""", """
I am out of the office until 9 November with no access to e-mail.
For urgent matters contact hugo@example.org.
"""),
        _message(f"""From: Ines <ines@example.net>
To: {SENDER}
Subject: Abwesenheitsnotiz: November letter
Message-ID: <ar2@example.net>""", """
Ich bin bis zum 9. November nicht im Büro. Ihre Nachricht wird nicht weitergeleitet.
"""),
        _message(f"""From: Jules <jules@example.org>
To: {SENDER}
Subject: Réponse automatique : November letter
Message-ID: <ar3@example.org>
Auto-Submitted: auto-replied""", """
Je suis absent jusqu'au 9 novembre. Pour toute urgence : karl@example.org.
"""),
        _message(f"""From: Lena <lena@example.net>
To: {SENDER}
Subject: Re: November letter
Message-ID: <ar4@example.net>
Auto-Submitted: auto-replied
Return-Path: <>""", """
Lena no longer works at Example. This address does not exist any more and mail to it
is not read: please write to marc@example.net.
"""),
        _message(f"""From: Support <support@help.example.org>
To: {SENDER}
Subject: [Ticket #4711] Re: November letter
Message-ID: <ar5@help.example.org>
Auto-Submitted: auto-generated
Precedence: bulk""", """
Your request has been received and a ticket was opened. Replies to this message are
not delivered to a person; if your mail was rejected, write to desk@help.example.org.
"""),
        _message(f"""From: Mail Guard <confirm@guard.example.net>
To: {SENDER}
Subject: Please confirm your message to nina@example.net
Message-ID: <ar6@guard.example.net>
Auto-Submitted: auto-replied""", """
Your message to nina@example.net is held until you confirm that you are a person.
Unconfirmed mail is deleted after 7 days and will not be delivered.
"""),
    ]
