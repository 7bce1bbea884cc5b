"""More families of bounce notices, built for the tests.

Like :mod:`tests.bounce_samples`, each builder writes one family the way its
software does (from the formats' documentation and the servers' published
templates), with our own addresses: the newsletter sends as
``news@example.com`` and the subscribers live at ``example.org`` and
``example.net``. Where a server's wording is not a fixed template, the words
are our own.
"""

from __future__ import annotations

from tests.bounce_samples import DATE, SENDER, _crlf, dsn, original

#: Google's report as it sends it now: a notice in text and HTML, the report, the letter.
_GOOGLE_NOT_FOUND = """From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: {sender}
Subject: Delivery Status Notification (Failure)
Message-ID: <gws-1@mx.google.com>
Date: {date}
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
Arrival-Date: {date}

Final-Recipient: rfc822; {address}
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.org. (192.0.2.60, the server for the domain example.org.)
Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does not exist.
 Please try 550-5.1.1 double-checking the recipient's email address for typos or
 550-5.1.1 unnecessary spaces. Learn more at 550 5.1.1
 https://support.google.com/mail/?p=NoSuchUser a1-20020a05.123 - gsmtp
Last-Attempt-Date: {date}

--G1
Content-Type: message/rfc822

{original}
--G1--
"""


def google_address_not_found(address: str = "amelie@example.org") -> bytes:
    """Google Workspace's "Address not found" report, as it sends it now.

    The notice tells the sender to "try again" after checking for typos; the
    remote server's answer is the 550 5.1.1 "does not exist".
    """
    return _crlf(_GOOGLE_NOT_FOUND.format(
        address=address, sender=SENDER, date=DATE, original=original(address)))


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


def carriage_returns_only(raw: bytes) -> bytes:
    """A message as an old Mac stored it: every line ended by a lone CR."""
    return raw.replace(b"\r\n", b"\r")

