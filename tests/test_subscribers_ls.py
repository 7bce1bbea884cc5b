"""``mailer subscribers ls``: a listing that streams, pages, searches, and keeps its shapes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mailer.cli.app import TABLE_MEASURED
from mailer.errors import InputError
from mailer.store import Store
from mailer.store.subscribers import SubscriberQuery, iter_subscribers
from tests.conftest import Invoke

PEOPLE = [
    ("ana@example.org", "Ana Lima", "Lima", "Peru"),
    ("bob@example.net", "Bob", "Quito", "100%_sure"),
    ("chloe@example.org", "Chloé Ñandú", "Bogotá", "Colombia"),
    ("dan@example.com", "=HYPERLINK(1)", "Lima", "Peru"),
    ("eve@example.org", "Eve", "La Paz", "Bolivia"),
]


@pytest.fixture
def people(invoke: Invoke, tmp_path: Path) -> None:
    """Five members of ``members``, with a city and a note each."""
    invoke("lists", "create", "members")
    invoke("lists", "create", "board")
    rows = "".join(f"{e},{n},{c},{note}\n" for e, n, c, note in PEOPLE)
    (tmp_path / "people.csv").write_text(f"email,name,city,note\n{rows}", encoding="utf-8")
    assert invoke("subscribers", "import", "people.csv", "--list", "members").exit_code == 0
    invoke("subscribers", "add", "eve@example.org", "--list", "board")


def _emails(invoke: Invoke, *args: str) -> list[str]:
    result = invoke("subscribers", "ls", "--json", *args)
    assert result.exit_code == 0, result.output
    return [row["email"] for row in json.loads(result.output)]


@pytest.mark.usefixtures("people")
def test_limit_and_offset_page_through_in_id_order(invoke: Invoke) -> None:
    everyone = [p[0] for p in PEOPLE]
    assert _emails(invoke) == everyone
    assert _emails(invoke, "--limit", "2") == everyone[:2]
    assert _emails(invoke, "--offset", "2", "--limit", "2") == everyone[2:4]
    assert _emails(invoke, "--offset", "4", "--limit", "10") == everyone[4:]
    assert _emails(invoke, "--offset", "5") == []
    assert _emails(invoke, "--limit", "0") == []


@pytest.mark.usefixtures("people")
def test_search_looks_in_address_name_and_attributes_in_any_case(invoke: Invoke) -> None:
    assert _emails(invoke, "--search", "EXAMPLE.NET") == ["bob@example.net"]
    assert _emails(invoke, "--search", "lima") == ["ana@example.org", "dan@example.com"]
    assert _emails(invoke, "--search", "BOGOTÁ") == ["chloe@example.org"]
    assert _emails(invoke, "--search", "ñANDÚ") == ["chloe@example.org"]
    assert _emails(invoke, "--search", "bolivia") == ["eve@example.org"]


@pytest.mark.usefixtures("people")
def test_search_reads_percent_and_underscore_as_themselves(invoke: Invoke) -> None:
    assert _emails(invoke, "--search", "0%_s") == ["bob@example.net"]
    assert _emails(invoke, "--search", "%") == ["bob@example.net"]
    assert _emails(invoke, "--search", "a_a") == []


@pytest.mark.usefixtures("people")
def test_search_list_status_and_paging_combine(invoke: Invoke) -> None:
    invoke("subscribers", "block", "dan@example.com")
    assert _emails(invoke, "--search", "lima", "--status", "active") == ["ana@example.org"]
    assert _emails(invoke, "--list", "board") == ["eve@example.org"]
    assert _emails(invoke, "--list", "members", "--search", "example.org", "--offset", "1",
                   "--limit", "1") == ["chloe@example.org"]


@pytest.mark.usefixtures("people")
def test_json_keeps_the_shape_of_one_indented_array(invoke: Invoke) -> None:
    output = invoke("subscribers", "ls", "--json").output
    rows = json.loads(output)
    assert output == json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    assert rows[2]["attributes"] == {"city": "Bogotá", "note": "Colombia"}
    assert invoke("subscribers", "ls", "--json", "--search", "nobody").output == "[]\n"


@pytest.mark.usefixtures("people")
def test_csv_has_the_table_columns_and_escapes_formulas(invoke: Invoke) -> None:
    result = invoke("subscribers", "ls", "--csv")
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0] == ["id", "email", "name", "status", "bounce_score"]
    assert rows[4] == ["4", "dan@example.com", "'=HYPERLINK(1)", "active", "0"]
    assert len(rows) == 6
    assert invoke("subscribers", "ls", "--csv", "--json").exit_code == 2


@pytest.mark.usefixtures("people")
def test_table_is_aligned_and_says_none_when_empty(invoke: Invoke) -> None:
    lines = invoke("subscribers", "ls", "--search", "example.org").output.splitlines()
    assert lines[0].split() == ["id", "email", "name", "status", "bounce_score"]
    assert len({line.index("active") for line in lines[1:]}) == 1
    assert invoke("subscribers", "ls", "--search", "nobody").output == "(none)\n"


def test_table_widths_come_from_the_first_rows_and_later_rows_follow(
    invoke: Invoke, tmp_path: Path
) -> None:
    invoke("lists", "create", "members")
    names = ["A"] * TABLE_MEASURED + ["A much longer name than any before"]
    rows = "".join(f"p{i}@example.org,{name}\n" for i, name in enumerate(names))
    (tmp_path / "many.csv").write_text(f"email,name\n{rows}", encoding="utf-8")
    invoke("subscribers", "import", "many.csv", "--list", "members")
    lines = invoke("subscribers", "ls").output.splitlines()
    assert len(lines) == len(names) + 1
    assert lines[1].index("active") == lines[TABLE_MEASURED].index("active")
    assert "A much longer name than any before  active" in lines[-1]


def test_unknown_status_in_a_query_is_refused(store: Store) -> None:
    with pytest.raises(InputError, match="unknown status 'weird'"):
        list(iter_subscribers(store, SubscriberQuery(status="weird")))


def test_pages_are_read_as_the_listing_goes(store: Store, invoke: Invoke, tmp_path: Path) -> None:
    invoke("lists", "create", "members")
    rows = "".join(f"p{i}@example.org,Person {i}\n" for i in range(10))
    (tmp_path / "ten.csv").write_text(f"email,name\n{rows}", encoding="utf-8")
    invoke("subscribers", "import", "ten.csv", "--list", "members")
    listing = iter_subscribers(store, page_size=3)
    first = [next(listing).email for _ in range(4)]
    invoke("subscribers", "add", "late@example.org", "--list", "members")
    later = [s.email for s in listing]
    assert first == [f"p{i}@example.org" for i in range(4)]
    assert later[-1] == "late@example.org" and len(later) == 7


def test_a_big_listing_writes_its_first_lines_before_reading_the_rest(
    db_path: Path, invoke: Invoke, tmp_path: Path
) -> None:
    """The first page is out (and the process waits on the full pipe) before the last
    page is read: a subscriber added while it waits is in the listing."""
    invoke("lists", "create", "members")
    count = 20_000
    rows = "".join(f"p{i}@example.org,Person {i}\n" for i in range(count))
    (tmp_path / "big.csv").write_text(f"email,name\n{rows}", encoding="utf-8")
    assert invoke("subscribers", "import", "big.csv", "--list", "members").exit_code == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "mailer", "--db", str(db_path), "subscribers", "ls", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        head = process.stdout.readline() + process.stdout.readline()
        assert head == b'[\n  {\n'
        # Written while the listing waits for the pipe to be read: a reader that held
        # the whole list before writing would not see it.
        assert invoke("subscribers", "add", "late@example.org", "--list", "members").exit_code == 0
        rest = process.stdout.read()
    finally:
        process.wait(timeout=60)
    listed = json.loads(head + rest)
    assert process.returncode == 0
    assert len(listed) == count + 1
    assert listed[-1]["email"] == "late@example.org"
