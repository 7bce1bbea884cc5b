"""The segment language: what it accepts, what it refuses, and that values never become SQL."""

from __future__ import annotations

import pytest

from mailer.dispatch.plan import count_recipients
from mailer.dispatch.segment import Condition, parse_segment, segment_sql
from mailer.errors import UsageError
from mailer.store import Store
from mailer.store.lists import get_list
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
    sql, params = segment_sql('name="x\' OR 1=1 --" and city~"); DROP TABLE lists; --"')
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
