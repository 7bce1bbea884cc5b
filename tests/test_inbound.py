"""The intake in process: routing, what is kept out, the sources, forwarding, the commands."""

from __future__ import annotations

import dataclasses
import json
import mailbox
import re
from pathlib import Path
from typing import Any

import pytest

from mailer.config import BouncesConfig, Config, RepliesConfig, SenderConfig
from mailer.inbound import files
from mailer.inbound.message import content_of
from mailer.inbound.routes import RouteKind, router_for
from mailer.store import open_store
from mailer.store.lists import get_list
from mailer.store.posts import of_list
from tests import bounce_samples
from tests.inbound_samples import (
    COORDINATOR,
    PHOTO,
    Circular,
    circular,
    delivered,
    message,
)
from tests.smtp_sink import Faults, SmtpSink, sink_environment

EX_TEMPFAIL = 75
CONFIG = Config(
    sender=SenderConfig(from_address="News <news@lists.example.org>"),
    bounces=BouncesConfig(return_path="bounces@lists.example.org"),
    replies=RepliesConfig(address="replies@lists.example.org"),
)


@pytest.fixture
def sent(tmp_path: Path) -> Circular:
    return circular(tmp_path)


def _json(sent: Circular, *args: str) -> list[dict[str, Any]]:
    code, output = sent.cli(*args, "--json")
    assert code == 0, output
    found: list[dict[str, Any]] = json.loads(output)
    return found


def _take(sent: Circular, raw: bytes, to: str, tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "message.eml"
    path.write_bytes(raw)
    code, output = sent.cli("inbound", "receive", str(path), "--to", to, "--json")
    assert code == 0, output
    report: dict[str, Any] = json.loads(output)
    return report


# -- routing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("replies+abc-def@lists.example.org", RouteKind.REPLY),
        ("Replies+ABC-DEF@Lists.Example.org", RouteKind.REPLY),
        ("replies@lists.example.org", RouteKind.REPLY),
        ("bounces+abc-def@lists.example.org", RouteKind.BOUNCE),
        ("bounces@lists.example.org", RouteKind.BOUNCE),
        ("unsubscribe+abc-def@lists.example.org", RouteKind.BOUNCE),
        ("unsubscribe@lists.example.org", RouteKind.BOUNCE),
        ("members@lists.example.org", RouteKind.POST),
        ("<MEMBERS@lists.example.org>", RouteKind.POST),
        ("members@elsewhere.example.org", RouteKind.UNKNOWN),
        ("replies@elsewhere.example.org", RouteKind.UNKNOWN),
        ("treasurer@lists.example.org", RouteKind.UNKNOWN),
        ("", RouteKind.UNKNOWN),
    ],
)
def test_the_address_decides_the_route(address: str, kind: RouteKind) -> None:
    assert router_for(CONFIG, ["members", "replies"]).route(address).kind is kind


def test_a_replies_address_carries_its_token_to_the_route() -> None:
    found = router_for(CONFIG, []).route("replies+abc-def@lists.example.org")
    assert found.token == "abc-def"


def test_without_a_return_path_bounces_come_to_the_from_address() -> None:
    config = dataclasses.replace(CONFIG, bounces=BouncesConfig())
    assert router_for(config, []).route("news@lists.example.org").kind is RouteKind.BOUNCE


def test_the_posting_domain_is_a_setting_of_its_own() -> None:
    config = dataclasses.replace(
        CONFIG, inbound=dataclasses.replace(CONFIG.inbound, domain="post.example.org")
    )
    router = router_for(config, ["members"])
    assert router.route("members@post.example.org").kind is RouteKind.POST
    assert router.route("members@lists.example.org").kind is RouteKind.UNKNOWN


# -- what is kept out -------------------------------------------------------------------


def test_an_x_loop_naming_us_is_a_loop(sent: Circular, tmp_path: Path) -> None:
    raw = message(sent.reply_to, headers={"X-Loop": "replies@lists.example.org"})
    report = _take(sent, raw, sent.reply_to, tmp_path)
    assert report["dropped"] == {"loop": 1}
    assert _json(sent, "replies", "ls") == []


def test_bulk_mail_is_no_reply(sent: Circular, tmp_path: Path) -> None:
    raw = message(sent.reply_to, subject="Newsletter of the dockers",
                  headers={"Precedence": "bulk"})
    assert _take(sent, raw, sent.reply_to, tmp_path)["dropped"] == {"auto-reply": 1}


def test_a_bounce_to_the_replies_address_is_no_reply(sent: Circular, tmp_path: Path) -> None:
    raw = bounce_samples.postfix_dsn_user_unknown("coord@union.example")
    assert _take(sent, raw, sent.reply_to, tmp_path)["dropped"] == {"bounce": 1}
    assert _json(sent, "bounces", "ls") == []  # nor is it taken for a bounce of a letter


def test_an_answer_that_quotes_an_error_message_is_still_an_answer(
    sent: Circular, tmp_path: Path
) -> None:
    raw = message(
        sent.reply_to, subject="Re: Undeliverable: Call for solidarity",
        text="Your letter to our old address failed:\n\n"
             "> 550 5.1.1 <old@union.example>: Recipient address rejected: User unknown\n",
    )
    report = _take(sent, raw, sent.reply_to, tmp_path)
    assert (report["replies"], report["dropped"]) == (1, {})


def test_a_sender_marked_auto_submitted_no_is_a_person(sent: Circular, tmp_path: Path) -> None:
    raw = message(sent.reply_to, headers={"Auto-Submitted": "no"})
    assert _take(sent, raw, sent.reply_to, tmp_path)["replies"] == 1


# -- replies ----------------------------------------------------------------------------


def test_an_attachment_over_the_limit_is_listed_but_not_saved(
    sent: Circular, tmp_path: Path
) -> None:
    path = tmp_path / "reply.eml"
    path.write_bytes(message(sent.reply_to, photo=PHOTO))
    code, output = sent.cli("inbound", "receive", str(path), "--to", sent.reply_to,
                            MAILER_REPLIES_MAX_ATTACHMENT_MB="0.001")
    assert code == 0, output
    [reply] = _json(sent, "replies", "ls")
    [photo] = reply["attachments"]
    assert (photo["path"], photo["size"]) == ("", len(PHOTO))
    assert "max_attachment_mb" in photo["note"]
    folder = sent.db.parent / "replies" / str(reply["folder"])
    assert sorted(p.name for p in folder.iterdir()) == ["message.eml"]


def test_an_html_only_reply_is_stored_as_its_text(sent: Circular, tmp_path: Path) -> None:
    raw = (
        f"From: Ana <ana@union.example>\r\nTo: {sent.reply_to}\r\nSubject: Re: Call\r\n"
        "Message-ID: <html-1@union.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: text/html; charset="utf-8"\r\n\r\n'
        "<p>We <b>support</b> you.</p><style>p {color: red}</style>\r\n"
    ).encode()
    _take(sent, raw, sent.reply_to, tmp_path)
    [reply] = _json(sent, "replies", "ls")
    assert reply["text"] == "We support you."


def test_a_reply_naming_a_token_without_the_key_to_check_it_waits(sent: Circular) -> None:
    code, output = sent.cli("inbound", "-", stdin=message(sent.reply_to),
                            ORIGINAL_RECIPIENT=sent.reply_to, MAILER_SECRET_KEY="")
    assert code == EX_TEMPFAIL
    assert "MAILER_SECRET_KEY" in output
    assert _json(sent, "replies", "ls") == []


def test_replies_show_says_whose_it_is_and_where_its_files_are(sent: Circular) -> None:
    assert sent.pipe(message(sent.reply_to, photo=PHOTO), sent.reply_to).returncode == 0
    code, output = sent.cli("replies", "show", "1")
    assert code == 0, output
    assert "ana@union.example (verified by its address)" in output
    assert str(sent.db.parent / "replies" / "1" / "1-assembleia-em-santos.jpg") in output
    assert "declares its solidarity" in output
    code, output = sent.cli("replies", "show", "7")
    assert (code, output.strip()) == (1, "Error: no reply 7 (see `mailer replies ls`)")


def test_the_export_escapes_cells_a_spreadsheet_would_run(sent: Circular, tmp_path: Path) -> None:
    raw = message(sent.reply_to, subject='=HYPERLINK("http://evil.example","x")',
                  text="@SUM(1+1)\nfine")
    _take(sent, raw, sent.reply_to, tmp_path)
    code, output = sent.cli("replies", "export", "--campaign", "1")
    assert code == 0, output
    assert "'=HYPERLINK" in output and "'@SUM(1+1)" in output


def test_the_mbox_export_holds_each_reply_as_it_came(sent: Circular, tmp_path: Path) -> None:
    first = message(sent.reply_to, photo=PHOTO)
    second = message(sent.reply_to, message_id="<answer-2@union.example>",
                     text="From the port of Santos, greetings.")
    for raw in (first, second):
        assert sent.pipe(raw, sent.reply_to).returncode == 0
    out = tmp_path / "replies.mbox"
    code, output = sent.cli("replies", "export", "--campaign", "1", "--format", "mbox",
                            "-o", str(out))
    assert code == 0, output
    box = mailbox.mbox(str(out))
    messages = [box.get_bytes(key).replace(b"\n", b"\r\n").rstrip() for key in box.iterkeys()]
    # mboxrd: a body line starting "From " is written behind a ">" that a reader drops.
    assert messages[1].endswith(b"\r\n>From the port of Santos, greetings.")
    unquoted = [re.sub(rb"(?m)^>(>*From )", rb"\1", m) for m in messages]
    assert unquoted == [first.rstrip(), second.rstrip()]


def test_an_export_never_writes_over_the_database(sent: Circular) -> None:
    code, output = sent.cli("replies", "export", "--campaign", "1", "-o", str(sent.db))
    assert code == 2 and "refusing to write over the database" in output


# -- forwarding -------------------------------------------------------------------------


def _sink(faults: Faults | None = None) -> SmtpSink:
    running = SmtpSink(faults or Faults())
    running.start()
    return running


def test_a_forward_the_relay_cannot_take_now_is_tried_again(sent: Circular) -> None:
    down = _sink(Faults(refuse_all=True))
    try:
        env = sink_environment(down.port, MAILER_SMTP_CONNECT_ATTEMPTS="1")
        first = sent.pipe(message(sent.reply_to), sent.reply_to, **env)
    finally:
        down.stop()
    assert first.returncode == EX_TEMPFAIL, first.stderr
    [reply] = _json(sent, "replies", "ls")
    assert reply["forward"] == "pending"
    up = _sink()
    try:
        again = sent.pipe(message(sent.reply_to), sent.reply_to, **sink_environment(up.port))
    finally:
        up.stop()
    assert again.returncode == 0, again.stderr
    assert [r.rcpt_to for r in up.received] == [COORDINATOR]
    [reply] = _json(sent, "replies", "ls")
    assert reply["forward"] == "sent"


def test_a_forward_refused_for_good_is_marked_and_the_reply_kept(sent: Circular) -> None:
    refusing = _sink(Faults(reject={COORDINATOR}))
    try:
        done = sent.pipe(message(sent.reply_to), sent.reply_to,
                         **sink_environment(refusing.port))
    finally:
        refusing.stop()
    assert done.returncode == 0, done.stderr
    [reply] = _json(sent, "replies", "ls")
    assert reply["forward"] == "failed" and "550" in str(reply["forward_note"])


# -- sources, the log, forgetting -------------------------------------------------------


def test_a_maildir_is_taken_in_once_however_often_it_is_read(
    sent: Circular, tmp_path: Path
) -> None:
    box = mailbox.Maildir(str(tmp_path / "Maildir"), create=True)
    box.add(delivered(message(sent.reply_to), sent.reply_to))
    post = message("members@lists.example.org", message_id="<post-1@union.example>")
    box.add(delivered(post, "members@lists.example.org"))
    stray = message("nobody@lists.example.org", message_id="<x-1@union.example>")
    box.add(delivered(stray, "nobody@lists.example.org"))
    first = json.loads(sent.cli("inbound", "--maildir", str(tmp_path / "Maildir"), "--json")[1])
    assert (first["messages"], first["replies"], first["posts"], first["dropped"]) == (
        3, 1, 1, {"unknown recipient": 1}
    )
    again = json.loads(sent.cli("inbound", "--maildir", str(tmp_path / "Maildir"), "--json")[1])
    assert (again["messages"], again["duplicates"]) == (3, 3)


def test_to_routes_a_mailbox_that_holds_one_address(sent: Circular, tmp_path: Path) -> None:
    mbox = mailbox.mbox(str(tmp_path / "replies.mbox"))
    mbox.add(message("someone@union.example"))
    mbox.flush()
    code, output = sent.cli("inbound", "--mbox", str(tmp_path / "replies.mbox"), "--to",
                            sent.reply_to, "--json")
    assert code == 0 and json.loads(output)["replies"] == 1


def test_inbound_ls_shows_the_newest_first_and_filters(sent: Circular, tmp_path: Path) -> None:
    _take(sent, message(sent.reply_to), sent.reply_to, tmp_path)
    _take(sent, message("x@lists.example.org", message_id="<2@u.example>"),
          "x@lists.example.org", tmp_path)
    assert [e["route"] for e in _json(sent, "inbound", "ls")] == ["unknown", "reply"]
    assert [e["route"] for e in _json(sent, "inbound", "ls", "--outcome", "dropped")] == [
        "unknown"
    ]
    code, output = sent.cli("inbound", "ls", "--route", "reply")
    assert code == 0 and "verified" in output and "unknown recipient" not in output


def test_forgetting_a_member_erases_their_replies_and_files(sent: Circular) -> None:
    assert sent.pipe(message(sent.reply_to, photo=PHOTO), sent.reply_to).returncode == 0
    post = message("members@lists.example.org", sender="ana@union.example",
                   message_id="<post-2@union.example>")
    assert sent.pipe(post, "members@lists.example.org").returncode == 0
    folder = sent.db.parent / "replies" / "1"
    assert folder.is_dir()
    code, output = sent.cli("subscribers", "forget", "ana@union.example", "--yes")
    assert code == 0, output
    assert _json(sent, "replies", "ls") == []
    assert not folder.exists()
    with open_store(sent.db) as store:
        assert of_list(store, get_list(store, "members").id) == []
    # The log keeps the lines, but no address of hers: not the one she wrote from either.
    assert [e["sender"] for e in _json(sent, "inbound", "ls")] == ["", ""]


def test_a_persons_export_holds_their_replies(sent: Circular) -> None:
    assert sent.pipe(message(sent.reply_to), sent.reply_to).returncode == 0
    code, output = sent.cli("subscribers", "export", "--email", "ana@union.example")
    assert code == 0, output
    [reply] = json.loads(output)["replies"]
    assert reply["subject"] == "Re: Call for solidarity"


# -- reading what people send -----------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "content_type", "saved_as"),
    [
        ("../../.ssh/authorized_keys", "application/octet-stream", "3-authorized-keys.bin"),
        ("..\\..\\Windows\\evil.EXE", "application/octet-stream", "3-evil.exe"),
        ("", "image/jpeg", "3-attachment.jpg"),
        ("Déclaration de solidarité.pdf", "application/pdf", "3-declaration-de-solidarite.pdf"),
        ("\x1b[31mred\x00.txt", "text/plain", "3-31mred.txt"),
        ("CON", "text/plain", "3-con.txt"),
        ("x." + "a" * 50, "image/png", "3-x.aaaaaaaaaa"),
    ],
)
def test_an_attachment_is_saved_under_a_name_of_our_making(
    filename: str, content_type: str, saved_as: str
) -> None:
    assert files.safe_name(3, filename, content_type) == saved_as


def test_an_attached_message_is_saved_whole() -> None:
    inner = message("someone@union.example", subject="The strike call we received")
    outer = (
        b"From: ana@union.example\r\nSubject: Fwd: the call\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="f"\r\n\r\n'
        b"--f\r\nContent-Type: text/plain\r\n\r\nSee the call below.\r\n"
        b'--f\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n'
        + inner + b"\r\n--f--\r\n"
    )
    content = content_of(outer)
    [attached] = content.attachments
    assert attached.content_type == "message/rfc822"
    assert b"Subject: The strike call we received" in attached.data
    assert content.text == "See the call below."


def test_a_message_nested_past_what_the_parser_follows_still_gives_its_text() -> None:
    nested = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(3000)
    )
    raw = b"From: a@union.example\r\nSubject: deep\r\n" + nested + b"\r\nhello\r\n"
    content = content_of(raw)
    assert content.attachments == () and content.text
