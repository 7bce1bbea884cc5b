"""A member's digest of a list's posts, as one MIME message.

The message is ``multipart/mixed``: first the digest as text in the form of
RFC 1153 (the list's name, date and issue, a table of contents of subjects
and senders, a line of 70 hyphens, then each post's date, sender, subject
and text, the posts separated by lines of 30 hyphens, and the trailer line
with its asterisks), which any mail program shows; then a
``multipart/digest`` of the posts as ``message/rfc822`` parts, each the
copy members get of it (its travel headers and signatures removed, From as
the post was sent to the list, ``dispatch.posting.rewrite``), for a program
that can open or answer each; last a footer with the member's own link to
leave. The headers are the list's (``List-Id``, ``List-Post``, the member's
``List-Unsubscribe`` with one-click) as on every post.

The digest's volume is the year and its issue the campaign's number, which
every member's digest of that round shares.
"""

from __future__ import annotations

import email.policy
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime

from mailer import clock
from mailer.config import Config
from mailer.errors import PostNotFound
from mailer.inbound.message import content_of
from mailer.inbound.routes import posting_domain
from mailer.letters.mime import OutgoingMessage, mail_address
from mailer.posting.distribute import builder_of, member_links
from mailer.posting.rewrite import PostBuilder, add_list_headers, address_header, list_address_of
from mailer.store import digests, posts
from mailer.store.database import Store
from mailer.store.lists import find_list_by_id
from mailer.store.models import Campaign, Post, Recipient
from mailer.tokens import Signer

_POLICY = email.policy.SMTP.clone(max_line_length=78)
#: RFC 1153: the line after the table of contents, and the line between two posts.
PREAMBLE_END = "-" * 70
BETWEEN = "-" * 30


@dataclass(frozen=True)
class DigestEntry:
    """One post in a digest: what its text part says of it, and the copy for the member."""

    date: str
    sender: str
    subject: str
    text: str
    copy: EmailMessage


class DigestBuilder:
    """A digest campaign's messages, one per member (``dispatch.sender.Builder``)."""

    def __init__(self, config: Config, store: Store, campaign: Campaign, signer: Signer) -> None:
        """The list and its links from the campaign; each post compiled once, when first
        a member's digest holds it."""
        mailing_list = find_list_by_id(store, campaign.list_id or 0)
        if mailing_list is None:
            raise PostNotFound(0, f"the list of digest campaign {campaign.id} was removed")
        self.subject = f"{mailing_list.display_title} Digest, Vol {campaign.created_at[:4]}, " \
            f"Issue {campaign.id}"
        self._config, self._store, self._campaign = config, store, campaign
        self._list = mailing_list
        self._address = list_address_of(mailing_list, posting_domain(config))
        self._unsubscribe: Callable[[Recipient], tuple[str, str]] = member_links(
            config, signer, mailing_list.id, campaign.id
        )
        self._posts: dict[int, tuple[Post, PostBuilder, str]] = {}
        self._signer = signer
        self._nonce = secrets.token_hex(4)

    def build(self, recipient: Recipient) -> OutgoingMessage:
        """The member's digest of the posts the campaign claimed for them."""
        entries = [self._entry(post_id, recipient) for post_id in
                   digests.posts_for(self._store, self._campaign.id, recipient.subscriber_id or 0)]
        url, mailto = self._unsubscribe(recipient)
        message = EmailMessage(policy=_POLICY)
        message["From"] = address_header(self._list.display_title, self._address)
        message["To"] = recipient.email
        message["Subject"] = self.subject
        message["Date"] = format_datetime(clock.now().replace(microsecond=0))
        message["Message-ID"] = self._message_id(recipient)
        add_list_headers(message, self._list, self._address)
        message["List-Unsubscribe"] = f"<{url}>, <{mailto}>"
        message.set_content(self.text(entries), charset="utf-8", cte="quoted-printable")
        message.make_mixed()
        message.attach(_digest_part(entries))
        footer = EmailMessage(policy=_POLICY)
        footer.set_content(f"-- \n{self._list.display_title} <{self._address}>\n"
                           f"Unsubscribe: {url}\n", charset="utf-8", cte="quoted-printable")
        del footer["MIME-Version"]
        message.attach(footer)
        rcpt, utf8 = mail_address(recipient.email)
        data = message.as_bytes(policy=_POLICY)
        return OutgoingMessage(
            recipient=rcpt, message_id=str(message["Message-ID"]).strip("<>"), parts=(data,),
            smtputf8=utf8 or not data.partition(b"\r\n\r\n")[0].isascii(),
        )

    def _message_id(self, recipient: Recipient) -> str:
        """A Message-ID whose left part is signed, naming the campaign and the member,
        as every letter's is: a complaint that quotes the digest proves itself."""
        subscriber_id = recipient.subscriber_id or 0
        token = self._signer.message_id(self._campaign.id, subscriber_id, self._nonce)
        return f"<{token}@{self._address.rpartition('@')[2]}>"

    def text(self, entries: list[DigestEntry]) -> str:
        """The digest as RFC 1153 text: the header, the topics, each post, the trailer."""
        title = self._list.display_title
        issue = self._campaign.id
        volume = self._campaign.created_at[:4]
        lines = [f"{title} Digest    {format_datetime(clock.now())[:16]}    "
                 f"Volume {volume} : Issue {issue}", "", "Today's Topics:", ""]
        lines += [f"   {n}. {e.subject} ({e.sender})" for n, e in enumerate(entries, 1)]
        lines += ["", PREAMBLE_END]
        for entry in entries:
            lines += ["", f"Date: {entry.date}", f"From: {entry.sender}",
                      f"Subject: {entry.subject}", "", *_escaped(entry.text), "", BETWEEN]
        end = f"End of {title} Digest V{volume} Issue #{issue}"
        lines += ["", end, "*" * len(end), ""]
        return "\n".join(lines)

    def _entry(self, post_id: int, recipient: Recipient) -> DigestEntry:
        if post_id not in self._posts:
            post = posts.get(self._store, post_id)
            builder = builder_of(self._config, self._store, post, self._list, self._unsubscribe)
            text = content_of(posts.raw_of(self._store, post_id)).text
            self._posts[post_id] = (post, builder, text)
        post, builder, text = self._posts[post_id]
        copy = BytesParser(policy=email.policy.default).parsebytes(builder.build(recipient).data)
        assert isinstance(copy, EmailMessage)
        return DigestEntry(
            date=str(copy.get("Date", post.received_at)), sender=str(copy.get("From", post.sender)),
            subject=" ".join(str(copy.get("Subject", post.subject)).split()), text=text, copy=copy,
        )


def _digest_part(entries: list[DigestEntry]) -> EmailMessage:
    """The posts as the parts of a ``multipart/digest`` (each ``message/rfc822``)."""
    part = EmailMessage(policy=_POLICY)
    part.make_mixed()
    part.set_type("multipart/digest")
    for entry in entries:
        inner = EmailMessage(policy=_POLICY)
        inner.set_content(entry.copy)
        del inner["MIME-Version"]
        part.attach(inner)
    return part


def _escaped(text: str) -> list[str]:
    """The post's lines, a line that would read as a separator escaped (RFC 934's ``- ``)."""
    return [f"- {line}" if line.startswith("-" * 30) else line for line in text.split("\n")]

