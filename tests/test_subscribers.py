"""Subscribers: add, ls, show, unsubscribe, block, forget."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Invoke


def _show(invoke: Invoke, email: str) -> dict:  # type: ignore[type-arg]
    result = invoke("subscribers", "show", email, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def test_add_records_subscriber_with_consent_and_history(invoke: Invoke) -> None:
    invoke("lists", "create", "members")
    result = invoke(
        "subscribers",
        "add",
        "Ana@Example.ORG",
        "--list",
        "members",
        "--name",
        "Ana Quispe",
        "--attr",
        "city=Lima",
        "--attr",
        "country=PE",
    )
    assert result.exit_code == 0, result.output
    detail = _show(invoke, "ana@example.org")
    assert detail["email"] == "Ana@example.org"
    assert detail["name"] == "Ana Quispe"
    assert detail["attributes"] == {"city": "Lima", "country": "PE"}
    assert detail["status"] == "active"
    [sub] = detail["subscriptions"]
    assert sub["list"] == "members"
    assert sub["status"] == "confirmed"
    assert sub["consent"]["method"] == "cli"
    assert sub["consent"]["at"]
    assert [e["kind"] for e in detail["history"]] == ["created", "subscribed"]


def test_same_address_in_other_case_is_one_subscriber(invoke: Invoke) -> None:
    invoke("lists", "create", "members")
    invoke("subscribers", "add", "ana@example.org", "--list", "members")
    result = invoke("subscribers", "add", "ANA@example.org", "--list", "members")
    assert "already subscribed" in result.output
    rows = json.loads(invoke("subscribers", "ls", "--json").output)
    assert len(rows) == 1


def test_double_optin_list_starts_unconfirmed(invoke: Invoke) -> None:
    invoke("lists", "create", "board", "--double-optin")
    invoke("subscribers", "add", "ana@example.org", "--list", "board")
    [sub] = _show(invoke, "ana@example.org")["subscriptions"]
    assert sub["status"] == "unconfirmed"
    assert sub["consent"]["at"] is None


def test_invalid_address_is_named_and_nothing_is_written(invoke: Invoke) -> None:
    invoke("lists", "create", "members")
    result = invoke("subscribers", "add", "not-an-address", "--list", "members")
    assert result.exit_code == 1
    assert "not-an-address" in result.output
    assert "Traceback" not in result.output
    assert json.loads(invoke("subscribers", "ls", "--json").output) == []


def test_bad_attr_is_a_usage_error(invoke: Invoke) -> None:
    invoke("lists", "create", "members")
    result = invoke("subscribers", "add", "a@example.org", "--list", "members", "--attr", "x")
    assert result.exit_code == 2
    assert "KEY=VALUE" in result.output


def test_unknown_list_is_an_error(invoke: Invoke) -> None:
    result = invoke("subscribers", "add", "a@example.org", "--list", "nope")
    assert result.exit_code == 1
    assert "no list named 'nope'" in result.output


def test_ls_filters_by_list_and_status(invoke: Invoke) -> None:
    invoke("lists", "create", "members")
    invoke("lists", "create", "board")
    invoke("subscribers", "add", "a@example.org", "--list", "members")
    invoke("subscribers", "add", "b@example.org", "--list", "board")
    invoke("subscribers", "block", "b@example.org")
    members = json.loads(invoke("subscribers", "ls", "--list", "members", "--json").output)
    assert [r["email"] for r in members] == ["a@example.org"]
    blocked = json.loads(invoke("subscribers", "ls", "--status", "blocked", "--json").output)
    assert [r["email"] for r in blocked] == ["b@example.org"]
    assert invoke("subscribers", "ls", "--status", "weird").exit_code == 2


def test_unsubscribe_from_one_list_keeps_status_active(invoke: Invoke) -> None:
    invoke("lists", "create", "members")
    invoke("lists", "create", "board")
    invoke("subscribers", "add", "a@example.org", "--list", "members")
    invoke("subscribers", "add", "a@example.org", "--list", "board")
    assert invoke("subscribers", "unsubscribe", "a@example.org", "--list", "board").exit_code == 0
    detail = _show(invoke, "a@example.org")
    assert detail["status"] == "active"
    statuses = {s["list"]: s["status"] for s in detail["subscriptions"]}
    assert statuses == {"board": "unsubscribed", "members": "confirmed"}


def test_leaving_every_list_sets_status_unsubscribed(invoke: Invoke) -> None:
    invoke("lists", "create", "members")
    invoke("lists", "create", "board")
    invoke("subscribers", "add", "a@example.org", "--list", "members")
    invoke("subscribers", "add", "a@example.org", "--list", "board")
    assert invoke("subscribers", "unsubscribe", "a@example.org").exit_code == 0
    detail = _show(invoke, "a@example.org")
    assert detail["status"] == "unsubscribed"
    assert {s["status"] for s in detail["subscriptions"]} == {"unsubscribed"}
    again = invoke("subscribers", "unsubscribe", "a@example.org")
    assert "nothing changed" in again.output


def test_add_never_resubscribes_an_unsubscribed_address(invoke: Invoke) -> None:
    invoke("lists", "create", "members")
    invoke("lists", "create", "board")
    invoke("subscribers", "add", "a@example.org", "--list", "members")
    invoke("subscribers", "unsubscribe", "a@example.org")
    for name in ("members", "board"):
        result = invoke("subscribers", "add", "a@example.org", "--list", name)
        assert result.exit_code == 1
        assert "unsubscribed" in result.output
    assert _show(invoke, "a@example.org")["status"] == "unsubscribed"


def test_block_suppresses_even_unknown_addresses(invoke: Invoke) -> None:
    invoke("lists", "create", "members")
    assert invoke("subscribers", "block", "x@example.org").exit_code == 0
    result = invoke("subscribers", "add", "X@example.org", "--list", "members")
    assert result.exit_code == 1
    assert "suppressed" in result.output


def test_forget_erases_data_and_keeps_address_suppressed(invoke: Invoke, db_path: Path) -> None:
    invoke("lists", "create", "members")
    invoke("subscribers", "add", "ana@example.org", "--list", "members", "--name", "Ana")
    assert invoke("subscribers", "forget", "ana@example.org").exit_code == 2  # needs --yes
    assert invoke("subscribers", "forget", "ana@example.org", "--yes").exit_code == 0
    assert invoke("subscribers", "show", "ana@example.org").exit_code == 1
    dump = "\n".join(__import__("sqlite3").connect(db_path).iterdump())
    assert "ana@example.org" not in dump.lower()
    assert "Ana" not in dump
    result = invoke("subscribers", "add", "ana@example.org", "--list", "members")
    assert result.exit_code == 1
    assert "forgotten" in result.output


def test_two_add_processes_at_once_both_succeed(db_path: Path, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "mailer", "--db", str(db_path), "lists", "create", "members"],
        check=True,
    )
    procs = []
    for worker in range(2):
        script = (
            "import sys\n"
            "from mailer.cli import cli\n"
            f"for n in range(30):\n"
            f"    try:\n"
            f"        cli(['--db', {str(db_path)!r}, 'subscribers', 'add',\n"
            f"             f'w{worker}-{{n}}@example.org', '--list', 'members'],\n"
            f"            standalone_mode=False)\n"
            f"    except SystemExit as exc:\n"
            f"        if exc.code: raise\n"
        )
        procs.append(subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path))
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    import sqlite3

    count = sqlite3.connect(db_path).execute("SELECT count(*) FROM subscriptions").fetchone()[0]
    assert count == 60


def test_unsubscribing_someone_on_no_list_says_what_changed(invoke: Invoke) -> None:
    invoke("lists", "create", "news")
    invoke("subscribers", "add", "ana@example.org", "--list", "news")
    invoke("lists", "rm", "news", "--yes")
    result = invoke("subscribers", "unsubscribe", "ana@example.org")
    assert result.exit_code == 0
    assert "nothing changed" not in result.output
    assert _show(invoke, "ana@example.org")["status"] == "unsubscribed"
    again = invoke("subscribers", "unsubscribe", "ana@example.org")
    assert "nothing changed" in again.output


def test_show_prints_history_details_as_words_not_python(invoke: Invoke) -> None:
    assert invoke("lists", "create", "news").exit_code == 0
    assert invoke("subscribers", "add", "ann@example.org", "--list", "news").exit_code == 0
    shown = invoke("subscribers", "show", "ann@example.org").output
    assert "{" not in shown and "'" not in shown
    assert "subscribed [news] method=cli source=mailer subscribers add status=confirmed" in shown


def test_a_name_with_a_line_break_is_refused(invoke: Invoke) -> None:
    assert invoke("lists", "create", "news").exit_code == 0
    result = invoke("subscribers", "add", "ann@example.org", "--list", "news",
                    "--name", "Ann\nBcc: x@example.net")
    assert result.exit_code == 1 and "may not contain a line break" in result.output
    assert invoke("subscribers", "ls", "--json").output.strip() == "[]"


# Blocking a whole domain.

_LETTER = '---\nsubject: "Assembly"\n---\n\nDear {{ subscriber.name or "member" }},\n\nsee you.\n'


def _recipients(invoke: Invoke, letter: Path) -> int:
    """How many a send would mail now, by ``send --dry-run``."""
    result = invoke("send", str(letter), "--list", "members", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    return int(json.loads(result.stdout)["recipients"])


def _sendable(invoke: Invoke) -> int:
    shown = json.loads(invoke("lists", "show", "members", "--json").output)
    return int(shown["counts"]["sendable"])


def _members(invoke: Invoke, tmp_path: Path) -> Path:
    invoke("lists", "create", "members")
    for email in ("ann@example.net", "Bob@EXAMPLE.NET", "cy@example.org"):
        assert invoke("subscribers", "add", email, "--list", "members").exit_code == 0
    letter = tmp_path / "assembly.md"
    letter.write_text(_LETTER, encoding="utf-8")
    return letter


def test_blocking_a_domain_stops_sends_and_counts_at_once_and_deletes_nobody(
    invoke: Invoke, tmp_path: Path, db_path: Path
) -> None:
    letter = _members(invoke, tmp_path)
    assert (_recipients(invoke, letter), _sendable(invoke)) == (3, 3)
    result = invoke("subscribers", "block", "--domain", " EXAMPLE.net ")
    assert result.exit_code == 0, result.output
    assert result.output == (
        "example.net: domain blocked; 2 subscribers at it will not be mailed (none deleted)\n"
    )
    assert (_recipients(invoke, letter), _sendable(invoke)) == (1, 1)
    people = json.loads(invoke("subscribers", "ls", "--json").output)
    assert [(p["email"], p["status"]) for p in people] == [
        ("ann@example.net", "active"), ("Bob@example.net", "active"), ("cy@example.org", "active"),
    ]
    [entry] = _show(invoke, "bob@example.net")["suppressions"]
    assert (entry["kind"], entry["value"], entry["reason"]) == (
        "domain", "example.net", "blocked by an admin"
    )
    assert "suppressed by domain example.net: blocked by an admin" in invoke(
        "subscribers", "show", "ann@example.net"
    ).output
    assert _show(invoke, "cy@example.org")["suppressions"] == []
    listed = json.loads(invoke("subscribers", "blocked", "--json").output)
    assert [(e["kind"], e["value"]) for e in listed] == [("domain", "example.net")]
    conn = sqlite3.connect(db_path)
    [(detail,)] = conn.execute(
        "SELECT detail FROM events WHERE kind = 'domain blocked'"
    ).fetchall()
    conn.close()
    assert json.loads(detail) == {
        "domain": "example.net", "reason": "blocked by an admin", "subscribers": 2
    }
    added = invoke("subscribers", "add", "dee@example.net", "--list", "members")
    assert added.exit_code == 1 and "suppressed (blocked by an admin)" in added.output
    again = invoke("subscribers", "block", "--domain", "example.net")
    assert again.output.startswith("example.net: domain was already blocked;")


def test_unblocking_a_domain_gives_back_only_what_the_block_took(
    invoke: Invoke, tmp_path: Path
) -> None:
    letter = _members(invoke, tmp_path)
    invoke("subscribers", "block", "bob@example.net")
    invoke("subscribers", "block", "--domain", "example.net")
    assert _recipients(invoke, letter) == 1
    result = invoke("subscribers", "unblock", "--domain", "example.net")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("example.net: domain unblocked; 2 subscribers at it")
    assert _recipients(invoke, letter) == 2  # Bob was blocked by himself and stays so
    listed = json.loads(invoke("subscribers", "blocked", "--json").output)
    assert [(e["kind"], e["value"]) for e in listed] == [("email", "bob@example.net")]
    nothing = invoke("subscribers", "unblock", "--domain", "example.net")
    assert nothing.output == "example.net: was not blocked (nothing changed)\n"


def test_a_domain_is_blocked_in_every_spelling(invoke: Invoke) -> None:
    invoke("lists", "create", "members")
    result = invoke("subscribers", "block", "--domain", "@XN--MNCHEN-3YA.example.")
    assert result.output.startswith("münchen.example: domain blocked")
    for email in ("ann@münchen.example", "bob@MÜNCHEN.EXAMPLE", "cy@xn--mnchen-3ya.example"):
        added = invoke("subscribers", "add", email, "--list", "members")
        assert added.exit_code == 1 and "suppressed" in added.output, email


@pytest.mark.parametrize(
    ("argument", "suggested"),
    [
        ("*@example.net", "--domain example.net"),
        ("ann?@example.net", "--domain example.net"),
        ("*@*.example.net", "--domain example.net"),
        ("@example.net", "--domain example.net"),
        ("example.net", "--domain example.net"),
    ],
)
def test_a_pattern_is_not_blocked_as_an_address(
    invoke: Invoke, db_path: Path, argument: str, suggested: str
) -> None:
    result = invoke("subscribers", "block", argument)
    assert result.exit_code == 2
    assert "to block a whole domain, use " + suggested in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert json.loads(invoke("subscribers", "blocked", "--json").output) == []


@pytest.mark.parametrize("domain", ["exa mple.net", "example..net", "nodot", "a@b.net", ""])
def test_a_malformed_domain_is_refused(invoke: Invoke, domain: str) -> None:
    result = invoke("subscribers", "block", "--domain", domain)
    assert result.exit_code == 1
    assert "is not a domain name" in result.output and "Traceback" not in result.output
    assert json.loads(invoke("subscribers", "blocked", "--json").output) == []


@pytest.mark.parametrize("args", [[], ["ann@example.net", "--domain", "example.net"]])
def test_block_wants_one_address_or_one_domain(invoke: Invoke, args: list[str]) -> None:
    result = invoke("subscribers", "block", *args)
    assert result.exit_code == 2 and "give one address, or --domain DOMAIN" in result.output
