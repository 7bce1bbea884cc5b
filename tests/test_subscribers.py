"""Subscribers: add, ls, show, unsubscribe, block, forget."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
