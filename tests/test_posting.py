"""Posting to a list by mail, through ``mailer inbound -`` as a real process.

A post reaches the members only when its sender is proved (the receiving
server's trusted DMARC or aligned DKIM pass) and the list's policy allows
them; every other post is held for a moderator (or answered, when the list
rejects), and noise never reaches anyone.
"""

from __future__ import annotations

import email
import email.policy
import json
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from mailer import clock
from tests.clocks import FakeClock
from tests.posting_samples import (
    LIST_ADDRESS,
    MEMBERS,
    MODERATOR,
    RESOLUTION,
    Federation,
    federation,
    post,
    trusted_results,
)


@pytest.fixture
def announce(tmp_path: Path) -> Federation:
    return federation(tmp_path, "", "--posting", "announce", "--subject-prefix", "[members]",
                      "--dmarc", "none")


def _held(fed: Federation) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(fed.ok("held", "ls", "--json"))
    return found


def _received(fed: Federation) -> dict[str, EmailMessage]:
    return {member: m for member in MEMBERS for m in fed.outbox_to(member)}


def _check_member_copy(message: EmailMessage, member: str) -> None:
    """What every member's copy must hold: the list's headers, the post intact, a footer."""
    assert not message.defects
    for part in message.walk():
        assert not part.defects, part.get_content_type()
    for name in ("Received", "DKIM-Signature", "Authentication-Results", "Return-Path"):
        assert name not in message or (name == "Return-Path" and "bounces" in message[name])
    assert str(message["List-Id"]) == "Members <members.lists.example.org>"
    assert str(message["List-Post"]) == f"<mailto:{LIST_ADDRESS}>"
    assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert str(message["Precedence"]) == "list"
    assert str(message["Subject"]) == "[members] Resolution of the assembly"
    assert str(message["Message-ID"]) == "<post-1@union.example>"
    link = str(message["List-Unsubscribe"]).split(",")[0].strip().strip("<>")
    assert link.startswith("https://lists.example.org/u/")
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert "the assembly adopted the resolution attached" in text.get_content()
    assert text.get_content().rstrip().endswith(f"Unsubscribe: {link}")
    assert f'href="{link}"' in html.get_content()
    assert html.get_content().rstrip().endswith("</html>")
    [pdf] = list(message.iter_attachments())
    assert pdf.get_filename() == "resolution.pdf"
    assert pdf.get_content() == RESOLUTION


def test_a_posters_authenticated_post_reaches_every_member_with_footer_and_list_headers(
    announce: Federation,
) -> None:
    done = announce.pipe(post(results=trusted_results()), LIST_ADDRESS)
    assert done.returncode == 0, done.stderr
    assert _held(announce) == []
    announce.ok("campaigns", "run")
    received = _received(announce)
    assert sorted(received) == sorted(MEMBERS)
    links = set()
    for member, message in received.items():
        _check_member_copy(message, member)
        assert str(message["From"]) == "Rosa Coordinator <rosa@union.example>"
        links.add(str(message["List-Unsubscribe"]))
    assert len(links) == len(MEMBERS)  # each member's own link
    campaigns = json.loads(announce.ok("campaigns", "ls", "--json"))
    assert [c["kind"] for c in campaigns] == ["post"]


def test_a_forged_from_of_the_coordinator_is_held_until_a_moderator_approves(
    announce: Federation,
) -> None:
    done = announce.pipe(post(results=None), LIST_ADDRESS)
    assert done.returncode == 0, done.stderr
    [held] = _held(announce)
    assert held["status"] == "held" and "not proved" in held["reason"]
    announce.ok("campaigns", "run")
    assert _received(announce) == {}
    [notice] = announce.outbox_to(MODERATOR)
    body = notice.get_body(("plain",))
    assert body is not None and "https://lists.example.org/moderate/" in body.get_content()
    announce.ok("held", "approve", str(held["id"]))
    assert _held(announce) == []
    announce.ok("campaigns", "run")
    received = _received(announce)
    assert sorted(received) == sorted(MEMBERS)
    for member, message in received.items():
        _check_member_copy(message, member)


@pytest.mark.parametrize(
    "results",
    [
        trusted_results(server="mx.elsewhere.example"),  # another server's word
        trusted_results("mallory.example"),  # a pass for another domain
        f"{trusted_results()}".replace("=pass", "=fail"),
    ],
)
def test_results_that_prove_nothing_hold_the_post(announce: Federation, results: str) -> None:
    assert announce.pipe(post(results=results), LIST_ADDRESS).returncode == 0
    [held] = _held(announce)
    assert held["status"] == "held"


def test_results_written_below_our_servers_received_header_are_not_trusted(
    announce: Federation,
) -> None:
    raw = post(results=None)
    forged = raw.replace(b"Received: from [10.0.0.5]",
                         f"Authentication-Results: {trusted_results()}\r\n"
                         "Received: from [10.0.0.5]".encode())
    assert announce.pipe(forged, LIST_ADDRESS).returncode == 0
    assert [h["status"] for h in _held(announce)] == ["held"]


def test_a_stranger_is_held_or_answered_politely_when_the_list_rejects(tmp_path: Path) -> None:
    fed = federation(tmp_path, "", "--posting", "members", "--on-refused", "reject",
                     "--dmarc", "none")
    stranger = "Mallory <mallory@elsewhere.example>"
    done = fed.pipe(post(sender=stranger, results=trusted_results("elsewhere.example")),
                    LIST_ADDRESS)
    assert done.returncode == 0, done.stderr
    assert _held(fed) == []
    [answer] = fed.outbox_to("mallory@elsewhere.example")
    assert "was not distributed" in str(answer["Subject"])
    assert str(answer["Auto-Submitted"]) == "auto-generated"
    fed.ok("campaigns", "run")
    assert _received(fed) == {}


def test_a_member_may_post_to_a_members_list(tmp_path: Path) -> None:
    fed = federation(tmp_path, "", "--posting", "members", "--dmarc", "none")
    done = fed.pipe(post(sender="Ana <ana@dockers.example>",
                         results=trusted_results("dockers.example")), LIST_ADDRESS)
    assert done.returncode == 0, done.stderr
    fed.ok("campaigns", "run")
    assert sorted(_received(fed)) == sorted(MEMBERS)


def test_held_reject_answers_the_poster_and_sends_nothing_to_the_list(
    announce: Federation,
) -> None:
    assert announce.pipe(post(results=None), LIST_ADDRESS).returncode == 0
    [held] = _held(announce)
    announce.ok("held", "reject", str(held["id"]), "--reason", "please send it to the board")
    [answer] = announce.outbox_to("rosa@union.example")
    body = answer.get_body(("plain",))
    assert body is not None and "please send it to the board" in body.get_content()
    announce.ok("campaigns", "run")
    assert _received(announce) == {}
    code, output = announce.cli("held", "approve", str(held["id"]))
    assert code != 0 and "rejected already" in output and "Traceback" not in output


def test_approve_always_makes_the_sender_a_poster(tmp_path: Path) -> None:
    fed = federation(tmp_path, "", "--posting", "announce", "--dmarc", "none")
    sender = "Bo <bo@seafarers.example>"
    proved = trusted_results("seafarers.example")
    assert fed.pipe(post(sender=sender, results=proved), LIST_ADDRESS).returncode == 0
    [held] = _held(fed)
    fed.ok("held", "approve", str(held["id"]), "--always")
    assert "bo@seafarers.example" in fed.ok("lists", "posters", "ls", "members")
    again = post(sender=sender, results=proved, message_id="<post-2@seafarers.example>")
    assert fed.pipe(again, LIST_ADDRESS).returncode == 0
    assert _held(fed) == []


def test_held_discard_and_expire(announce: Federation) -> None:
    assert announce.pipe(post(results=None), LIST_ADDRESS).returncode == 0
    assert announce.pipe(post(results=None, message_id="<post-2@union.example>"),
                         LIST_ADDRESS).returncode == 0
    first, second = _held(announce)
    announce.ok("held", "discard", str(first["id"]))
    assert [h["id"] for h in _held(announce)] == [second["id"]]
    assert "0 post(s) expired" in announce.ok("held", "expire")
    later = FakeClock(datetime.now(UTC) + timedelta(days=15))
    clock.set_clock(later)
    assert "1 post(s) expired" in announce.ok("held", "expire")
    assert _held(announce) == []


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("loop", {"List-Id": "Members <members.lists.example.org>"}),
        ("auto-reply", {"Auto-Submitted": "auto-replied"}),
    ],
)
def test_loops_and_auto_replies_are_never_distributed(
    announce: Federation, name: str, extra: dict[str, str]
) -> None:
    done = announce.pipe(post(results=trusted_results(), headers=extra), LIST_ADDRESS)
    assert done.returncode == 0, done.stderr
    assert _held(announce) == []
    announce.ok("campaigns", "run")
    assert _received(announce) == {}
    log = json.loads(announce.ok("inbound", "ls", "--json"))
    assert log[0]["outcome"] == "dropped" and log[0]["reason"].startswith(name)


def test_a_bounce_to_the_list_address_is_never_distributed(announce: Federation) -> None:
    done = announce.pipe(_dsn(), LIST_ADDRESS)
    assert done.returncode == 0, done.stderr
    announce.ok("campaigns", "run")
    assert _received(announce) == {}
    log = json.loads(announce.ok("inbound", "ls", "--json"))
    assert log[0]["outcome"] == "dropped"


def _dsn() -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mail.union.example>\r\n"
        f"To: {LIST_ADDRESS}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-1@mail.union.example>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nThe mail system could not deliver it.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mail.union.example\r\n\r\n"
        "Final-Recipient: rfc822; nobody@union.example\r\nAction: failed\r\n"
        "Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user\r\n"
        "--b--\r\n"
    ).encode()


def test_a_post_from_a_p_reject_domain_is_munged(tmp_path: Path, dns_server: Any) -> None:
    server = dns_server({"strict.example": ['_dmarc TXT "v=DMARC1; p=reject"'],
                         "relaxed.example": ['_dmarc TXT "v=DMARC1; p=none"']})
    fed = federation(tmp_path, f'resolver = "{server.nameserver}"\n', "--posting", "open")
    done = fed.pipe(post(sender="Dana Strict <dana@strict.example>",
                         results=trusted_results("strict.example")), LIST_ADDRESS)
    assert done.returncode == 0, done.stderr
    relaxed = post(sender="Eli <eli@relaxed.example>", results=trusted_results("relaxed.example"),
                   message_id="<post-2@relaxed.example>")
    assert fed.pipe(relaxed, LIST_ADDRESS).returncode == 0
    fed.ok("campaigns", "run")
    copies = fed.outbox_to(MEMBERS[0])
    by_sender = {str(m["Reply-To"] or m["From"]): m for m in copies}
    munged = by_sender["Dana Strict <dana@strict.example>"]
    assert str(munged["From"]) == f"Dana Strict via Members <{LIST_ADDRESS}>"
    assert str(by_sender["Eli <eli@relaxed.example>"]["From"]) == "Eli <eli@relaxed.example>"


def test_a_wrapped_post_rides_whole_as_an_attached_message(
    tmp_path: Path, dns_server: Any
) -> None:
    server = dns_server({"strict.example": ['_dmarc TXT "v=DMARC1; p=quarantine"']})
    fed = federation(tmp_path, f'resolver = "{server.nameserver}"\n', "--posting", "open",
                     "--dmarc", "wrap")
    done = fed.pipe(post(sender="Dana <dana@strict.example>",
                         results=trusted_results("strict.example")), LIST_ADDRESS)
    assert done.returncode == 0, done.stderr
    fed.ok("campaigns", "run")
    [copy] = fed.outbox_to(MEMBERS[0])
    assert LIST_ADDRESS in str(copy["From"])
    assert str(copy["Reply-To"]) == "Dana <dana@strict.example>"
    [inner] = [p for p in copy.iter_attachments() if p.get_content_type() == "message/rfc822"]
    original = inner.get_content()
    assert str(original["From"]) == "Dana <dana@strict.example>"
    assert "Received" not in original and "DKIM-Signature" not in original
    data = email.message_from_bytes(copy.as_bytes(), policy=email.policy.default)
    assert not data.defects


def test_answers_go_where_the_list_says(tmp_path: Path) -> None:
    fed = federation(tmp_path, "", "--posting", "announce", "--dmarc", "none",
                     "--reply-to", "list")
    assert fed.pipe(post(results=trusted_results()), LIST_ADDRESS).returncode == 0
    fed.ok("campaigns", "run")
    fed.ok("lists", "update", "members", "--reply-to", "Board@Federation.example")
    second = post(results=trusted_results(), message_id="<post-2@union.example>")
    assert fed.pipe(second, LIST_ADDRESS).returncode == 0
    fed.ok("campaigns", "run")
    replies = sorted(str(m["Reply-To"]) for m in fed.outbox_to(MEMBERS[0]))
    assert replies == ["Board@federation.example", LIST_ADDRESS]
    shown = fed.ok("lists", "show", "members")
    assert "posting       announce" in shown and "Board@federation.example" in shown


def test_bad_posting_settings_are_refused_in_one_line(announce: Federation) -> None:
    code, output = announce.cli("lists", "update", "members", "--reply-to", "not an address")
    assert code != 0 and "Traceback" not in output and len(output.strip().splitlines()) == 1
    code, output = announce.cli("lists", "update", "members", "--subject-prefix", "x" * 41)
    assert code != 0 and "at most 40" in output
    assert "reply_to      poster" in announce.ok("lists", "show", "members")


def test_a_post_to_a_list_without_members_is_done_at_once(tmp_path: Path) -> None:
    fed = federation(tmp_path, "", "--posting", "announce", "--dmarc", "none")
    for member in MEMBERS:
        fed.ok("subscribers", "unsubscribe", member, "--list", "members")
    assert fed.pipe(post(results=trusted_results()), LIST_ADDRESS).returncode == 0
    [campaign] = json.loads(fed.ok("campaigns", "ls", "--json"))
    assert (campaign["kind"], campaign["state"], campaign["recipients"]) == ("post", "done", 0)
