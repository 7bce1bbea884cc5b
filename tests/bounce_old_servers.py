"""Plain notices of older servers and of other languages, built for the tests.

Each is written in the shape its server uses (from its published templates),
in our own words where the wording is no fixed template, about our own
addresses.
"""

from __future__ import annotations

from typing import Final

from tests.bounce_samples import SENDER, _crlf

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
