"""Every letter's Reply-To names its reader: ``replies+<token>@...`` when replies are gathered."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
from pathlib import Path

import pytest

from mailer.config import Config, RepliesConfig, SenderConfig, WebConfig
from mailer.errors import TokenError
from mailer.letters.compile import compile_letter
from mailer.letters.source import parse_letter
from mailer.store.models import MailingList, Recipient
from mailer.tokens import REPLY, VERP, Signer, verp_token

SIGNER = Signer("test-secret")
MEMBERS = MailingList(3, "members", "Members", "", False, False, "")
CONFIG = Config(
    sender=SenderConfig(
        from_address="Union News <news@lists.union.example>",
        reply_to="Office <office@union.example>",
    ),
    web=WebConfig(base_url="https://lists.union.example", secret_key="test-secret"),
    replies=RepliesConfig(address="replies@lists.union.example"),
)
ANA = Recipient("ana@example.org", "Ana Lima", {}, subscriber_id=9876543)
BEN = Recipient("ben@example.org", "Ben", {}, subscriber_id=12)


def _build(config: Config, recipient: Recipient, front: str = "") -> bytes:
    letter = parse_letter(f'---\nsubject: "Call"\n{front}---\n\nText.\n', Path("call.md"))
    compiled = compile_letter(
        letter, config=config, mailing_list=MEMBERS, signer=SIGNER, campaign_id=123456
    )
    return compiled.build(recipient).data


def _reply_to(data: bytes) -> str:
    message = email.message_from_bytes(data, policy=email.policy.default)
    return str(message["Reply-To"])


def test_each_reader_gets_a_replies_address_whose_token_names_campaign_and_reader() -> None:
    ana, ben = _reply_to(_build(CONFIG, ANA)), _reply_to(_build(CONFIG, BEN))
    assert ana != ben
    for shown, subscriber in ((ana, 9876543), (ben, 12)):
        address = re.search(r"<(.*)>", shown)
        assert address is not None and shown.startswith("Union News <")
        token = verp_token(address.group(1), "replies@lists.union.example")
        assert token is not None and token == token.lower()
        claim = SIGNER.verify(token, REPLY)
        assert (claim.integer(0), claim.integer(1)) == (123456, subscriber)


def test_the_replies_address_fits_a_local_part_and_the_header_lines_stay_short() -> None:
    data = _build(CONFIG, ANA)
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    lines = [line for line in head if b"replies+" in line]
    assert len(lines) == 1 and len(lines[0]) <= 78
    local = re.search(rb"<(replies\+[^@]+)@", lines[0])
    assert local is not None and len(local.group(1)) <= 64


def test_a_replies_token_is_no_bounce_token() -> None:
    address = re.search(r"<(.*)>", _reply_to(_build(CONFIG, ANA)))
    assert address is not None
    token = verp_token(address.group(1), "replies@lists.union.example")
    with pytest.raises(TokenError, match="something else"):
        SIGNER.verify(token or "", VERP)


def test_the_letters_own_reply_to_still_wins() -> None:
    data = _build(CONFIG, ANA, front='reply_to: "Desk <desk@union.example>"\n')
    assert _reply_to(data) == "Desk <desk@union.example>"


def test_without_a_replies_address_the_configured_reply_to_stays() -> None:
    config = dataclasses.replace(CONFIG, replies=RepliesConfig())
    assert _reply_to(_build(config, ANA)) == "Office <office@union.example>"
    assert b"replies+" not in _build(config, ANA)
