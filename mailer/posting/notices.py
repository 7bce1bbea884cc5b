"""The mails mailer writes about posts: to moderators, and back to a poster.

Each is a short plain-text message from the list's owner address
(``[sender] from``), marked ``Auto-Submitted: auto-generated`` (a mail
program answers none of them, and the intake drops any answer that a
program sends back), and none carries the post's own content beyond its
sender, subject and first lines: a moderator reads the post on the
moderation page, where its HTML is shown cleaned. What goes back to a poster
is in the poster's language (``moderation.poster_language``); a moderator's
notice is in English, like the command line it names.
"""

from __future__ import annotations

import email.policy
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from mailer import clock
from mailer.config import Config
from mailer.i18n import catalogue_language, translations
from mailer.letters.mime import OutgoingMessage, mail_address
from mailer.letters.sender import sender_of, web_base_url
from mailer.store.models import Post

_POLICY = email.policy.SMTP.clone(max_line_length=78)
#: How much of a held post's text a moderator's notice quotes.
QUOTED_LINES = 12


@dataclass(frozen=True)
class Notice:
    """What a notice says: to whom, about what, and its lines."""

    to: str
    subject: str
    lines: tuple[str, ...]
    in_reply_to: str = ""
    #: The language it is written in ("" for English), said in ``Content-Language``.
    language: str = ""


def outgoing(config: Config, notice: Notice) -> OutgoingMessage:
    """The notice as a message ready for ``dispatch.run.send_one``."""
    name, address = sender_of(None, config)
    message = EmailMessage(policy=email.policy.default)
    message["From"] = f'"{name}" <{address}>' if name else address
    message["To"] = notice.to
    message["Subject"] = notice.subject
    message["Date"] = format_datetime(clock.now().replace(microsecond=0))
    message_id = make_msgid(domain=address.rpartition("@")[2])
    message["Message-ID"] = message_id
    if notice.in_reply_to:
        message["In-Reply-To"] = f"<{notice.in_reply_to}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("\n".join(notice.lines) + "\n", charset="utf-8")
    if notice.language:  # after the content, which clears every Content- header before it
        message["Content-Language"] = notice.language
    rcpt, utf8 = mail_address(notice.to)
    data = message.as_bytes(policy=_POLICY)
    return OutgoingMessage(
        recipient=rcpt, message_id=message_id.strip("<>"), parts=(data,),
        smtputf8=utf8 or not data.partition(b"\r\n\r\n")[0].isascii(),
    )


def _who(post: Post) -> str:
    return f"{post.sender_name} <{post.sender}>" if post.sender_name else post.sender


def held(config: Config, post: Post, moderator: str, link: str, text: str) -> Notice:
    """A moderator's notice of a held post, with the link to decide on it."""
    quoted = [f"> {line}" for line in text.splitlines()[:QUOTED_LINES]]
    days = config.inbound.held_days
    return Notice(
        to=moderator,
        subject=f"[{post.list_name}] held for moderation: {post.subject or '(no subject)'}",
        lines=(
            f"A post to the list {post.list_name} waits for a moderator's decision.",
            "",
            f"From:    {_who(post)}",
            f"Subject: {post.subject}",
            f"Why:     {post.reason}",
            "",
            *quoted,
            "",
            "Read it and approve, reject or discard it here:",
            link,
            "",
            f"Or: mailer held show {post.id}. Unless someone decides, it is discarded "
            f"after {days} days.",
        ),
    )


def rejected(post: Post, reason: str, language: str = "") -> Notice:
    """The polite answer to a poster whose post the list does not take, in ``language``.

    ``reason`` is mailer's own (a verdict's, translated here) or a moderator's words.
    """
    _ = translations(language).gettext
    facts = {"subject": post.subject or _("(no subject)"), "list": post.list_name}
    lines = [
        _("Hello,"),
        "",
        _('your message "%(subject)s" to the list %(list)s was not sent to its members.')
        % facts,
    ]
    if reason:
        lines += ["", _("The reason given: %(reason)s") % {"reason": _(reason)}]
    lines += ["", _("If you think this is a mistake, please write to the list's coordinators.")]
    return Notice(
        to=post.sender, subject=_("Your message to %(list)s was not distributed") % facts,
        lines=tuple(lines), in_reply_to=post.message_id, language=catalogue_language(language),
    )


def confirm(config: Config, post: Post, token: str, language: str = "") -> Notice:
    """The request to a poster to confirm that the post is theirs, in ``language``."""
    _ = translations(language).gettext
    link = f"{web_base_url(config)}/post/confirm/{token}"
    facts = {"subject": post.subject or _("(no subject)"), "list": post.list_name}
    return Notice(
        to=post.sender,
        subject=_("Confirm your message to %(list)s: %(subject)s") % facts,
        lines=(
            _("Hello,"),
            "",
            _('a message "%(subject)s" came to the list %(list)s from your address. Before it '
              "goes to the members, please confirm that you sent it:") % facts,
            "",
            link,
            "",
            _("If you did not send it, do nothing: it will not be distributed."),
        ),
        in_reply_to=post.message_id,
        language=catalogue_language(language),
    )
