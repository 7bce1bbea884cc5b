"""More families of bounce, complaint and auto-reply messages, built for the tests.

Like :mod:`tests.bounce_samples`, each builder writes one family the way its
software does (from the formats' documentation and the servers' published
templates), with our own addresses: the newsletter sends as
``news@example.com`` and the subscribers live at ``example.org`` and
``example.net``. Where a server's wording is not a fixed template, the words
are our own.
"""

from __future__ import annotations

from typing import Final

from tests.bounce_samples import DATE, SENDER, _crlf, dsn, original

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


def google_address_not_found(address: str = "amelie@example.org") -> bytes:
    """Google Workspace's "Address not found" report, as it sends it now.

    The notice tells the sender to "try again" after checking for typos; the
    remote server's answer is the 550 5.1.1 "does not exist".
    """
    return _crlf(f"""From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: {SENDER}
Subject: Delivery Status Notification (Failure)
Message-ID: <gws-1@mx.google.com>
Date: {DATE}
X-Failed-Recipients: {address}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; boundary="G1"; report-type=delivery-status

--G1
Content-Type: multipart/related; boundary="G2"

--G2
Content-Type: multipart/alternative; boundary="G3"

--G3
Content-Type: text/plain; charset="UTF-8"


** Address not found **

Your message wasn't delivered to {address} because the address couldn't be found. \
Check for typos or unnecessary spaces and try again.



The response from the remote server was:
550 5.1.1 The email account that you tried to reach does not exist. Please try \
double-checking the recipient's email address for typos or unnecessary spaces. \
Learn more at https://support.google.com/mail/?p=NoSuchUser a1-20020a05.123 - gsmtp

--G3
Content-Type: text/html; charset="UTF-8"

<html><body><h2>Address not found</h2><p>Your message wasn't delivered to <b>{address}</b>
because the address couldn't be found. Check for typos or unnecessary spaces and try
again.</p></body></html>

--G3--

--G2--

--G1
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com
Received-From-MTA: dns; news.example.com
Arrival-Date: {DATE}

Final-Recipient: rfc822; {address}
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.org. (192.0.2.60, the server for the domain example.org.)
Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does not exist.
 Please try 550-5.1.1 double-checking the recipient's email address for typos or
 550-5.1.1 unnecessary spaces. Learn more at 550 5.1.1
 https://support.google.com/mail/?p=NoSuchUser a1-20020a05.123 - gsmtp
Last-Attempt-Date: {DATE}

--G1
Content-Type: message/rfc822

{original(address)}
--G1--
""")


def gmail_plain_no_such_user(address: str = "bruno@example.org") -> bytes:
    """Gmail's plain notice about a gmail address: no report part, "try again" in the text."""
    return _crlf(f"""From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: {SENDER}
Subject: Delivery Status Notification (Failure)
Message-ID: <gws-2@mx.google.com>
Date: {DATE}
Content-Type: text/plain; charset=UTF-8

Address not found

Your message wasn't delivered to {address} because the address couldn't be found, \
or is unable to receive mail. Check for typos or unnecessary spaces and try again.

The response was:

The email account that you tried to reach does not exist. Please try double-checking \
the recipient's email address for typos or unnecessary spaces.
""")


def generic_status_report(address: str = "chloe@example.org",
                          diagnostic: str = "550 #5.1.0 Address rejected") -> bytes:
    """A report whose Status is the generic 5.0.0 while its diagnostic is precise."""
    return dsn(
        [(address, "failed", "5.0.0", f"{diagnostic} {address}")],
        human="This is an automatically generated Delivery Status Notification.\n\n"
        "Delivery to the following recipients failed.",
        message_id="<generic-1@mx.example.com>",
    )


def report_with_virus_footer(address: str = "david@example.org") -> bytes:
    """A standard report with no diagnostic, whose notice ends in an antivirus footer."""
    return dsn(
        [(address, "failed", "5.1.1", "")],
        human=f"Your message to\n\n    {address}\n\n\ncould not be delivered.\n\n"
        "-- \nThis message has been scanned for viruses and dangerous content by "
        "MailScanner, and is believed to be clean.",
        message_id="<footer-1@mx.example.com>",
    )


def notice_with_inline_copy(address: str = "emma@example.org") -> bytes:
    """A notice with no code whose copy of the letter follows inline, DKIM-Signature first."""
    return _crlf(f"""From: MAILER-DAEMON@mail.example.org
To: {SENDER}
Subject: Undeliverable mail
Message-ID: <inline-1@mail.example.org>

Your message could not be delivered to the following recipient:

    {address}


------ Original message ------
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=s1;
 h=from:to:subject:date; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;
 b=dkimdkimdkimdkimdkim
{original(address)}""")


def notice_with_help_address(address: str = "felix@example.org") -> bytes:
    """A notice whose explanation quotes an example address and a help desk address."""
    return _crlf(f"""From: Mail Delivery System <postmaster@mail.example.org>
To: {SENDER}
Subject: Undeliverable: November letter
Message-ID: <help-1@mail.example.org>

Delivery has failed to this recipient:

{address}

The mailbox does not exist at example.org.

Addresses here are of the form firstname.lastname@example.org; please check the
spelling. For help, send a message to helpdesk@example.org or write to
support@example.net.
""")


def sendmail_two_hosts() -> bytes:
    """An old Sendmail transcript without enhanced codes: two recipients on two hosts.

    The first host refused the address; the second refused the message at DATA.
    """
    return _crlf(f"""From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.com>
To: {SENDER}
Subject: Returned mail: User unknown
Message-ID: <sm-two@mx.example.com>

The original message was received at {DATE}
from localhost [127.0.0.1]

   ----- Transcript of session follows -----
... while talking to mx.example.org.:
>>> RCPT To:<gina@example.org>
<<< 550 <gina@example.org>... User unknown
550 <gina@example.org>... User unknown
... while talking to mx.example.net.:
>>> DATA
<<< 554 Message refused: content looks like spam
554 <hugo@example.net>... Service unavailable

   ----- Unsent message follows -----
{original("gina@example.org, hugo@example.net")}""")


def sendmail_v5(address: str = "ines@example.org") -> bytes:
    """Sendmail 5's notice: the reply lines alone, with brackets and the ellipsis."""
    return _crlf(f"""From: Mail Delivery Subsystem <MAILER-DAEMON@old.example.com>
To: {SENDER}
Subject: Returned mail: Host unknown
Message-ID: <v5-1@old.example.com>

   ----- Transcript of session follows -----
550 nohost.example.net (smtp)... 550 Host unknown
554 <jules@nohost.example.net>... 550 Host unknown (Authoritative answer from name server)
550 <{address}>... User unknown

   ----- Unsent message follows -----
{original(address)}""")


def sendmail_host_unknown_single(address: str = "karl@nohost.example.net") -> bytes:
    """One recipient whose host does not exist, with the next DATA failure of another host."""
    return _crlf(f"""From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.com>
To: {SENDER}
Subject: Returned mail: see transcript for details
Message-ID: <sm-host@mx.example.com>

   ----- Transcript of session follows -----
554 <{address}>... Host unknown (Name server: nohost.example.net: host not found)
... while talking to relay.example.com.:
>>> DATA
<<< 554 5.7.1 Message rejected as spam
""")


def exim_mail_from_refused(address: str = "lena@example.org") -> bytes:
    """Exim: the remote server refused our sender at MAIL FROM, in words that sound fatal."""
    return _crlf(f"""From: Mail Delivery System <Mailer-Daemon@mx.example.com>
To: {SENDER}
Subject: Mail delivery failed: returning message to sender
Message-ID: <exim-mf@mx.example.com>
X-Failed-Recipients: {address}
Auto-Submitted: auto-replied

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {address}
    host mx.example.org [192.0.2.20]
    SMTP error from remote mail server after MAIL FROM:<{SENDER}> SIZE=2048:
    550 5.1.1 Unknown user

------ This is a copy of the message, including all the headers. ------

{original(address)}""")


def sendmail_mail_from_refused(address: str = "marc@example.org") -> bytes:
    """Sendmail's transcript of a 5.7.1 refusal of our sender at MAIL FROM."""
    return _crlf(f"""From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.com>
To: {SENDER}
Subject: Returned mail: see transcript for details
Message-ID: <sm-mf@mx.example.com>

   ----- The following addresses had permanent fatal errors -----
<{address}>
    (reason: 550 5.7.1 Mail from this address is not accepted)

   ----- Transcript of session follows -----
... while talking to mx.example.org.:
>>> MAIL From:<{SENDER}> SIZE=1024
<<< 550 5.7.1 Mail from this address is not accepted
554 5.0.0 Service unavailable
""")


def postfix_mail_from_refused(address: str = "nina@example.org") -> bytes:
    """Postfix's report of a refusal at MAIL FROM ("in reply to MAIL FROM command")."""
    return dsn(
        [(address, "failed", "5.0.0", "550 No such user here")],
        human=f"This is the mail system at host mx.example.com.\n\n<{address}>: host "
        "mx.example.org[192.0.2.10] said: 550 No such user here (in reply to MAIL FROM "
        "command)",
        message_id="<pf-mf@mx.example.com>",
    )


def quoted_local_part(address: str = '"olga petit"@example.org') -> bytes:
    """A report and notice about an address whose local part is quoted."""
    return dsn(
        [(address, "failed", "5.1.1", "550 5.1.1 user unknown")],
        human=f"<{address}>: host mx.example.org[192.0.2.10] said: 550 5.1.1 user unknown",
        message_id="<quoted-1@mx.example.com>",
    )


def exim_double_dot(address: str = "paul..martin@example.net") -> bytes:
    """Exim's notice (with its Auto-Submitted header) about an address with two dots."""
    return _crlf(f"""From: Mail Delivery System <Mailer-Daemon@mx.example.com>
To: {SENDER}
Subject: Mail delivery failed: returning message to sender
Message-ID: <exim-dots@mx.example.com>
Auto-Submitted: auto-replied

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {address}
    host mx.example.net [192.0.2.21]
    SMTP error from remote mail server after RCPT TO:<{address}>:
    550 5.1.1 <{address}>: Recipient address rejected: User unknown
""")


def forwarded_report(address: str = "quentin@example.org") -> bytes:
    """A postmaster forwarding a standard report as an attached message."""
    inner = dsn(
        [(address, "failed", "5.1.1", f"550 5.1.1 <{address}>: user unknown")],
        human=f"<{address}>: user unknown",
        message_id="<fwd-inner@mx.example.org>",
        boundary="INNER",
    ).decode("utf-8").replace("\r\n", "\n")
    return _crlf(f"""From: Help Desk <helpdesk@example.net>
To: {SENDER}
Subject: FW: Undelivered Mail Returned to Sender
Message-ID: <fwd-outer@example.net>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="OUTER"

--OUTER
Content-Type: text/plain; charset=us-ascii

Forwarding the bounce we got for your letter, see attached.

--OUTER
Content-Type: message/rfc822

{inner}
--OUTER--
""")


def inline_original_only(address: str = "rosa@example.org") -> bytes:
    """A notice that names nobody; the letter it returns inline names its one recipient."""
    return _crlf(f"""From: Mail Administrator <postmaster@mail.example.org>
To: {SENDER}
Subject: Mail System Error - Returned Mail
Message-ID: <inline-orig@mail.example.org>

This Message was undeliverable due to the following reason:

The user does not exist on this server.

Please reply to postmaster@mail.example.org if you feel this message to be in error.

----- Original message -----
{original(address)}""")


def exchange_55(address: str = "simon@example.org") -> bytes:
    """Exchange 5.5's notice: the recipient as "SMTP=address; on date"."""
    return _crlf(f"""From: System Administrator <postmaster@example.org>
To: {SENDER}
Subject: Undeliverable: November letter
Message-ID: <ex55-1@example.org>

Your message

  To:      Simon Example
  Subject: November letter
  Sent:    {DATE}

did not reach the following recipient(s):

SMTP={address}; on {DATE}
    The recipient name is not recognized
    The MTS-ID of the original message is: c=us;a= ;p=example;l=EXCH1-261102093000Z-42
    MSEXCH:IMS:Example:Head Office:EXCH1 0 (000C05A6) Unknown Recipient
""")


def aol_screen_name(screen_name: str = "Tina Example", *, refused: bool = False) -> bytes:
    """AOL's old notice, which names the member by screen name only (no address)."""
    if refused:
        intro = (f"Your mail to the following recipients could not be delivered because "
                 f"they are not accepting mail from {SENDER}:")
    else:
        intro = "Your mail to the following recipients could not be delivered because " \
            "the screen names were not found:"
    return _crlf(f"""From: Mail Delivery Subsystem <MAILER-DAEMON@aol.com>
To: {SENDER}
Subject: Returned mail: see transcript for details
Message-ID: <aol-1@aol.com>

{intro}
\t{screen_name}
""")


def postfix_verify(address: str = "ugo@example.org") -> bytes:
    """Postfix's address-verification report: the address is deliverable."""
    return dsn(
        [(address, "deliverable", "2.1.5", "250 2.1.5 Ok")],
        human="This is the mail system at host mx.example.com.\n\nEnclosed is the mail "
        f"delivery report that you requested.\n\n<{address}>: delivery via "
        "mx.example.org[192.0.2.10]:25: 250 2.1.5 Ok",
        message_id="<verify-1@mx.example.com>",
    )


def interscan(address: str = "vera@example.org") -> bytes:
    """Trend Micro InterScan's notice: "Unable to deliver message to", nothing else."""
    return _crlf(f"""From: postmaster@example.org ("InterScan MSS")
To: {SENDER}
Subject: Mail could not be delivered
Message-ID: <imss-1@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="InterScan_NT_MIME_Boundary"

--InterScan_NT_MIME_Boundary
Content-type: text/plain

****** Message from InterScan Messaging Security Suite ******

The following mail could not be delivered.
Reason:  Unable to deliver message to <{address}> (and other recipients in the same domain).

************************     End of message     **********************

--InterScan_NT_MIME_Boundary
Content-type: message/rfc822

{original(address)}
--InterScan_NT_MIME_Boundary--
""")


def interscan_transcript(address: str = "willy@example.org") -> bytes:
    """InterScan's notice with its own session lines (arrows the other way round)."""
    return _crlf(f"""From: "InterScan MSS" <postmaster@example.org>
To: {SENDER}
Subject: Mail could not be delivered
Message-ID: <imss-2@example.org>

****** Message from InterScan Messaging Security Suite ******

Sent <<< RCPT TO:<{address}>
Received >>> 552 5.2.2 <{address}>... Mailbox full

Unable to deliver message to <{address}>.

************************     End of message     **********************
""")


def notice_in_words(address: str, reply: str, subject: str = "Undelivered Mail") -> bytes:
    """A plain notice whose only diagnostic is a server's one-line reply."""
    return _crlf(f"""From: MAILER-DAEMON@mx.example.com
To: {SENDER}
Subject: {subject}
Message-ID: <words@mx.example.com>

<{address}>: host mx.example.org[192.0.2.10] said: {reply}
""")


def no_recipient_notice(attached: str) -> bytes:
    """A notice that names nobody, the letter it returns attached."""
    return _crlf(f"""From: Mail Delivery System <MAILER-DAEMON@mx.example.com>
To: {SENDER}
Subject: Undeliverable message
Message-ID: <nobody-1@mx.example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="N"

--N
Content-Type: text/plain

Your message could not be delivered: the mailbox is unavailable.

--N
Content-Type: message/rfc822

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


def carriage_returns_only(raw: bytes) -> bytes:
    """A message as an old Mac stored it: every line ended by a lone CR."""
    return raw.replace(b"\r\n", b"\r")


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


#: Plain notices of older servers and other languages: (subject, sender, text),
#: each about alice at example.org (or at a domain of the notice's country).
_OLD_SERVERS: Final = {
    "netscape": (
        "Delivery Notification: Delivery has failed", "postmaster@mail.example.org",
        """\
This report relates to a message you sent with the following header fields:

  Message-id: <letter-1@example.com>
  Date: Mon, 02 Nov 2026 09:30:00 +0000
  From: news@example.com
  To: alice@example.org
  Subject: November letter

Your message cannot be delivered to the following recipients:

  Recipient address: alice@example.org
  Reason: Remote SMTP server has rejected address
  Diagnostic code: smtp;550 5.1.1 unknown or illegal alias: alice@example.org
  Remote system: dns;mx.example.org (TCP|192.0.2.1|25)
"""),
    "iplanet_quota": (
        "Returned mail", "Postmaster@example.org",
        """\
This Message was undeliverable due to the following reason:

The user(s) account is temporarily over quota.

<alice@example.org>

Please reply to Postmaster@example.org
if you feel this message to be in error.
"""),
    "imail": (
        "Undeliverable Mail", "Postmaster@example.org",
        """\
Unknown user: alice@example.org

Original message follows.
"""),
    "smtpsvc": (
        "Delivery Status Notification (Failure)", "postmaster@example.org",
        """\
This is an automatically generated Delivery Status Notification.

Unable to deliver message to the following recipients, due to being unable to connect \
successfully to the destination mail server.

       alice@nohost.example.org
"""),
    "yahoo_old": (
        "failure delivery", "MAILER-DAEMON@yahoo.com",
        """\
Message from yahoo.com.
Unable to deliver message to the following address(es).

<alice@example.org>:
Sorry, your message to alice@example.org cannot be delivered.  This account has been \
disabled or discontinued [#102].
"""),
    "eudora": (
        "Returned mail", "MAILER-DAEMON@example.org",
        """\
Failed addresses follow:
 <alice@example.org> ... unknown user

Message text follows:
"""),
    "groupwise": (
        "Message status - undeliverable", "postmaster@example.org",
        """\
The message that you sent was undeliverable to the following:
	alice@example.org (user not found)

Possibly truncated original message follows:
"""),
    "chinese": (
        "系统退信", "postmaster@example.cn",
        """\
您发送到 alice@example.cn 的邮件没有投递成功。
原因：收件人不存在
"""),
    "russian": (
        "Недоставленное сообщение", "MAILER-DAEMON@example.ru",
        """\
Ваше сообщение не доставлено.
<alice@example.ru>: пользователь не найден
"""),
    "exim3": (
        "Mail delivery failed: returning message to sender", "Mailer-Daemon@example.org",
        """\
This message was created automatically by mail delivery software.

A message that you sent could not be delivered to all of its recipients. The
following address(es) failed:

  alice@example.org:
    SMTP error from remote mailer after RCPT TO:<alice@example.org>:
    host mx.example.org [192.0.2.1]: 550 <alice@example.org>... User unknown
"""),
    "simple_warning": (
        "Warning: could not send message for past 4 hours", "MAILER-DAEMON@example.org",
        """\
    **********************************************
    **      THIS IS A WARNING MESSAGE ONLY      **
    **  YOU DO NOT NEED TO RESEND YOUR MESSAGE  **
    **********************************************

The original message was received at Mon, 2 Nov 2026 09:30:00 GMT

   ----- The following addresses had transient non-fatal errors -----
<alice@example.org>

   ----- Transcript of session follows -----
<alice@example.org>... Deferred: Connection timed out with mx.example.org.
Warning: message still undelivered after 4 hours
Will keep trying until message is 5 days old
"""),
}


def old_server_notice(name: str) -> bytes:
    """One of :data:`_OLD_SERVERS`' notices as a whole message."""
    subject, sender, body = _OLD_SERVERS[name]
    return _crlf(f"From: {sender}\nTo: {SENDER}\nSubject: {subject}\nMessage-ID: <{name}@x>\n"
                 f"Content-Type: text/plain; charset=utf-8\n\n{body}")
