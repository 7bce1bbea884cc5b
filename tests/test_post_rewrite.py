"""Every member's copy of a post parses back without defects, whatever the post holds."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.posting.rewrite import PostBuilder
from mailer.store.models import MailingList, Post, PostingPolicy, PostStatus, Recipient

LIST = MailingList(1, "members", "Members of the Federation", "", False, False, "")
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=400).map(
    lambda text: text.replace("\r", "")
)
NAME = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=40)


def _unsubscribe(recipient: Recipient) -> tuple[str, str]:
    token = f"t{recipient.subscriber_id}"
    return f"https://lists.example.org/u/{token}", f"mailto:u+{token}@lists.example.org"


def _post(text: str, html: str | None, subject: str, name: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = email.headerregistry.Address(name, "ana", "dockers.example")
    mail["To"] = "members@lists.example.org"
    mail["Subject"] = subject
    mail["Message-ID"] = "<p1@dockers.example>"
    mail.set_content(text)
    if html is not None:
        mail.add_alternative(html, subtype="html")
    return mail.as_bytes(policy=email.policy.SMTP)


@settings(max_examples=60, deadline=None)
@given(text=TEXT, html=st.none() | TEXT, subject=NAME, name=NAME,
       munge=st.sampled_from(["", "munge", "wrap"]))
def test_a_members_copy_parses_back_with_the_post_and_the_footer(
    text: str, html: str | None, subject: str, name: str, munge: str
) -> None:
    raw = _post(text, html, subject, name)
    post = Post(1, "", 1, "members", "ana@dockers.example", name, subject,
                "<p1@dockers.example>", PostStatus.APPROVED, "", None, dmarc=munge)
    builder = PostBuilder(raw, post, LIST, PostingPolicy(subject_prefix="[m]"),
                          list_address="members@lists.example.org", unsubscribe=_unsubscribe)
    built = builder.build(Recipient("bo@seafarers.example", subscriber_id=7))
    copy = email.message_from_bytes(built.data, policy=email.policy.default)
    assert isinstance(copy, EmailMessage)
    for part in copy.walk():
        assert not part.defects, (part.get_content_type(), part.defects)
    body = copy.get_body(("plain",))
    assert body is not None
    content = body.get_content().replace("\r\n", "\n")
    assert content.rstrip().endswith("Unsubscribe: https://lists.example.org/u/t7")
    if munge != "wrap":
        assert content.startswith(text.rstrip("\n")[:50].split("\n")[0][:20])
    assert str(copy["List-Unsubscribe"]).startswith("<https://lists.example.org/u/t7>")
