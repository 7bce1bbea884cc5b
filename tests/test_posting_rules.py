"""The rules of posting one at a time: what the receiving server's Authentication-Results
prove, the verdict of each policy, the subject prefix, and schema 8's migration."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import sqlite_utils
from click.testing import CliRunner

from mailer.cli import cli
from mailer.posting.authresults import Proof, parse, proof, trusted
from mailer.posting.policy import Standing, judge
from mailer.posting.rewrite import _prefixed
from mailer.store import open_store
from mailer.store.models import (
    OnRefused,
    Posting,
    PostingPolicy,
    PostStatus,
    Verify,
)
from mailer.store.schema import MIGRATIONS
from tests.inbound_samples import SECRET
from tests.posting_samples import (
    LIST_ADDRESS,
    MEMBERS,
    Federation,
    federation,
    post,
    trusted_results,
)
from tests.web_helpers import free_port, mailer_env, start_server

SERVER = "mx.lists.example.org"


def test_a_header_is_read_with_its_comments_and_quoted_values() -> None:
    server, results = parse(
        f'{SERVER} 1; dkim=pass (2048-bit key; unprotected) header.d=Union.Example '
        'header.s="s1"; dmarc=pass (p=REJECT sp=NONE) header.from=union.example'
    )
    assert server == SERVER
    assert [(r.method, r.result) for r in results] == [("dkim", "pass"), ("dmarc", "pass")]
    assert results[0].properties == {"header.d": "union.example", "header.s": "s1"}


def test_only_our_servers_headers_above_the_first_received_count() -> None:
    ours = f"{SERVER}; dmarc=pass header.from=union.example"
    headers = [
        ("Authentication-Results", ours),
        ("Authentication-Results", "mx.other.example; dkim=pass header.d=union.example"),
        ("Received", "from mail.union.example by mx.lists.example.org"),
        ("Authentication-Results", f"{SERVER}; dkim=pass header.d=union.example"),
    ]
    assert [r.method for r in trusted(headers, SERVER)] == ["dmarc"]
    assert trusted(headers, "") == []


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ("dmarc=pass header.from=union.example", "dmarc"),
        ("dmarc=pass header.from=other.example", ""),
        ("dkim=pass header.d=mail.union.example", "dkim"),  # relaxed alignment
        ("dkim=pass header.i=@union.example", "dkim"),
        ("dkim=pass header.d=union.example.evil.example", ""),
        ("dkim=fail header.d=union.example; dmarc=fail header.from=union.example", ""),
        ("spf=pass smtp.mailfrom=union.example", ""),  # SPF alone proves no From
    ],
)
def test_what_proves_the_from_domain(results: str, expected: str) -> None:
    _, found = parse(f"{SERVER}; {results}")
    assert proof(found, "union.example").how == expected


@pytest.mark.parametrize(
    ("posting", "standing", "proved", "status"),
    [
        (Posting.CLOSED, Standing.POSTER, "dmarc", PostStatus.HELD),
        (Posting.ANNOUNCE, Standing.POSTER, "dmarc", PostStatus.APPROVED),
        (Posting.ANNOUNCE, Standing.MEMBER, "dmarc", PostStatus.HELD),
        (Posting.ANNOUNCE, Standing.POSTER, "", PostStatus.HELD),
        (Posting.MEMBERS, Standing.MEMBER, "dkim", PostStatus.APPROVED),
        (Posting.MEMBERS, Standing.STRANGER, "dkim", PostStatus.HELD),
        (Posting.OPEN, Standing.STRANGER, "dkim", PostStatus.APPROVED),
        (Posting.OPEN, Standing.STRANGER, "", PostStatus.HELD),
    ],
)
def test_the_verdict_of_each_policy(
    posting: Posting, standing: Standing, proved: str, status: PostStatus
) -> None:
    verdict = judge(PostingPolicy(posting=posting), standing, Proof(proved, proved))
    assert verdict.status is status
    assert verdict.proof == (proved if status is PostStatus.APPROVED else "")


def test_refused_posts_are_rejected_and_unproved_ones_confirmed_when_the_list_says_so() -> None:
    rejecting = PostingPolicy(posting=Posting.ANNOUNCE, on_refused=OnRefused.REJECT)
    assert judge(rejecting, Standing.STRANGER, Proof("dmarc")).status is PostStatus.REJECTED
    assert judge(rejecting, Standing.POSTER, Proof("")).status is PostStatus.HELD
    both = PostingPolicy(posting=Posting.ANNOUNCE, verify=Verify.BOTH)
    assert judge(both, Standing.POSTER, Proof("")).status is PostStatus.UNCONFIRMED
    assert judge(both, Standing.POSTER, Proof("dkim")).status is PostStatus.APPROVED
    confirm = PostingPolicy(posting=Posting.ANNOUNCE, verify=Verify.CONFIRM)
    assert judge(confirm, Standing.POSTER, Proof("dkim")).status is PostStatus.UNCONFIRMED


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Resolution", "[members] Resolution"),
        ("Re: [members] Resolution", "Re: [members] Resolution"),
        ("Re: [MEMBERS]  Resolution", "Re: [MEMBERS] Resolution"),
    ],
)
def test_the_subject_prefix_is_put_once(subject: str, expected: str) -> None:
    assert _prefixed(subject, "[members]") == expected


def test_schema_8_keeps_the_ids_campaigns_and_posts_handed_out(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys = OFF")
    for step in MIGRATIONS[:7]:  # the database as mailer made it before posting
        if isinstance(step, str):
            conn.executescript(step)
        else:
            step(sqlite_utils.Database(conn))
    conn.execute("PRAGMA user_version = 7")
    conn.execute("INSERT INTO campaigns (list_name, subject, letter_source, letter_hash, "
                 "created_at) VALUES ('x', 's', 'l', 'h', '2026-01-01T00:00:00Z')")
    conn.execute("DELETE FROM campaigns")  # id 1 was handed out, and must stay so
    conn.commit()
    conn.close()
    with open_store(path) as store:
        assert store.schema_version() == len(MIGRATIONS)
        row = store.one("SELECT seq FROM sqlite_sequence WHERE name = 'campaigns'")
        assert row is not None and row[0] == 1
        columns = {r[1] for r in store.all("PRAGMA table_info(lists)")}
        assert {"posting", "on_refused", "verify", "dmarc", "reply_to"} <= columns


def _asked_to_confirm(fed: Federation) -> tuple[EmailMessage, str]:
    """The one message asking Rosa to confirm her post, and the path of its link."""
    [request] = fed.outbox_to("rosa@union.example")
    body = request.get_body(("plain",))
    assert body is not None
    found = re.search(r"/post/confirm/\S+", body.get_content())
    assert found is not None
    return request, found.group(0)


@contextlib.contextmanager
def _serving(tmp_path: Path, fed: Federation) -> Iterator[str]:
    """``mailer serve`` of the federation's database; its base URL."""
    port = free_port()
    env = mailer_env(tmp_path, port, MAILER_SECRET_KEY=SECRET, MAILER_CONFIG=str(fed.config))
    server = start_server(tmp_path, fed.db, env=env, port=port)
    try:
        yield server.base
    finally:
        server.stop()


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def test_a_poster_confirms_their_post_through_the_mailed_link(tmp_path: Path) -> None:
    fed = federation(tmp_path, "", "--posting", "announce", "--verify", "confirm",
                     "--dmarc", "none")
    assert fed.pipe(post(results=None), LIST_ADDRESS).returncode == 0
    _, link = _asked_to_confirm(fed)
    with _serving(tmp_path, fed) as base:
        url = base + link
        page = httpx.get(url)
        assert page.status_code == 200 and "Yes, I sent it" in page.text
        assert "unconfirmed" in fed.ok("held", "ls")  # the GET changed nothing
        refused = httpx.post(url, data={"csrf": "forged"})
        assert refused.status_code == 400
        done = httpx.post(url, data={"csrf": _csrf(page)})
        assert done.status_code == 200 and "on its way to the list" in done.text
    fed.ok("campaigns", "run")
    for member in MEMBERS:
        assert len(fed.outbox_to(member)) == 1


def test_a_poster_is_asked_and_answered_in_the_lists_language(tmp_path: Path) -> None:
    """Rosa is on no list: the request to confirm, its page, the thanks and the answer to a
    second try speak the list's default language (Spanish), and say so."""
    fed = federation(tmp_path, "", "--posting", "announce", "--verify", "confirm",
                     "--dmarc", "none", "--language", "es")
    assert fed.pipe(post(results=None), LIST_ADDRESS).returncode == 0
    request, link = _asked_to_confirm(fed)
    assert request["Content-Language"] == "es"
    assert request["Subject"] == "Confirme su mensaje a members: Resolution of the assembly"
    body = request.get_body(("plain",))
    assert body is not None and "confirme que lo envió usted" in body.get_content()
    with _serving(tmp_path, fed) as base:
        url = base + link
        page = httpx.get(url, headers={"Accept-Language": "de"})  # the poster's, not the browser's
        assert page.status_code == 200 and '<html lang="es"' in page.text
        assert "Sí, lo envié yo" in page.text and "Yes, I sent it" not in page.text
        assert "a la espera de que el remitente lo confirme" in page.text
        done = httpx.post(url, data={"csrf": _csrf(page)})
        assert done.status_code == 200 and "su mensaje va camino de la lista" in done.text
        assert "approved" not in done.text  # mailer's own reason, in English, is not shown
        again = httpx.post(url, data={"csrf": _csrf(page)})
        assert again.status_code == 409 and "No se hizo nada" in again.text
        assert "enviado a la lista" in again.text


def test_a_rejected_member_is_answered_in_their_own_language(tmp_path: Path) -> None:
    """A member who reads German is answered in German, with the list's reason in German,
    though the list's default is Spanish."""
    fed = federation(tmp_path, "", "--posting", "announce", "--on-refused", "reject",
                     "--language", "es")
    fed.ok("subscribers", "add", "dora@union.example", "--list", "members", "--language", "de")
    results = trusted_results()
    assert fed.pipe(post(sender="dora@union.example", results=results), LIST_ADDRESS
                    ).returncode == 0
    [answer] = fed.outbox_to("dora@union.example")
    assert answer["Content-Language"] == "de"
    assert answer["Subject"] == "Ihre Nachricht an members wurde nicht verteilt"
    body = answer.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Ihre Nachricht „Resolution of the assembly“ an die Liste members" in text
    assert "Der angegebene Grund: nicht unter den Absendern der Liste" in text


def test_forgetting_a_person_takes_their_roles_on_lists(tmp_path: Path) -> None:
    fed = federation(tmp_path, "", "--posting", "announce")
    fed.ok("lists", "posters", "add", "members", "ana@dockers.example")
    assert "ana@dockers.example" in fed.ok("lists", "posters", "ls", "members")
    fed.ok("subscribers", "forget", "ana@dockers.example", "--yes")
    assert "ana@dockers.example" not in fed.ok("lists", "posters", "ls", "members")
    assert "rosa@union.example" in fed.ok("lists", "posters", "ls", "members")


@pytest.mark.parametrize(
    ("setting", "says"),
    [('resolver = "dns.example.org"', "inbound.resolver"),
     ('authserv_id = "mx example"', "inbound.authserv_id")],
)
def test_a_broken_inbound_setting_is_named(tmp_path: Path, setting: str, says: str) -> None:
    config = tmp_path / "mailer.toml"
    config.write_text(f"[inbound]\n{setting}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "m.db"), "--config", str(config),
                                      "lists", "ls"])
    assert result.exit_code != 0 and says in result.output
    assert "Traceback" not in result.output
