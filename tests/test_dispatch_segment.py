"""The segment language: what it accepts, what it refuses, and that values never become SQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.dispatch.segment import parse_segment
from mailer.errors import UsageError
from mailer.store import Store, deliveries
from mailer.store.lists import get_list
from mailer.store.models import Condition
from mailer.store.segments import segment_sql
from tests.conftest import Invoke
from tests.smtp_sink import populate

PEOPLE = [
    {"country": "PE", "city": "Lima", "age": 30},
    {"country": "PE", "city": "Cusco", "age": "41"},
    {"country": "DE", "city": "Hamburg"},
    {"city": "lima norte"},
]


@pytest.fixture
def members(store: Store) -> int:
    populate(store, "members", len(PEOPLE), attributes=lambda n: PEOPLE[n])
    store.conn.execute("UPDATE subscribers SET created_at = '2025-06-01T00:00:00Z' WHERE id = 1")
    return get_list(store, "members").id


def count_recipients(store: Store, list_id: int, segment: str) -> int:
    """Recipients of the list in the segment, as ``send --segment`` counts them."""
    return deliveries.count_recipients(store, [list_id], parse_segment(segment))


def test_conditions_are_read_with_quotes_and_and() -> None:
    assert parse_segment("country=PE and city~'san isidro' AND joined>=2026-01-01") == [
        Condition("country", "=", "PE"),
        Condition("city", "~", "san isidro"),
        Condition("joined", ">=", "2026-01-01"),
    ]
    assert parse_segment("   ") == []


@pytest.mark.parametrize(
    "text", ["country", "country = ", "and country=PE", "a=1 and", "x='open", "x=1 or y=2"]
)
def test_unreadable_segments_are_refused(text: str) -> None:
    with pytest.raises(UsageError, match="segment"):
        parse_segment(text)


def test_values_are_parameters_never_sql_text() -> None:
    typed = 'name="x\' OR 1=1 --" and city~"); DROP TABLE lists; --"'
    sql, params = segment_sql(parse_segment(typed))
    assert "DROP" not in sql and "OR 1=1" not in sql
    assert "x' OR 1=1 --" in params and "); DROP TABLE lists; --" in params


@pytest.mark.parametrize(
    ("segment", "expected"),
    [
        ("", 4),
        ("country=PE", 2),
        ("country=pe", 2),
        ("country!=PE", 2),
        ("city~lima", 2),
        ("city!~lima", 2),
        ("country=PE and city~lim", 1),
        ("age>=35", 1),
        ("age=30", 1),
        ("age=41", 1),
        ("joined<2026-01-01", 1),
        ("created_at>=2026-01-01", 3),
        ("email~member00002", 1),
        ("status=active", 4),
        ("nosuchkey=1", 0),
    ],
)
def test_segments_select_the_right_subscribers(
    store: Store, members: int, segment: str, expected: int
) -> None:
    assert count_recipients(store, members, segment) == expected


def test_joined_is_the_imported_joined_date_when_there_is_one(store: Store) -> None:
    # The example list has a `joined` column: people joined long before they were imported.
    dates = ["2023-02-14", "2025-09-30", None]
    populate(
        store,
        "members",
        3,
        attributes=lambda n: {"joined": dates[n]} if dates[n] else {},
    )
    members = get_list(store, "members").id
    assert count_recipients(store, members, "joined<2024-01-01") == 1
    assert count_recipients(store, members, "joined>=2025-01-01") == 2
    assert count_recipients(store, members, "created_at<2024-01-01") == 0


@pytest.mark.parametrize("segment", ["joined>=2026-13-45", "created_at<yesterday",
                                     "joined=2026-02-30"])
def test_a_date_field_compared_with_something_that_is_no_date_is_refused(
    invoke: Invoke, store: Store, members: int, tmp_path: Path, segment: str
) -> None:
    letter = tmp_path / "l.md"
    letter.write_text("---\nsubject: x\n---\n\nhi\n")
    result = invoke("send", str(letter), "--list", "members", "--segment", segment, "--dry-run")
    assert result.exit_code == 2
    assert "not a date (write YYYY-MM-DD)" in result.output and "Traceback" not in result.output


def test_a_number_too_large_for_sqlite_is_compared_not_a_traceback(
    invoke: Invoke, store: Store, members: int, tmp_path: Path
) -> None:
    letter = tmp_path / "l.md"
    letter.write_text("---\nsubject: x\n---\n\nhi\n")
    for segment in ("country=99999999999999999999", "age<99999999999999999999",
                    "age>1e999"):
        result = invoke("send", str(letter), "--list", "members", "--segment", segment,
                        "--dry-run", "--json")
        assert result.exit_code == 0, (segment, result.output)
    assert count_recipients(store, members, "age<99999999999999999999") == 2


def test_long_runs_of_spaces_are_read_in_one_pass() -> None:
    """120,000 spaces once took 37 s (a quadratic split); now one pass reads them."""
    assert parse_segment(" " * 120_000) == []
    with pytest.raises(UsageError, match="cannot read"):
        parse_segment(" " * 60_000 + "and" + " " * 60_000 + "and b=2")
    assert parse_segment("a=1" + " " * 120_000 + "and b=2") == [
        Condition("a", "=", "1"), Condition("b", "=", "2")
    ]
    assert len(parse_segment("a=1 and " * 20_000 + "b=2")) == 20_001
