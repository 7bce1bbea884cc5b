"""Bounce, complaint and auto-reply messages built for the tests.

Each builder writes one family of format the way its software does (from
the formats' documentation and the servers' published templates), with our
own addresses: the newsletter sends as ``news@example.com`` and the
subscribers live at ``example.org`` and ``example.net``.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from email.utils import format_datetime

SENDER = "news@example.com"
DATE = format_datetime(datetime(2026, 11, 2, 9, 30, tzinfo=UTC))
ORIGINAL = f"""Return-Path: <{SENDER}>
Message-ID: {{message_id}}
Date: {DATE}
From: Example News <{SENDER}>
To: {{to}}
Subject: November letter
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Hello, here is our November letter.
"""


def original(to: str, message_id: str = "<letter-1@example.com>") -> str:
    """The letter that bounced, as servers attach or quote it."""
    return ORIGINAL.format(to=to, message_id=message_id)


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def dsn(
    recipients: list[tuple[str, str, str, str]],
    *,
    human: str = "Your message could not be delivered.",
    to: str = SENDER,
    message_id: str = "<dsn-1@mx.example.org>",
    extra_headers: str = "",
    attach: str | None = None,
    boundary: str = "B1",
) -> bytes:
    """An RFC 3464 report; ``recipients`` are (address, action, status, diagnostic)."""
    blocks = "\n".join(
        f"Final-Recipient: rfc822; {addr}\nAction: {action}\nStatus: {status}\n"
        + (f"Diagnostic-Code: smtp; {diag}\n" if diag else "")
        for addr, action, status, diag in recipients
    )
    first = recipients[0][0] if recipients else "nobody@example.org"
    return _crlf(f"""From: Mail Delivery System <MAILER-DAEMON@mx.example.com>
To: {to}
Subject: Undelivered Mail Returned to Sender
Message-ID: {message_id}
Date: {DATE}
MIME-Version: 1.0
{extra_headers}Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"

--{boundary}
Content-Type: text/plain; charset=us-ascii

{human}

--{boundary}
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com
Arrival-Date: {DATE}

{blocks}
--{boundary}
Content-Type: message/rfc822

{attach if attach is not None else original(first)}
--{boundary}--
""")


def postfix_dsn_user_unknown(address: str = "alice@example.org") -> bytes:
    """Postfix with a standard report: the address does not exist."""
    return dsn(
        [(address, "failed", "5.1.1",
          f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual "
          "mailbox table")],
        human=f"This is the mail system at host mx.example.com.\n\n<{address}>: host "
        f"mx.example.org[192.0.2.10] said: 550 5.1.1 <{address}>: Recipient address "
        "rejected: User unknown (in reply to RCPT TO command)",
    )


def exim(address: str = "bob@example.org") -> bytes:
    """Exim's plain-text bounce, with X-Failed-Recipients."""
    return _crlf(f"""From: Mail Delivery System <Mailer-Daemon@mx.example.com>
To: {SENDER}
Subject: Mail delivery failed: returning message to sender
Message-ID: <exim-1@mx.example.com>
X-Failed-Recipients: {address}
Auto-Submitted: auto-replied
Date: {DATE}

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {address}
    host mx.example.org [192.0.2.20]
    SMTP error from remote mail server after RCPT TO:<{address}>:
    550 5.1.1 <{address}>: No such user here

------ This is a copy of the message, including all the headers. ------

{original(address)}""")


def exim_delay(address: str = "bob@example.org") -> bytes:
    """Exim's warning that a message is still on its queue."""
    return _crlf(f"""From: Mail Delivery System <Mailer-Daemon@mx.example.com>
To: {SENDER}
Subject: Warning: message 1abc-000 delayed 24 hours
Message-ID: <exim-2@mx.example.com>
Auto-Submitted: auto-replied

This message was created automatically by mail delivery software.
A message that you sent has not yet been delivered to one or more of its
recipients after more than 24 hours on the queue on mx.example.com.

The message identifier is:     1abc-000

The address to which the message has not yet been delivered is:

  {address}
    host mx.example.org [192.0.2.20]: Connection timed out

No action is required on your part. Delivery attempts will continue for
some time, and this warning may be repeated at intervals if the message
remains undelivered. Eventually the mail delivery software will give up,
and when that happens, the message will be returned to you.
""")


def postfix_plain(address: str = "carol@example.org") -> bytes:
    """Postfix without a report part (notify_classes, old versions): mailbox full."""
    return _crlf(f"""From: MAILER-DAEMON@mx.example.com (Mail Delivery System)
To: {SENDER}
Subject: Undelivered Mail Returned to Sender
Message-ID: <postfix-plain@mx.example.com>

This is the mail system at host mx.example.com.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

                   The mail system

<{address}>: host mx.example.org[192.0.2.30] said: 552 5.2.2 <{address}>:
    Mailbox full, quota exceeded (in reply to RCPT TO command)
""")


def qmail(address: str = "dave@example.org") -> bytes:
    """qmail-send's failure notice."""
    return _crlf(f"""From: MAILER-DAEMON@mail.example.com
To: {SENDER}
Subject: failure notice
Message-ID: <qmail-1@mail.example.com>

Hi. This is the qmail-send program at mail.example.com.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<{address}>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

{original(address)}""")


def sendmail_plain(address: str = "erin@example.org") -> bytes:
    """Sendmail's notice with its session transcript, without a report part."""
    return _crlf(f"""From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.com>
To: {SENDER}
Subject: Returned mail: see transcript for details
Message-ID: <sendmail-1@mx.example.com>

The original message was received at {DATE}
from localhost [127.0.0.1]

   ----- The following addresses had permanent fatal errors -----
<{address}>
    (reason: 550 5.1.1 <{address}>... User unknown)

   ----- Transcript of session follows -----
... while talking to mx.example.org.:
>>> RCPT To:<{address}>
<<< 550 5.1.1 <{address}>... User unknown
550 5.1.1 {address}... User unknown
""")


def exchange_2003(address: str = "frank@example.org") -> bytes:
    """Exchange 2003's "did not reach the following recipient(s)"."""
    return _crlf(f"""From: System Administrator <postmaster@example.org>
To: {SENDER}
Subject: Undeliverable: November letter
Message-ID: <exchange-1@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="NextPart_000"

--NextPart_000
Content-Type: text/plain; charset="iso-8859-1"

Your message

  To:      Frank <{address}>
  Subject: November letter
  Sent:    {DATE}

did not reach the following recipient(s):

{address} on {DATE}
    The e-mail account does not exist at the organization this message was sent to.
    <mx.example.org #5.1.1>

--NextPart_000
Content-Type: message/rfc822

{original(address)}
--NextPart_000--
""")


def domino(address: str = "grace@example.org") -> bytes:
    """Lotus Domino's delivery failure."""
    return _crlf(f"""From: Postmaster@example.org
To: {SENDER}
Subject: DELIVERY FAILURE: User grace ({address}) not listed in Domino Directory
Message-ID: <domino-1@example.org>

Your message

  Subject: November letter

was not delivered to:

  {address}

because:

  User grace ({address}) not listed in Domino Directory
""")


def gmail(address: str = "heidi@example.org") -> bytes:
    """Gmail's older plain notice: the remote server said the mailbox is full."""
    return _crlf(f"""From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: {SENDER}
Subject: Delivery Status Notification (Failure)
Message-ID: <gmail-1@mail.gmail.com>
X-Failed-Recipients: {address}

Delivery to the following recipient failed permanently:

     {address}

Technical details of permanent failure:
Google tried to deliver your message, but it was rejected by the server for the
recipient domain example.org by mx.example.org. [192.0.2.40].

The error that the other server returned was:
552 5.2.2 The email account that you tried to reach is over quota.

----- Original message -----

{original(address)}""")


def yahoo(address: str = "ivan@example.org") -> bytes:
    """Yahoo's "Failure Notice"."""
    return _crlf(f"""From: MAILER-DAEMON@yahoo.com
To: {SENDER}
Subject: Failure Notice
Message-ID: <yahoo-1@yahoo.com>

Sorry, we were unable to deliver your message to the following address.

<{address}>:
Remote host said: 554 delivery error: dd This user doesn't have a example.org account
({address}) [0] - mta.example.org [BODY]

--- Below this line is a copy of the message.

{original(address)}""")


def courier(address: str = "judy@example.org") -> bytes:
    """Courier's notice with the SMTP dialogue."""
    return _crlf(f"""From: Courier mail server at mx.example.com <@>
To: {SENDER}
Subject: NOTICE: mail delivery status.
Message-ID: <courier-1@mx.example.com>

This is a delivery status notification from mx.example.com,
running the Courier mail server.

---------------------------------------------------------------------------

                           UNDELIVERABLE MAIL

Your message to the following recipients cannot be delivered:

<{address}>:
    mx.example.org [192.0.2.50]:
>>> RCPT TO:<{address}>
<<< 550 {address}: No such user

---------------------------------------------------------------------------
""")


def office365(address: str = "kim@example.org") -> bytes:
    """Exchange Online: a report whose human part is HTML."""
    return _crlf(f"""From: postmaster@example.onmicrosoft.com
To: {SENDER}
Subject: Undeliverable: November letter
Message-ID: <o365-1@example.onmicrosoft.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="O365"

--O365
Content-Type: multipart/alternative; boundary="ALT"

--ALT
Content-Type: text/html; charset=utf-8

<html><body><p><b>Your message to {address} couldn't be delivered.</b></p>
<p>kim wasn't found at example.org.</p>
<p>Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not
found by SMTP address lookup'</p></body></html>

--ALT--

--O365
Content-Type: message/delivery-status

Reporting-MTA: dns;EX1.example.onmicrosoft.com

Final-Recipient: rfc822;{address}
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound;
 Recipient not found by SMTP address lookup

--O365
Content-Type: text/rfc822-headers

From: Example News <{SENDER}>
To: {address}
Subject: November letter

--O365--
""")


def messagelabs(address: str = "leo@example.org") -> bytes:
    """A filtering gateway refusing the sender by reputation (a soft failure)."""
    return dsn(
        [(address, "failed", "5.0.0",
          "553 sorry, your IP address is listed on a DNS blocklist (Spamhaus)")],
        human="This is an automatically generated Delivery Status Notification.\n\n"
        f"Delivery to the following recipients failed permanently:\n\n * {address}",
        message_id="<ml-1@messagelabs.example>",
    )


def ses_bounce(address: str = "mia@example.org") -> bytes:
    """Amazon SES bounce notification delivered by SNS e-mail: JSON in the body."""
    document = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {"emailAddress": address, "action": "failed", "status": "5.1.1",
                 "diagnosticCode": "smtp; 550 5.1.1 user unknown"}
            ],
        },
        "mail": {"source": SENDER, "destination": [address]},
    }
    return _crlf(f"""From: AWS Notifications <no-reply@sns.amazonaws.com>
To: {SENDER}
Subject: AWS Notification Message
Message-ID: <ses-1@email.amazonses.com>
Content-Type: text/plain; charset=UTF-8

{json.dumps(document)}

--
If you wish to stop receiving notifications from this topic, follow the link.
""")


def ses_complaint(address: str = "nick@example.org") -> bytes:
    """Amazon SES complaint notification (JSON)."""
    document = {
        "notificationType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": address}],
                      "complaintFeedbackType": "abuse"},
    }
    return _crlf(f"""From: AWS Notifications <no-reply@sns.amazonaws.com>
To: {SENDER}
Subject: AWS Notification Message
Message-ID: <ses-2@email.amazonses.com>
Content-Type: text/plain; charset=UTF-8

{json.dumps(document)}
""")


def arf(
    address: str = "olga@example.org",
    *,
    with_rcpt_to: bool = True,
    message_id: str = "<letter-1@example.com>",
) -> bytes:
    """An RFC 5965 feedback report (a spam complaint)."""
    rcpt = f"Original-Rcpt-To: {address}\n" if with_rcpt_to else ""
    return _crlf(f"""From: Feedback Loop <fbl@isp.example.net>
To: abuse@example.com
Subject: Email Feedback Report
Message-ID: <arf-1@isp.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="ARF"

--ARF
Content-Type: text/plain; charset=us-ascii

This is an email abuse report for an email message received from IP 192.0.2.1.

--ARF
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: ExampleFBL/1.0
Version: 1
Original-Mail-From: <{SENDER}>
{rcpt}Arrival-Date: {DATE}
Source-IP: 192.0.2.1

--ARF
Content-Type: message/rfc822

{original(address, message_id)}
--ARF--
""")


def jmrp(address: str = "paul@example.org") -> bytes:
    """Microsoft's JMRP complaint: the original attached, the recipient in a header."""
    return _crlf(f"""From: staff@hotmail.com
To: abuse@example.com
Subject: complaint about message from 192.0.2.1
Message-ID: <jmrp-1@hotmail.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="J"

--J
Content-Type: message/rfc822

X-HmXmrOriginalRecipient: {address}
{original(address)}
--J--
""")


def vacation(person: str = "quinn@example.org") -> bytes:
    """An RFC 3834 out-of-office reply."""
    return _crlf(f"""From: Quinn <{person}>
To: {SENDER}
Subject: Out of Office: November letter
Message-ID: <ooo-1@example.org>
Auto-Submitted: auto-replied
Content-Type: text/plain; charset=utf-8

I am away until Monday and will read your message when I am back.
""")


def verp_dsn(verp_address: str, recipient: str = "rita@example.org") -> bytes:
    """A bounce sent back to a VERP return path (the envelope recipient of the bounce)."""
    return dsn(
        [(recipient, "failed", "5.1.1", "550 5.1.1 user unknown")],
        to=verp_address,
        extra_headers=f"Delivered-To: {verp_address}\n",
        message_id="<verp-1@mx.example.org>",
    )


def multi_recipient() -> bytes:
    """One report about three recipients with three different fates."""
    return dsn(
        [
            ("sam@example.org", "failed", "5.1.1", "550 5.1.1 <sam@example.org>: user unknown"),
            ("tina@example.net", "failed", "5.2.2", "552 5.2.2 mailbox full"),
            ("uma@example.org", "delayed", "4.4.1", "connection timed out"),
        ],
        message_id="<multi-1@mx.example.com>",
    )


def bounce_of_bounce() -> bytes:
    """A bounce whose returned original is itself a bounce about someone else."""
    inner = postfix_dsn_user_unknown("inner@example.net").decode("utf-8").replace("\r\n", "\n")
    return dsn(
        [("victor@example.org", "failed", "5.1.1", "550 5.1.1 user unknown")],
        attach=inner,
        message_id="<outer-1@mx.example.com>",
        boundary="OUTER",
    )


def broken_mime() -> bytes:
    """A report whose boundary never closes and whose base64 is damaged."""
    return _crlf("""From: MAILER-DAEMON@mx.example.com
To: news@example.com
Subject: Undelivered Mail Returned to Sender
Message-ID: <broken-1@mx.example.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="XX

--XX
Content-Type: text/plain
Content-Transfer-Encoding: base64

!!!not base64 at all!!!

--XX
Content-Type: message/delivery-status

Final-Recipient: rfc822; wendy@example.org
Action: failed
Status: 5.1.1
""")


def unknown_charset() -> bytes:
    """A plain notice in a charset no codec knows, with 8-bit bytes."""
    head = b"""From: MAILER-DAEMON@mx.example.com\r
To: news@example.com\r
Subject: =?x-martian-7?Q?=E9chec?=\r
Message-ID: <charset-1@mx.example.com>\r
Content-Type: text/plain; charset="x-martian-7"\r
Content-Transfer-Encoding: 8bit\r
\r
"""
    body = (
        "<xavier@example.org>: host mx.example.org said: 550 5.1.1 Utilisateur inconnu "
        "\u00e9\u00e8 (user unknown)\r\n"
    ).encode("latin-1")
    return head + body + b"\xff\xfe\x00\x81\r\n"


def huge(megabytes: int = 10) -> bytes:
    """A standard report returning a ``megabytes``-sized original."""
    blob = "A" * 76 + "\n"
    attachment = original("yara@example.org") + blob * (megabytes * 1024 * 1024 // 77)
    return dsn(
        [("yara@example.org", "failed", "5.2.2", "552 5.2.2 mailbox full")],
        attach=attachment,
        message_id="<huge-1@mx.example.com>",
    )


def junk(size: int = 20000, seed: int = 5) -> bytes:
    """Random bytes (a corrupted spool file)."""
    return random.Random(seed).randbytes(size)


def exchange_2010(address: str = "zoe@example.org") -> bytes:
    """Exchange 2010 and later: the recipient by name, the code under "Diagnostic information"."""
    return _crlf(f"""From: Microsoft Outlook <MicrosoftExchange329e71ec@example.org>
To: {SENDER}
Subject: Undeliverable: November letter
Message-ID: <ex2010-1@example.org>
Content-Type: text/plain; charset=us-ascii

Delivery has failed to these recipients or groups:

Zoe Example ({address})
The e-mail address you entered couldn't be found. Please check the recipient's e-mail
address and try to resend the message.

Diagnostic information for administrators:

Generating server: mail.example.org

{address}
#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##
""")


def gmail_address_not_found(address: str = "amy@example.org") -> bytes:
    """Gmail's current "Address not found" notice."""
    return _crlf(f"""From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: {SENDER}
Subject: Delivery Status Notification (Failure)
Message-ID: <gmail-2@mail.gmail.com>
X-Failed-Recipients: {address}
Content-Type: text/plain; charset=UTF-8

** Address not found **

Your message wasn't delivered to {address} because the address couldn't be found,
or is unable to receive mail.

The response was:

The email account that you tried to reach does not exist. Please try double-checking
the recipient's email address for typos or unnecessary spaces.
""")


def postfix_plain_three() -> bytes:
    """Postfix without a report, three recipients with three different problems."""
    return _crlf(f"""From: MAILER-DAEMON@mx.example.com (Mail Delivery System)
To: {SENDER}
Subject: Undelivered Mail Returned to Sender
Message-ID: <postfix-three@mx.example.com>

This is the mail system at host mx.example.com.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

                   The mail system

<b1@example.org>: host mx.example.org[192.0.2.1] said: 550 5.1.1 <b1@example.org>:
    Recipient address rejected: User unknown in local recipient table (in reply
    to RCPT TO command)

<b2@example.net>: host mx.example.net[192.0.2.2] said: 452 4.2.2 Mailbox full
    (in reply to RCPT TO command)

<b3@nowhere.example>: Host or domain name not found. Name service error for
    name=nowhere.example type=MX: Host not found
""")
