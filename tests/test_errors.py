"""Every foreseeable error is one line with the right exit status, and changes nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import Invoke


def content(db_path: Path) -> str:
    conn = sqlite3.connect(db_path)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["subscribers", "import", "missing.csv", "--list", "news"],
            1,
            "missing.csv: no such file",
        ),
        (["subscribers", "import", "c.csv", "--list", "nope"], 1, "no list named 'nope'"),
        (["subscribers", "import", "{tmp}", "--list", "news"], 2, "is a directory"),
        (["subscribers", "import", "c.csv", "--list", "news", "--report", "{tmp}"], 2, "directory"),
        (["subscribers", "import", "c.csv", "--list", "news", "--report", "c.csv"], 2,
         "over the input"),
        (["subscribers", "import", "c.csv", "--list", "news", "--report", "no/r.csv"], 1, "r.csv"),
        (["subscribers", "import", "latin1.csv", "--list", "news"], 1, "latin1.csv:2: not UTF-8"),
        (["subscribers", "add", "not-an-address", "--list", "news"], 1, "'not-an-address'"),
        (["subscribers", "add", "a@example.org", "--list", "news", "--attr", "x"], 2, "KEY=VALUE"),
        (["subscribers", "add"], 2, "Missing argument 'EMAIL'"),
        (["subscribers", "export", "-o", "{tmp}"], 2, "is a directory"),
        (["subscribers", "export", "-o", "no/x.csv"], 1, "no/x.csv: cannot write"),
        (["lists", "rm", "news"], 2, "pass --yes"),
        (["lists", "show", "nope"], 1, "no list named 'nope'"),
        (["--db", "{tmp}", "lists", "ls"], 2, "is a directory"),
        (["--db", "no/m.db", "lists", "ls"], 1, "no database here"),
        (["--db", "no/m.db", "init"], 1, "does not exist"),
        (
            ["--config", "missing.toml", "lists", "ls"],
            1,
            "missing.toml: configuration file not found",
        ),
        (["nosuch"], 2, "No such command 'nosuch'"),
    ],
)
def test_error_is_one_line_and_changes_nothing(
    invoke: Invoke, db_path: Path, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    invoke("lists", "create", "news")
    (tmp_path / "c.csv").write_text("email\na@example.org\n", encoding="utf-8")
    (tmp_path / "latin1.csv").write_bytes("email,name\nb@example.org,José\n".encode("latin-1"))
    before = content(db_path)
    result = invoke(*(arg.replace("{tmp}", str(tmp_path)) for arg in args))
    assert result.exit_code == code, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output
    assert content(db_path) == before
    assert (tmp_path / "c.csv").read_text(encoding="utf-8") == "email\na@example.org\n"
