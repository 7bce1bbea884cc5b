"""The segment language: a small, safe filter over subscriber fields and attributes.

    country=PE and city~lima and joined>=2026-01-01

A segment is conditions joined by ``and``. Each condition is a field, an
operator and a value. Fields are ``email``, ``name``, ``status``,
``created_at``, ``joined`` (the ``joined`` attribute when a subscriber has
one, as lists imported with a joined column do, else ``created_at``) or any
attribute key. Operators: ``=`` and ``!=`` (case-insensitive), ``~`` and
``!~`` (contains, case-insensitive),
``<``, ``<=``, ``>``, ``>=`` (numbers compare as numbers, everything else as
text, which orders ISO dates correctly). Values are bare words or quoted with
``"`` or ``'``. The result is a SQL fragment with ``?`` parameters: nothing
the user types ever becomes SQL text, which is the whole point of having a
language of our own instead of accepting a WHERE clause.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any

from mailer.errors import UsageError

#: Subscriber columns a segment may name, and the aliases people reach for.
COLUMNS = {
    "email": "email",
    "name": "name",
    "status": "status",
    "created_at": "created_at",
    "joined": "created_at",
}
OPERATORS = ("!=", "!~", ">=", "<=", "=", "~", ">", "<")

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_CONDITION = re.compile(
    r"""\s*(?P<field>[A-Za-z_][A-Za-z0-9_.-]{0,63})\s*
        (?P<op>!=|!~|>=|<=|=|~|>|<)\s*
        (?P<value>"[^"]*"|'[^']*'|[^\s"']+)\s*""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Condition:
    """One ``field op value`` test."""

    field: str
    op: str
    value: str


def parse_segment(text: str) -> list[Condition]:
    """Read a segment expression; ``UsageError`` pointing at what could not be read."""
    text = (text or "").strip()
    if not text:
        return []
    conditions = []
    for part in _split_and(text):
        match = _CONDITION.fullmatch(part)
        if match is None:
            raise UsageError(
                f"segment: cannot read {_shorten(part)!r} (expected field=value, field!=value, "
                "field~text, field>=value ...; conditions joined with 'and')"
            )
        value = match.group("value")
        if value[:1] in "\"'":
            value = value[1:-1]
        condition = Condition(match.group("field"), match.group("op"), value)
        _check_date(condition)
        conditions.append(condition)
    return conditions


#: The pieces a segment is made of: quoted strings, the word "and" between spaces,
#: other runs of non-space, runs of space, and a stray quote (which is an error).
_TOKEN = re.compile(r""""[^"]*"|'[^']*'|\s+and\s+|[^\s"']+|\s+|["']""", re.IGNORECASE)


def _split_and(text: str) -> list[str]:
    """Split on `` and `` outside quotes, in one pass (time linear in the text)."""
    parts: list[str] = []
    buffer: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token in ('"', "'"):
            raise UsageError(f"segment: unbalanced quote in {_shorten(text)!r}")
        if token[0].isspace() and token.strip().lower() == "and" and "".join(buffer).strip():
            parts.append("".join(buffer))
            buffer = []
            continue
        buffer.append(token)
    parts.append("".join(buffer))
    if any(not p.strip() for p in parts):
        raise UsageError(f"segment: empty condition in {_shorten(text)!r}")
    return parts


def _shorten(text: str) -> str:
    """A segment as an error message quotes it: spaces collapsed, at most 80 characters."""
    short = " ".join(text.split())
    return short if len(short) <= 80 else short[:77] + "..."


#: SQLite's integers are 64 bits; a longer number is compared as a real number.
_INT64 = range(-(2**63), 2**63)


def _number(value: str) -> int | float | None:
    try:
        number = int(value)
    except ValueError:
        pass
    else:
        return number if number in _INT64 else float(number)
    try:
        result = float(value)
    except ValueError:
        return None
    return result if math.isfinite(result) else None


#: Fields that hold dates: their values must be dates, so that a typo is an error
#: and not a comparison of text that quietly selects nobody.
DATE_FIELDS = ("joined", "created_at")


def _check_date(condition: Condition) -> None:
    if condition.field.lower() not in DATE_FIELDS or condition.op in ("~", "!~"):
        return
    try:
        dt.date.fromisoformat(condition.value[:10])
        if len(condition.value) > 10:
            dt.datetime.fromisoformat(condition.value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"segment: {condition.field}{condition.op}{_shorten(condition.value)}: "
            "not a date (write YYYY-MM-DD)"
        ) from None


def condition_sql(condition: Condition, alias: str) -> tuple[str, list[Any]]:
    """One condition as a SQL fragment over subscriber table ``alias``, with parameters."""
    params: list[Any] = []
    column = COLUMNS.get(condition.field.lower())
    if condition.field.lower() == "joined":
        # A list imported with a `joined` column says when people really joined; the
        # row's created_at only says when they were imported. Prefer the former.
        expr = f"coalesce(json_extract({alias}.attributes, ?), {alias}.created_at)"
        params.append('$."joined"')
    elif column is not None:
        expr = f"{alias}.{column}"
    else:
        if not _KEY.fullmatch(condition.field):
            raise UsageError(f"segment: bad field name {condition.field!r}")
        # The JSON path is a parameter too; the key's alphabet has no quote in it.
        expr = f"json_extract({alias}.attributes, ?)"
        params.append(f'$."{condition.field}"')
    op, value = condition.op, condition.value
    if op in ("=", "!="):
        number = _number(value) if column is None else None
        if number is not None:
            # Attributes imported from CSV are text, from JSON maybe numbers: take both.
            sql = f"({expr} = ? OR {expr} = ? COLLATE NOCASE)"
            params = [*params, number, *params, value]
            return (f"NOT coalesce({sql}, 0)" if op == "!=" else sql), params
        if op == "=":
            return f"{expr} = ? COLLATE NOCASE", [*params, value]
        return f"{expr} IS NOT ? COLLATE NOCASE", [*params, value]
    if op in ("~", "!~"):
        sql = f"instr(lower(coalesce({expr}, '')), lower(?)) > 0"
        return (f"NOT ({sql})" if op == "!~" else sql), [*params, value]
    number = _number(value)
    if number is not None and column is None:
        return f"CAST({expr} AS REAL) {op} ?", [*params, number]
    return f"{expr} {op} ?", [*params, value]


def segment_sql(text: str, alias: str = "p") -> tuple[str, list[Any]]:
    """The whole segment as ``(sql, params)``; ``("1", [])`` for an empty segment."""
    conditions = parse_segment(text)
    if not conditions:
        return "1", []
    fragments = []
    params: list[Any] = []
    for condition in conditions:
        sql, more = condition_sql(condition, alias)
        fragments.append(f"({sql})")
        params.extend(more)
    return " AND ".join(fragments), params
