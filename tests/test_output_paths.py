"""No output option can write over the database, its side files, the configuration or the input."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mailer.store import open_store
from tests.conftest import Invoke

LETTER = '---\nsubject: "Hello"\n---\n\nDear {{ subscriber.name or "member" }},\n\nhello.\n'


@pytest.fixture
def files(tmp_path: Path, db_path: Path, invoke: Invoke) -> dict[str, Path]:
    (tmp_path / "mailer.toml").write_text("[sender]\norganization = \"Union\"\n")
    people = tmp_path / "people.csv"
    people.write_text("email,name\nann@example.org,Ann\nbad-address,Bad\n", encoding="utf-8")
    letter = tmp_path / "letter.md"
    letter.write_text(LETTER, encoding="utf-8")
    assert invoke("lists", "create", "news").exit_code == 0
    assert invoke("subscribers", "import", str(people), "--list", "news").exit_code == 0
    return {"csv": people, "letter": letter, "config": tmp_path / "mailer.toml"}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


CASES = [
    (command, target)
    for command in ("import --report", "export -o", "render -o", "report -o")
    for target in ("db", "-wal", "-shm", "-journal", "config", "input", "journal")
    # An export and a report read no file.
    if not (command.startswith(("export", "report")) and target == "input")
]


@pytest.mark.parametrize(("command", "target"), CASES)
def test_an_output_that_would_destroy_something_is_refused(
    files: dict[str, Path], db_path: Path, invoke: Invoke, target: str, command: str
) -> None:
    with open_store(db_path):  # keeps -wal and -shm present while the command runs
        paths = {
            "db": db_path,
            "config": files["config"],
            "journal": db_path.with_name(db_path.name + ".campaign-1.journal"),
            "input": files["csv"] if command.startswith("import") else files["letter"],
        }
        path = paths.get(target) or db_path.with_name(db_path.name + target)
        before = {p: _digest(p) for p in (db_path, files["csv"], files["letter"], path)}
        args = {
            "import --report": ("subscribers", "import", str(files["csv"]), "--list", "news",
                                "--report", str(path)),
            "export -o": ("subscribers", "export", "-o", str(path)),
            "render -o": ("letters", "render", str(files["letter"]), "-o", str(path)),
            "report -o": ("report", "-o", str(path)),
        }[command]
        result = invoke("--config", str(files["config"]), *args)
        assert result.exit_code == 2, result.output
        assert "refusing to write over" in result.output and "Traceback" not in result.output
        assert {p: _digest(p) for p in before} == before
    with open_store(db_path) as store:
        assert store.one("SELECT count(*) FROM subscribers")[0] == 1


def test_a_symbolic_link_to_the_database_is_refused_too(
    files: dict[str, Path], db_path: Path, invoke: Invoke, tmp_path: Path
) -> None:
    link = tmp_path / "innocent.csv"
    link.symlink_to(db_path)
    result = invoke("subscribers", "export", "-o", str(link))
    assert result.exit_code == 2 and "the database" in result.output
