"""A campaign with mixed outcomes, made the way they happen, for the report tests.

Fourteen members on two lists get a letter (in German for the three who
read it) through a real SMTP sink that refuses one address (550) and defers
two (451); five minutes later one of those two gets through. An hour on,
bounces come back through the bounce code: a hard bounce to a VERP address,
a soft one, a complaint quoting the letter's Message-ID, and a report with
no token that proves nothing. Then two people leave: one by the letter's
one-click link (the event names the campaign), one by a page that names
none (put down to the campaign by time), and one is removed by an admin
(no letter's doing).

``two_weeks_later`` goes on: a quiet list is made, and two weeks on three
people join ``friends``, campaign 2 goes to the five friends, one leaves by
its link, another by a page that names no letter (campaign 2 was their
last, the day before), and a member whose last letter was campaign 1, two
weeks before, leaves the same way (no campaign's doing: too long after).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes
from email.utils import parseaddr
from pathlib import Path

from click.testing import Result

from mailer import membership
from mailer.contacts.addresses import normalize_address
from mailer.store import Store
from mailer.store.lists import create_list
from mailer.store.models import Consent
from mailer.store.subscribers import find_subscriber
from tests import bounce_samples as samples
from tests.clocks import FakeClock
from tests.smtp_sink import Faults, SmtpSink, sink_environment

#: ``mailer --db <db> ARGS`` (conftest's ``invoke`` fixture).
Invoke = Callable[..., Result]
RETURN_PATH = "bounces@lists.example.org"
CONFIG = (
    '[sender]\nfrom = "Union News <news@lists.example.org>"\n'
    f'[bounces]\nreturn_path = "{RETURN_PATH}"\n'
    '[replies]\naddress = "replies@lists.example.org"\n'
)
LETTER = """---
subject: "Spring meeting: $5 dues & <agenda>"
---

Dear {{ subscriber.name or "member" }},

the spring meeting is on Saturday.
"""
GERMAN = """---
subject: "Frühjahrstreffen"
---

Liebe Mitglieder,

das Frühjahrstreffen ist am Samstag.
"""
ORG = [f"o{n}@example.org" for n in range(6)]
NET = [f"n{n}@example.net" for n in range(4)]
COM = [f"c{n}@example.com" for n in range(2)]
EDU = [f"e{n}@example.edu" for n in range(2)]
GERMAN_READERS = {ORG[0], ORG[1], COM[0]}
REFUSED, STILL_DEFERRED, LATE = NET[1], NET[3], NET[2]
HARD, SOFT, COMPLAINED, UNVERIFIED = ORG[4], ORG[3], ORG[5], ORG[0]
LEFT_BY_LINK, LEFT_BY_PAGE, REMOVED = ORG[1], ORG[2], COM[1]
AUTUMN = '---\nsubject: "Autumn $ale"\n---\n\nDear {{ subscriber.name }},\n\nthe autumn fair.\n'


@dataclass
class World:
    """The campaign's database, its sink, and where the test's files are."""

    store: Store
    sink: SmtpSink
    folder: Path


def _join(store: Store, list_name: str, emails: list[str], *, public: bool = False) -> None:
    mailing_list = create_list(store, list_name, public=public)
    for email in emails:
        membership.add(
            store, mailing_list, normalize_address(email), name=email.split("@")[0],
            consent=Consent(method="test"), confirmed=True,
            language="de" if email in GERMAN_READERS else "",
        )


def _ok(result: Result) -> None:
    assert result.exit_code == 0, result.output


def _ingest(invoke: Invoke, folder: Path, name: str, message: bytes) -> None:
    path = folder / f"{name}.eml"
    path.write_bytes(message)
    _ok(invoke("bounces", "ingest", str(path)))


def _letter_to(sink: SmtpSink, email: str) -> tuple[str, bytes]:
    """The envelope sender (a VERP address) and the letter the sink took for ``email``."""
    found = next(r for r in sink.received if r.rcpt_to == email)
    return found.mail_from, found.data


def _bounces(world: World, invoke: Invoke) -> None:
    verp, letter = _letter_to(world.sink, HARD)
    _ingest(invoke, world.folder, "hard", samples.dsn(
        [(HARD, "failed", "5.1.1", "550 5.1.1 user unknown")], to=verp, attach=letter.decode(),
        message_id="<hard@mx.example.org>", extra_headers=f"Delivered-To: {verp}\n"))
    verp, letter = _letter_to(world.sink, SOFT)
    _ingest(invoke, world.folder, "soft", samples.dsn(
        [(SOFT, "failed", "5.2.2", "552 5.2.2 mailbox full")], to=verp, attach=letter.decode(),
        message_id="<soft@mx.example.org>", extra_headers=f"Delivered-To: {verp}\n"))
    _, letter = _letter_to(world.sink, COMPLAINED)
    message_id = str(message_from_bytes(letter)["Message-ID"])
    _ingest(invoke, world.folder, "complaint", samples.arf(COMPLAINED, message_id=message_id))
    _ingest(invoke, world.folder, "stranger", samples.dsn(
        [(UNVERIFIED, "failed", "5.1.1", "550 5.1.1 user unknown")], to=RETURN_PATH,
        message_id="<forged@mx.example.org>"))


def answered(world: World, invoke: Invoke) -> None:
    """Two members answer campaign 1 (one of them twice), each to the letter's own replies
    address, and a stranger writes to the plain one (a reply that proves nothing)."""
    for n, email in enumerate((COM[0], EDU[0], COM[0])):
        _, letter = _letter_to(world.sink, email)
        reply_to = parseaddr(str(message_from_bytes(letter)["Reply-To"]))[1]
        assert reply_to.startswith("replies+"), reply_to
        _receive(invoke, world.folder, reply_to, _answer(email, n))
    _receive(invoke, world.folder, "replies@lists.example.org", _answer("who@example.biz", 9))


def _answer(sender: str, n: int) -> bytes:
    return (f"From: {sender}\r\nTo: replies@lists.example.org\r\nSubject: Re: Spring meeting"
            f"\r\nMessage-ID: <answer-{n}@example>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000"
            "\r\n\r\nWe will be there.\r\n").encode()


def _receive(invoke: Invoke, folder: Path, to: str, message: bytes) -> None:
    path = folder / "answer.eml"
    path.write_bytes(message)
    _ok(invoke("inbound", "receive", str(path), "--to", to))


def _leave(world: World, email: str, method: str, campaign: int | None) -> None:
    """``email`` leaves every list, as the web page, the mailbox or an admin does it."""
    person = find_subscriber(world.store, email)
    assert person is not None
    membership.leave(world.store, person.id, None, method=method, campaign=campaign)


def mixed_campaign(
    store: Store, invoke: Invoke, folder: Path, clock: FakeClock, monkeypatch: object
) -> World:
    """Make campaign 1 as the module's docstring tells; the sink is running on return."""
    setenv = monkeypatch.setenv  # type: ignore[attr-defined]
    (folder / "mailer.toml").write_text(CONFIG, encoding="utf-8")
    setenv("MAILER_CONFIG", str(folder / "mailer.toml"))
    _join(store, "members", ORG + NET + COM, public=True)  # so the letter is archived
    _join(store, "friends", EDU)
    (folder / "spring.md").write_text(LETTER, encoding="utf-8")
    (folder / "spring.de.md").write_text(GERMAN, encoding="utf-8")
    sink = SmtpSink(Faults(reject={REFUSED}, defer={LATE, STILL_DEFERRED}))
    sink.start()
    for name, value in sink_environment(sink.port).items():
        setenv(name, value)
    world = World(store, sink, folder)
    try:
        _ok(invoke("send", str(folder / "spring.md"), "--list", "members", "--list", "friends",
                   "--yes"))
        clock.advance(minutes=5)
        sink.faults.defer.discard(LATE)
        _ok(invoke("campaigns", "resume", "1"))
        clock.advance(hours=1)
        _bounces(world, invoke)
    except BaseException:
        sink.stop()
        raise
    clock.advance(hours=1)
    _leave(world, LEFT_BY_LINK, "one-click", 1)
    _leave(world, LEFT_BY_PAGE, "web", None)
    _leave(world, REMOVED, "cli", None)
    return world


def two_weeks_later(world: World, invoke: Invoke, clock: FakeClock) -> None:
    """Go on from ``mixed_campaign`` as the module's docstring tells."""
    create_list(world.store, "quiet")
    clock.advance(weeks=2)
    for n in range(3):
        _ok(invoke("subscribers", "add", f"f{n}@example.edu", "--list", "friends"))
    (world.folder / "autumn.md").write_text(AUTUMN, encoding="utf-8")
    _ok(invoke("send", str(world.folder / "autumn.md"), "--list", "friends", "--yes"))
    clock.advance(days=1)
    _leave(world, EDU[0], "one-click", 2)
    _leave(world, EDU[1], "web", None)
    _leave(world, ORG[0], "web", None)


def table_cells(page: str, section: str) -> list[list[str]]:
    """The rows of the table in a report's ``section`` as the page shows them."""
    part = page.split(f'<section id="{section}">', 1)[1].split("</section>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", part.split("<tbody>", 1)[1], re.S)
    return [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row) for row in rows]


def written_report(invoke: Invoke, folder: Path, name: str, *args: str) -> str:
    """Run a report command that writes ``name`` into the current ``folder``, and read it."""
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert f"wrote {name}" in result.output
    return (folder / name).read_text(encoding="utf-8")
