"""Digests: a member who asks for one gets no post as it is sent, and one message per
period with the posts accepted since their last digest (RFC 1153 text and a
``multipart/digest``); everyone else gets each post as usual.

Posts come in through ``mailer inbound -`` in this process, so that the fake
clock decides when a digest is due.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailer.config import load_config
from mailer.dispatch import worker
from mailer.posting.digests import make_due
from mailer.store import open_store
from mailer.tokens import Signer, quoted_message_id
from tests.clocks import FakeClock
from tests.dkim_helpers import dkimpy_results, key_file, new_key, outbox_messages
from tests.inbound_samples import SECRET
from tests.posting_samples import (
    LIST_ADDRESS,
    MEMBERS,
    Federation,
    federation,
    post,
    trusted_results,
)

READER = MEMBERS[0]


@pytest.fixture
def fed(tmp_path: Path, fake_clock: FakeClock) -> Federation:
    made = federation(tmp_path, "", "--posting", "announce", "--subject-prefix", "[members]",
                      "--dmarc", "none")
    made.ok("subscribers", "update", READER, "--list", "members", "--digest", "daily")
    return made


def _post(fed: Federation, subject: str, number: int) -> None:
    raw = post(results=trusted_results(), subject=subject,
               message_id=f"<post-{number}@union.example>")
    code, output = fed.cli("inbound", "-", stdin=raw, ORIGINAL_RECIPIENT=LIST_ADDRESS)
    assert code == 0, output


def _no_defects(message: EmailMessage) -> None:
    for part in message.walk():
        assert not part.defects, (part.get_content_type(), part.defects)


def _kinds(fed: Federation) -> list[str]:
    return [c["kind"] for c in json.loads(fed.ok("campaigns", "ls", "--json"))]


def _ids(fed: Federation) -> list[int]:
    return [int(c["id"]) for c in json.loads(fed.ok("campaigns", "ls", "--json"))]


def _subscriber_id(fed: Federation) -> str:
    return str(json.loads(fed.ok("subscribers", "show", READER, "--json"))["id"])


def test_a_digest_member_gets_one_digest_of_both_posts_and_the_others_each_post(
    fed: Federation, fake_clock: FakeClock,
) -> None:
    _post(fed, "Resolution of the assembly", 1)
    fed.ok("campaigns", "run")
    fake_clock.advance(hours=2)
    _post(fed, "Strike fund", 2)
    fed.ok("campaigns", "run")
    for member in MEMBERS[1:]:
        assert len(fed.outbox_to(member)) == 2
    assert fed.outbox_to(READER) == []
    fake_clock.advance(hours=21)  # 23 hours after asking for a daily digest: not yet
    fed.ok("campaigns", "run")
    assert fed.outbox_to(READER) == []
    fake_clock.advance(hours=1)
    fed.ok("campaigns", "run")
    [digest] = fed.outbox_to(READER)
    _no_defects(digest)
    assert digest.get_content_type() == "multipart/mixed"
    assert str(digest["List-Id"]) == "Members <members.lists.example.org>"
    link = str(digest["List-Unsubscribe"]).split(",")[0].strip().strip("<>")
    assert link.startswith("https://lists.example.org/u/")
    text, bundle, footer = digest.iter_parts()
    assert isinstance(text, EmailMessage) and isinstance(bundle, EmailMessage)
    assert isinstance(footer, EmailMessage)
    assert text.get_content_type() == "text/plain"
    assert bundle.get_content_type() == "multipart/digest"
    assert link in footer.get_content()
    assert [part.get_content_type() for part in bundle.iter_parts()] == ["message/rfc822"] * 2
    copies = [part.get_content() for part in bundle.iter_parts()]
    assert [str(c["Subject"]) for c in copies] == [
        "[members] Resolution of the assembly", "[members] Strike fund"]
    for copy in copies:
        assert "Received" not in copy and "DKIM-Signature" not in copy
        assert str(copy["From"]) == "Rosa Coordinator <rosa@union.example>"
    assert _kinds(fed)[0] == "digest"
    # Its Message-ID is signed like a letter's: a complaint quoting it proves itself.
    claim = quoted_message_id(Signer(SECRET), str(digest["Message-ID"]))
    assert claim is not None and claim.fields[:2] == (str(_ids(fed)[0]), _subscriber_id(fed))


def test_the_digest_text_follows_rfc_1153(fed: Federation, fake_clock: FakeClock) -> None:
    _post(fed, "Resolution of the assembly", 1)
    _post(fed, "Strike fund", 2)
    fake_clock.advance(days=1)
    fed.ok("campaigns", "run")
    [digest] = fed.outbox_to(READER)
    text = next(digest.iter_parts())
    assert isinstance(text, EmailMessage)
    lines = text.get_content().splitlines()
    assert lines[0].startswith("Members Digest")
    topics = lines.index("Today's Topics:")
    assert lines[topics + 2].strip().startswith("1. [members] Resolution of the assembly")
    assert lines[topics + 3].strip().startswith("2. [members] Strike fund")
    first = lines.index("-" * 70)
    assert lines[first + 1] == "" and lines[first + 2].startswith("Date: ")
    assert lines[first + 3] == "From: Rosa Coordinator <rosa@union.example>"
    assert lines[first + 4] == "Subject: [members] Resolution of the assembly"
    between = [n for n, line in enumerate(lines) if line == "-" * 30]
    assert len(between) == 2  # after each post
    assert lines[between[0] + 3] == "From: Rosa Coordinator <rosa@union.example>"
    assert lines[between[0] + 4] == "Subject: [members] Strike fund"
    assert text.get_content().count("the assembly adopted the resolution attached") == 2
    end = lines[between[1] + 2]
    assert end.startswith("End of Members Digest V2026 Issue #")
    assert lines[between[1] + 3] == "*" * len(end)


def test_no_post_since_the_last_digest_makes_no_digest(
    fed: Federation, fake_clock: FakeClock,
) -> None:
    _post(fed, "Resolution of the assembly", 1)
    fake_clock.advance(days=1)
    fed.ok("campaigns", "run")
    assert len(fed.outbox_to(READER)) == 1
    fake_clock.advance(days=1)
    fed.ok("campaigns", "run")
    fake_clock.advance(days=3)
    fed.ok("campaigns", "run")
    assert len(fed.outbox_to(READER)) == 1
    assert _kinds(fed).count("digest") == 1


def test_the_next_daily_digest_keeps_the_time_of_day(
    fed: Federation, fake_clock: FakeClock,
) -> None:
    _post(fed, "Resolution of the assembly", 1)
    fake_clock.advance(days=1, minutes=7)  # the worker came round a little late
    fed.ok("campaigns", "run")
    _post(fed, "Strike fund", 2)
    fake_clock.advance(hours=23, minutes=53)  # a day after the first was due
    fed.ok("campaigns", "run")
    assert len(fed.outbox_to(READER)) == 2


def test_a_weekly_digest_waits_a_week(fed: Federation, fake_clock: FakeClock) -> None:
    fed.ok("subscribers", "update", READER, "--list", "members", "--digest", "weekly")
    _post(fed, "Resolution of the assembly", 1)
    fake_clock.advance(days=6)
    fed.ok("campaigns", "run")
    assert fed.outbox_to(READER) == []
    fake_clock.advance(days=1)
    fed.ok("campaigns", "run")
    assert len(fed.outbox_to(READER)) == 1


def test_digest_off_returns_to_each_post_after_a_last_digest(
    fed: Federation, fake_clock: FakeClock,
) -> None:
    _post(fed, "Resolution of the assembly", 1)
    fed.ok("campaigns", "run")
    output = fed.ok("subscribers", "update", READER, "--list", "members", "--digest", "off")
    assert "daily -> off" in output
    fed.ok("campaigns", "run")  # what was queued comes at once, in one last digest
    [last] = fed.outbox_to(READER)
    assert last.get_content_type() == "multipart/mixed"
    _post(fed, "Strike fund", 2)
    fed.ok("campaigns", "run")
    subjects = [str(m["Subject"]) for m in fed.outbox_to(READER)]
    assert "[members] Strike fund" in subjects and len(subjects) == 2
    history = fed.ok("subscribers", "show", READER)
    assert "digest [members]" in history


def test_a_digest_for_someone_not_on_the_list_is_refused_in_one_line(fed: Federation) -> None:
    fed.ok("lists", "create", "press")
    fed.ok("subscribers", "add", "desk@paper.example", "--list", "press")
    code, output = fed.cli("subscribers", "update", "desk@paper.example", "--list", "members",
                           "--digest", "daily")
    assert code == 1
    assert output.strip().splitlines() == [
        "Error: desk@paper.example is not on the list 'members'"]


def test_a_second_round_in_the_same_period_sends_no_second_digest(
    fed: Federation, fake_clock: FakeClock,
) -> None:
    _post(fed, "Resolution of the assembly", 1)
    fake_clock.advance(days=1)
    fed.ok("campaigns", "run")
    fed.ok("campaigns", "run")
    _post(fed, "Strike fund", 2)
    fed.ok("campaigns", "run")
    fake_clock.advance(hours=23, minutes=59)
    fed.ok("campaigns", "run")
    assert len(fed.outbox_to(READER)) == 1
    fake_clock.advance(minutes=1)
    fed.ok("campaigns", "run")
    _, second = fed.outbox_to(READER)
    bundle = list(second.iter_parts())[1]
    assert isinstance(bundle, EmailMessage)
    assert [str(part.get_content()["Subject"]) for part in bundle.iter_parts()] == [
        "[members] Strike fund"]
    assert _kinds(fed).count("digest") == 2


def test_what_a_digest_holds_is_fixed_when_it_is_made(
    fed: Federation, fake_clock: FakeClock,
) -> None:
    """A digest made but not yet sent (its send cut off, say) is sent as it was made: a
    post accepted in between waits for the next one."""
    _post(fed, "Resolution of the assembly", 1)
    fake_clock.advance(days=1)
    store = open_store(fed.db)
    try:
        [made] = make_due(store)
        assert make_due(store) == []
    finally:
        store.close()
    _post(fed, "Strike fund", 2)
    fed.ok("campaigns", "run")
    [digest] = fed.outbox_to(READER)
    assert str(digest["Subject"]) == f"Members Digest, Vol 2026, Issue {made}"
    assert "Strike fund" not in next(digest.iter_parts()).get_content()


def test_a_cancelled_digest_gives_its_posts_to_the_next_one(
    fed: Federation, fake_clock: FakeClock,
) -> None:
    _post(fed, "Resolution of the assembly", 1)
    fake_clock.advance(days=1)
    store = open_store(fed.db)
    try:
        [made] = make_due(store)
    finally:
        store.close()
    fed.ok("campaigns", "cancel", str(made))
    fed.ok("campaigns", "run")
    assert fed.outbox_to(READER) == []
    fake_clock.advance(days=1)
    fed.ok("campaigns", "run")
    [digest] = fed.outbox_to(READER)
    bundle = list(digest.iter_parts())[1]
    assert isinstance(bundle, EmailMessage)
    assert [str(part.get_content()["Subject"]) for part in bundle.iter_parts()] == [
        "[members] Resolution of the assembly"]


def test_subscribers_show_tells_how_a_member_takes_the_posts(fed: Federation) -> None:
    shown = fed.ok("subscribers", "show", READER)
    assert "  members: confirmed, daily digest (consent " in shown
    [subscription] = json.loads(fed.ok("subscribers", "show", READER, "--json"))["subscriptions"]
    assert subscription["digest"] == "daily"
    assert "already daily" in fed.ok("subscribers", "update", READER, "--list", "members",
                                     "--digest", "daily")
    fed.ok("subscribers", "update", READER, "--list", "members", "--digest", "off")
    assert "  members: confirmed (consent " in fed.ok("subscribers", "show", READER)
    [subscription] = json.loads(fed.ok("subscribers", "show", READER, "--json"))["subscriptions"]
    assert subscription["digest"] == "off"


def test_the_digest_arrives_dkim_signed(
    tmp_path: Path, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Signed like any campaign. The clock stands days back from now: a verifier refuses a
    signature made later than its own time."""
    fake_clock.now = datetime.now(UTC).replace(microsecond=0) - timedelta(days=9)
    key = new_key("rsa-sha256", "digest2026")
    (tmp_path / "keys").mkdir()
    monkeypatch.setenv("MAILER_DKIM_DOMAIN", key.domain)
    monkeypatch.setenv("MAILER_DKIM_SELECTOR", key.selector)
    monkeypatch.setenv("MAILER_DKIM_KEY_FILE", str(key_file(tmp_path / "keys", key)))
    fed = federation(tmp_path, "", "--posting", "announce", "--dmarc", "none")
    fed.ok("subscribers", "update", READER, "--list", "members", "--digest", "weekly")
    _post(fed, "Resolution of the assembly", 1)
    fake_clock.advance(days=7)
    fed.ok("campaigns", "run")
    [digest] = [m for m in outbox_messages(fed.outbox) if b"multipart/digest" in m]
    assert f"To: {READER}".encode() in digest
    assert dkimpy_results(digest, [key]) == [True]
    assert dkimpy_results(digest, [new_key("rsa-sha256", key.selector)]) == [False]


def test_the_worker_sends_a_digest_at_its_first_round_a_day_after(
    fed: Federation, fake_clock: FakeClock,
) -> None:
    _post(fed, "Resolution of the assembly", 1)
    fake_clock.advance(minutes=10)  # rounds at 09:10, 10:10 ... the day after
    stop = threading.Event()

    def sleep(seconds: float) -> None:
        if fed.outbox_to(READER):
            stop.set()
        fake_clock.wait(seconds)

    store = open_store(fed.db)
    try:
        config = load_config(fed.config, env={"MAILER_SECRET_KEY": SECRET}, db=fed.db)
        rounds = worker.serve(config, store, interval=3600, stop=stop, sleep=sleep,
                              now=fake_clock)
    finally:
        store.close()
    assert rounds == 25  # 24 hours after the choice at 09:00 is 09:00; the round at 09:10
    [digest] = fed.outbox_to(READER)
    assert str(digest["Date"]) == "Wed, 02 Dec 2026 09:10:00 +0000"


def _next_digest_holds_the_second_post_alone(fed: Federation, fake_clock: FakeClock) -> None:
    """A second post, a day, a round: the reader's digest holds it and not the first."""
    _post(fed, "Strike fund", 2)
    fake_clock.advance(days=1)
    fed.ok("campaigns", "run")
    [digest] = fed.outbox_to(READER)
    text = next(digest.iter_parts()).get_content()
    assert "Strike fund" in text and "Resolution of the assembly" not in text


def test_who_leaves_and_joins_again_gets_no_post_of_the_time_away(
    fed: Federation, fake_clock: FakeClock,
) -> None:
    _post(fed, "Resolution of the assembly", 1)
    fed.ok("subscribers", "unsubscribe", READER, "--list", "members")
    fake_clock.advance(days=1)
    fed.ok("campaigns", "run")
    assert fed.outbox_to(READER) == []
    rejoin = open_store(fed.db)  # as the subscribe form's confirmation link does
    try:
        with rejoin.transaction() as conn:
            conn.execute("UPDATE subscribers SET status = 'active' WHERE email = ?", (READER,))
            conn.execute("UPDATE subscriptions SET status = 'confirmed' WHERE subscriber_id = "
                         "(SELECT id FROM subscribers WHERE email = ?)", (READER,))
    finally:
        rejoin.close()
    _next_digest_holds_the_second_post_alone(fed, fake_clock)


def test_a_member_suppressed_meanwhile_loses_what_was_queued_as_each_post_would(
    fed: Federation, fake_clock: FakeClock,
) -> None:
    """A post's own campaign leaves out whom it cannot mail, for good: so does the digest.
    The block lifted, the member's next digest holds only the posts since."""
    _post(fed, "Resolution of the assembly", 1)
    domain = READER.partition("@")[2]
    fed.ok("subscribers", "block", "--domain", domain)
    fake_clock.advance(days=1)
    fed.ok("campaigns", "run")
    assert fed.outbox_to(READER) == []
    fed.ok("subscribers", "unblock", "--domain", domain)
    _next_digest_holds_the_second_post_alone(fed, fake_clock)
