"""``mailer inbound -`` as an MTA pipe, run as a real process with real messages.

The exit status is what the MTA acts on: 0 when the message is stored or
deliberately dropped (never a bounce for a bounce, nor for a loop), 75
(EX_TEMPFAIL) when anything on our side may pass, so the MTA keeps the
message and delivers it again later.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mailer.store import open_store
from mailer.store.lists import get_list
from mailer.store.models import PostStatus
from mailer.store.posts import of_list
from mailer.store.subscribers import find_subscriber
from tests import bounce_samples
from tests.inbound_samples import (
    COORDINATOR,
    PHOTO,
    Circular,
    circular,
    message,
    tampered,
)

EX_TEMPFAIL = 75


@pytest.fixture
def sent(tmp_path: Path) -> Circular:
    return circular(tmp_path)


def _replies(sent: Circular, *args: str) -> list[dict[str, Any]]:
    code, output = sent.cli("replies", "ls", "--json", *args)
    assert code == 0, output
    found: list[dict[str, Any]] = json.loads(output)
    return found


def _log(sent: Circular) -> list[dict[str, Any]]:
    code, output = sent.cli("inbound", "ls", "--json")
    assert code == 0, output
    found: list[dict[str, Any]] = json.loads(output)
    return found


def test_a_reply_with_a_photo_is_filed_under_its_campaign_and_member(sent: Circular) -> None:
    done = sent.pipe(message(sent.reply_to, photo=PHOTO), sent.reply_to)
    assert done.returncode == 0, done.stderr
    [reply] = _replies(sent, "--campaign", str(sent.campaign_id))
    assert (reply["email"], reply["verified"], reply["sender"]) == (
        "ana@union.example", True, "ana.home@union.example"
    )
    assert "declares its solidarity" in str(reply["text"])
    [photo] = reply["attachments"]
    assert photo["filename"] == "../../Assembleia em Santos.JPG"
    saved = sent.db.parent / "replies" / photo["path"]
    assert saved.parent.parent == sent.db.parent / "replies"  # the sent name is no path
    assert saved.name == "1-assembleia-em-santos.jpg"
    assert saved.read_bytes() == PHOTO


def test_the_reply_is_exported_with_the_members_organisation_and_photo(sent: Circular) -> None:
    assert sent.pipe(message(sent.reply_to, photo=PHOTO), sent.reply_to).returncode == 0
    code, output = sent.cli("replies", "export", "--campaign", str(sent.campaign_id))
    assert code == 0, output
    rows = list(csv.reader(io.StringIO(output)))
    assert rows[0][:5] == ["received_at", "email", "name", "organisation", "country"]
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row["email"], row["name"], row["organisation"]) == (
        "ana@union.example", "Ana Lima", "Dockers of Santos"
    )
    assert row["text"] == "The assembly of the Santos dockers declares its solidarity."
    assert row["attachments"] == "../../Assembleia em Santos.JPG"


def test_the_coordinator_gets_a_copy_answering_to_the_member(sent: Circular) -> None:
    assert sent.pipe(message(sent.reply_to, photo=PHOTO), sent.reply_to).returncode == 0
    [copy] = sent.outbox_to(COORDINATOR)
    assert copy["Reply-To"].addresses[0].addr_spec == "ana.home@union.example"
    assert copy["From"].addresses[0].addr_spec == "replies@lists.example.org"
    assert copy["From"].addresses[0].display_name == "Ana Lima via Union of Port Workers"
    assert copy["Subject"] == "Re: Call for solidarity"
    [photo] = list(copy.iter_attachments())
    assert photo.get_content() == PHOTO
    assert _replies(sent)[0]["forward"] == "sent"


def test_a_reply_delivered_twice_is_stored_and_forwarded_once(sent: Circular) -> None:
    for _ in range(2):
        assert sent.pipe(message(sent.reply_to), sent.reply_to).returncode == 0
    assert len(_replies(sent)) == 1
    assert len(sent.outbox_to(COORDINATOR)) == 1


def test_a_reply_whose_token_was_tampered_with_proves_no_one(sent: Circular) -> None:
    forged = tampered(sent.reply_to)
    done = sent.pipe(message(forged, sender="Mallory <m@example.net>"), forged)
    assert done.returncode == 0, done.stderr
    [reply] = _replies(sent)
    assert (reply["verified"], reply["subscriber_id"], reply["campaign_id"]) == (False, None, None)
    assert _replies(sent, "--campaign", str(sent.campaign_id)) == []
    assert _log(sent)[0]["reason"] == "unverified: the token does not verify"


def test_an_auto_reply_is_dropped_not_stored_as_a_reply(sent: Circular) -> None:
    vacation = message(
        sent.reply_to, subject="Out of office: Call for solidarity",
        text="I am away until Monday.", headers={"Auto-Submitted": "auto-replied"},
    )
    done = sent.pipe(vacation, sent.reply_to)
    assert done.returncode == 0, done.stderr
    assert _replies(sent) == []
    [line] = _log(sent)
    assert (line["route"], line["outcome"]) == ("reply", "dropped")
    assert str(line["reason"]).startswith("auto-reply: auto-submitted")
    assert sent.outbox_to(COORDINATOR) == []


def test_our_own_letter_coming_back_is_a_loop_and_dropped(sent: Circular) -> None:
    looped = message(
        sent.reply_to, subject="Fwd: Call for solidarity",
        headers={"List-Id": "Members <members.lists.example.org>"},
    )
    assert sent.pipe(looped, sent.reply_to).returncode == 0
    assert _replies(sent) == []
    [line] = _log(sent)
    assert line["reason"] == "loop: List-Id members.lists.example.org"


def test_a_bounce_to_the_return_path_is_still_the_bounce_codes(sent: Circular) -> None:
    bounce = bounce_samples.verp_dsn(sent.return_path, "ana@union.example")
    done = sent.pipe(bounce, sent.return_path)
    assert done.returncode == 0, done.stderr
    code, output = sent.cli("bounces", "ls", "--json")
    assert code == 0, output
    [event] = json.loads(output)
    assert (event["kind"], event["proof"], event["campaign_id"]) == ("hard", "verp", 1)
    with open_store(sent.db) as store:
        ana = find_subscriber(store, "ana@union.example")
    assert ana is not None and ana.status == "bounced"
    assert _log(sent)[0]["route"] == "bounce"


def test_a_message_to_an_unknown_address_is_dropped_with_exit_0(sent: Circular) -> None:
    done = sent.pipe(message("treasurer@lists.example.org"), "treasurer@lists.example.org")
    assert done.returncode == 0, done.stderr
    [line] = _log(sent)
    assert (line["route"], line["outcome"], line["reason"]) == (
        "unknown", "dropped", "unknown recipient"
    )


def test_a_message_over_the_size_limit_is_dropped_and_nothing_of_it_kept(sent: Circular) -> None:
    big = message(sent.reply_to, photo=PHOTO * 60)  # about 250 KB; the limit is 0.1 MB
    done = sent.pipe(big, sent.reply_to)
    assert done.returncode == 0, done.stderr
    assert _replies(sent) == []
    [line] = _log(sent)
    assert str(line["reason"]).startswith("too large:")
    assert int(str(line["size"])) == len(big)
    assert not (sent.db.parent / "replies").exists()


def test_a_post_to_a_lists_address_is_held_because_posting_is_closed(sent: Circular) -> None:
    post = message("members@lists.example.org", subject="Strike in Rotterdam")
    done = sent.pipe(post, "members@lists.example.org")
    assert done.returncode == 0, done.stderr
    with open_store(sent.db) as store:
        [held] = of_list(store, get_list(store, "members").id)
    assert (held.status, held.reason, held.sender, held.subject) == (
        PostStatus.HELD, "posting is closed", "ana.home@union.example", "Strike in Rotterdam"
    )
    assert _log(sent)[0]["reason"] == "held: posting is closed"
    assert len(sent.outbox_to("ana@union.example")) == 1  # the circular: nothing went on


def test_a_locked_database_asks_the_mta_to_try_again(sent: Circular) -> None:
    holder = sqlite3.connect(sent.db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        done = sent.pipe(message(sent.reply_to, photo=PHOTO), sent.reply_to)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert done.returncode == EX_TEMPFAIL
    err = done.stderr.decode()
    assert "locked" in err and len(err.strip().splitlines()) == 1, err
    assert _replies(sent) == []
    assert not any((sent.db.parent / "replies").glob("*/*"))


def test_a_missing_database_asks_the_mta_to_try_again(sent: Circular) -> None:
    sent.db.rename(sent.db.with_name("elsewhere.db"))
    done = sent.pipe(message(sent.reply_to), sent.reply_to)
    assert done.returncode == EX_TEMPFAIL
    assert "mailer.db" in done.stderr.decode() and "Traceback" not in done.stderr.decode()
