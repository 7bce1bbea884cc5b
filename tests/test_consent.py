"""Consent and erasure: every spelling of an address is one person, and forget erases it.

An address may reach mailer as typed by an admin, from a CSV, or from a bounce
or complaint report, where internationalised domains usually arrive in their
ASCII (Punycode) form. Whatever the spelling, an opt-out must hold and an
erasure must leave nothing but the hash.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from mailer import clock
from mailer.contacts.addresses import address_hash, address_key
from mailer.contacts.importer import import_csv
from mailer.store import Store
from mailer.store.lists import create_list
from mailer.store.subscribers import find_subscriber
from mailer.store.suppressions import suppress
from tests.conftest import Invoke

UNICODE = "ann@bücher.example"
PUNYCODE = "ann@xn--bcher-kva.example"


def everything(db_path: Path) -> str:
    """The whole database as SQL text, lower-cased: where any stored value can be searched."""
    conn = sqlite3.connect(db_path)
    try:
        return "\n".join(conn.iterdump()).lower()
    finally:
        conn.close()


def add_bounce(store: Store, recipient: str, *, message_id: str, subscriber_id: int | None) -> None:
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO bounces (received_at, message_id, recipient, subscriber_id, kind, "
            "status, diagnostic) VALUES (?, ?, ?, ?, 'hard', '5.1.1', ?)",
            (clock.now_iso(), message_id, recipient, subscriber_id, f"550 {recipient} unknown"),
        )


def test_every_spelling_of_an_address_has_one_key() -> None:
    spellings = [UNICODE, PUNYCODE, "ANN@BÜCHER.EXAMPLE", "Ann@XN--BCHER-KVA.example"]
    assert {address_key(s) for s in spellings} == {UNICODE}
    assert address_key("A\u030a@example.org") == address_key("\u00c5@Example.org")


def test_punycode_spelling_finds_the_subscriber(invoke: Invoke) -> None:
    invoke("lists", "create", "news")
    assert invoke("subscribers", "add", UNICODE, "--list", "news").exit_code == 0
    assert invoke("subscribers", "show", PUNYCODE).exit_code == 0
    result = invoke("subscribers", "unsubscribe", PUNYCODE.upper())
    assert result.exit_code == 0, result.output
    result = invoke("subscribers", "add", UNICODE, "--list", "news")
    assert result.exit_code == 1
    assert "suppressed" in result.output


def test_block_in_punycode_keeps_the_unicode_spelling_out(invoke: Invoke, tmp_path: Path) -> None:
    invoke("lists", "create", "news")
    assert invoke("subscribers", "block", PUNYCODE).exit_code == 0
    assert invoke("subscribers", "add", "Ann@BÜCHER.example", "--list", "news").exit_code == 1
    (tmp_path / "c.csv").write_text(f"email\n{UNICODE}\n", encoding="utf-8")
    result = invoke("subscribers", "import", str(tmp_path / "c.csv"), "--list", "news", "--json")
    assert json.loads(result.output)["suppressed"] == 1


def test_suppressions_written_in_any_spelling_hold_on_import(store: Store, tmp_path: Path) -> None:
    news = create_list(store, "news")
    with store.transaction() as conn:
        # As a complaint report or an older tool may give them: ASCII form, any case.
        suppress(conn, "email", "Carl@XN--BCHER-KVA.example", "complaint")
        suppress(conn, "domain", "XN--MNCHEN-3YA.example", "no mail there")
    path = tmp_path / "c.csv"
    path.write_text(
        "email\ncarl@bücher.example\nbea@MÜNCHEN.example\ncy@xn--mnchen-3ya.example\n"
        "dora@bücher.example\n",
        encoding="utf-8",
    )
    report = import_csv(store, path, news)
    assert (report.rows, report.suppressed, report.added) == (4, 3, 1)
    assert find_subscriber(store, "carl@bücher.example") is None


def test_forget_erases_the_address_from_every_table(
    invoke: Invoke, store: Store, db_path: Path
) -> None:
    invoke("lists", "create", "news")
    invoke("subscribers", "add", UNICODE, "--list", "news", "--name", "Ann Bücher")
    invoke("subscribers", "add", "bob@example.org", "--list", "news")
    ann = find_subscriber(store, UNICODE)
    bob = find_subscriber(store, "bob@example.org")
    assert ann is not None and bob is not None
    # One bounce message naming both; a later one naming Ann's ASCII spelling, unmatched.
    add_bounce(store, PUNYCODE, message_id="<b1@mx>", subscriber_id=ann.id)
    add_bounce(store, "bob@example.org", message_id="<b1@mx>", subscriber_id=bob.id)
    add_bounce(store, PUNYCODE.upper(), message_id="<b2@mx>", subscriber_id=None)
    for email in (PUNYCODE, "bob@example.org"):
        result = invoke("subscribers", "forget", email, "--yes")
        assert result.exit_code == 0, result.output
    dump = everything(db_path)
    for trace in ("bücher", "xn--bcher-kva", "bob@example.org"):
        assert trace not in dump
    assert dump.count(address_hash(UNICODE)) == 1
    assert store.one("SELECT count(*) FROM bounces")[0] == 3  # type: ignore[index]
    assert invoke("subscribers", "add", UNICODE, "--list", "news").exit_code == 1


def test_forget_a_blocked_stranger_keeps_only_the_hash(invoke: Invoke, db_path: Path) -> None:
    invoke("lists", "create", "news")
    invoke("subscribers", "block", "Stranger@example.org")
    result = invoke("subscribers", "forget", "stranger@example.org", "--yes")
    assert result.exit_code == 0, result.output
    assert "stranger@example.org" not in everything(db_path)
    result = invoke("subscribers", "add", "stranger@example.org", "--list", "news")
    assert result.exit_code == 1
    assert "forgotten" in result.output


def test_forget_an_address_nothing_is_known_about(invoke: Invoke, db_path: Path) -> None:
    before = everything(db_path)
    result = invoke("subscribers", "forget", "nobody@example.org", "--yes")
    assert result.exit_code == 1
    assert "nothing is stored about 'nobody@example.org'" in result.output
    assert everything(db_path) == before


def test_person_export_shows_bounces_naming_a_stranger(invoke: Invoke, store: Store) -> None:
    add_bounce(store, PUNYCODE, message_id="<b3@mx>", subscriber_id=None)
    result = invoke("subscribers", "export", "--email", UNICODE)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["subscriber"] is None
    assert [b["recipient"] for b in data["bounces"]] == [PUNYCODE]


def test_refused_add_with_update_changes_nothing(invoke: Invoke, db_path: Path) -> None:
    invoke("lists", "create", "news")
    invoke("lists", "create", "board")
    invoke("subscribers", "add", "ann@example.org", "--list", "news", "--name", "Ann")
    invoke("subscribers", "add", "ann@example.org", "--list", "board")
    invoke("subscribers", "unsubscribe", "ann@example.org", "--list", "news")
    before = everything(db_path)
    result = invoke(
        "subscribers", "add", "ann@example.org", "--list", "news", "--name", "New", "--update"
    )
    assert result.exit_code == 1
    assert everything(db_path) == before


def test_add_with_update_twice_changes_nothing_the_second_time(
    invoke: Invoke, db_path: Path
) -> None:
    invoke("lists", "create", "news")
    invoke("subscribers", "add", "ann@example.org", "--list", "news", "--name", "Ann")
    args = ("subscribers", "add", "ann@example.org", "--list", "news", "--attr", "city=Lima")
    assert "updated" in invoke(*args, "--update").output
    before = everything(db_path)
    result = invoke(*args, "--update")
    assert result.exit_code == 0
    assert "already subscribed" in result.output
    assert everything(db_path) == before
