"""Lists: create, ls, show, rm."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Invoke


def test_create_then_show_as_json(invoke: Invoke) -> None:
    result = invoke("lists", "create", "members", "--title", "Members", "--double-optin")
    assert result.exit_code == 0, result.output
    shown = json.loads(invoke("lists", "show", "members", "--json").output)
    assert shown["name"] == "members"
    assert shown["title"] == "Members"
    assert shown["double_optin"] is True
    assert shown["counts"] == {"unconfirmed": 0, "confirmed": 0, "unsubscribed": 0, "sendable": 0}


def test_duplicate_list_is_an_error(invoke: Invoke) -> None:
    invoke("lists", "create", "members")
    result = invoke("lists", "create", "members")
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("name", ["Bad Name!", "a..b", "news.", ".news", "news\n", "x" * 65, ""])
def test_bad_list_name_is_rejected(invoke: Invoke, name: str) -> None:
    result = invoke("lists", "create", name)
    assert result.exit_code == 1
    assert "list name" in result.output
    assert json.loads(invoke("lists", "ls", "--json").output) == []


def test_dotted_list_name_is_accepted(invoke: Invoke) -> None:
    assert invoke("lists", "create", "news.port-workers_2026").exit_code == 0


def test_title_with_a_line_break_is_rejected(invoke: Invoke) -> None:
    result = invoke("lists", "create", "members", "--title", "Members\r\nBcc: x@example.org")
    assert result.exit_code == 1
    assert "line break" in result.output
    assert json.loads(invoke("lists", "ls", "--json").output) == []


def test_ls_counts_subscribers_by_status(invoke: Invoke) -> None:
    invoke("lists", "create", "members")
    invoke("lists", "create", "board", "--double-optin")
    invoke("subscribers", "add", "ana@example.org", "--list", "members")
    invoke("subscribers", "add", "luis@example.org", "--list", "members")
    invoke("subscribers", "add", "ana@example.org", "--list", "board")
    invoke("subscribers", "unsubscribe", "luis@example.org", "--list", "members")
    rows = {r["name"]: r["counts"] for r in json.loads(invoke("lists", "ls", "--json").output)}
    assert rows["members"] == {
        "unconfirmed": 0,
        "confirmed": 1,
        "unsubscribed": 1,
        "sendable": 1,
    }
    assert rows["board"]["unconfirmed"] == 1
    table = invoke("lists", "ls").output
    assert "members" in table and "board" in table


def test_show_unknown_list_names_it(invoke: Invoke) -> None:
    result = invoke("lists", "show", "nope")
    assert result.exit_code == 1
    assert "no list named 'nope'" in result.output


def test_rm_refuses_off_a_terminal_without_yes(invoke: Invoke) -> None:
    invoke("lists", "create", "members")
    result = invoke("lists", "rm", "members")
    assert result.exit_code == 2
    assert "--yes" in result.output
    assert invoke("lists", "show", "members").exit_code == 0


def test_rm_with_yes_removes_list_but_keeps_subscribers(invoke: Invoke) -> None:
    invoke("lists", "create", "members")
    invoke("subscribers", "add", "ana@example.org", "--list", "members")
    assert invoke("lists", "rm", "members", "--yes").exit_code == 0
    assert invoke("lists", "show", "members").exit_code == 1
    assert invoke("subscribers", "show", "ana@example.org").exit_code == 0


def test_a_list_made_again_under_an_old_name_keeps_its_opt_outs(
    invoke: Invoke, tmp_path: Path
) -> None:
    invoke("lists", "create", "members")
    invoke("lists", "create", "board")
    for email in ("ana@example.org", "luis@example.org"):
        invoke("subscribers", "add", email, "--list", "members")
    invoke("subscribers", "add", "luis@example.org", "--list", "board")
    invoke("subscribers", "unsubscribe", "luis@example.org", "--list", "members")
    assert invoke("lists", "rm", "members", "--yes").exit_code == 0
    person = invoke("subscribers", "export", "--email", "luis@example.org", "--format", "jsonl")
    assert [o["list_name"] for o in json.loads(person.output)["removed_list_optouts"]] == [
        "members"
    ]
    assert invoke("lists", "create", "members").exit_code == 0
    contacts = tmp_path / "old.csv"
    contacts.write_text("email\nana@example.org\nluis@example.org\n")
    result = invoke("subscribers", "import", str(contacts), "--list", "members", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["added"], report["suppressed"]) == (1, 1)
    again = invoke("subscribers", "add", "luis@example.org", "--list", "members")
    assert again.exit_code == 1
    counts = json.loads(invoke("lists", "show", "members", "--json").output)["counts"]
    assert (counts["confirmed"], counts["unsubscribed"]) == (1, 1)
