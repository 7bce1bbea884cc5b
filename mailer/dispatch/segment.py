"""The segment language: a small, safe filter over subscriber fields and attributes.

    country=PE and city~lima and joined>=2026-01-01

A segment is conditions joined by ``and``. Each condition is a field, an
operator and a value. Fields are ``email``, ``name``, ``status``, ``language``,
``created_at``, ``joined`` (the ``joined`` attribute when a subscriber has
one, as lists imported with a joined column do, else ``created_at``) or any
attribute key. Operators: ``=`` and ``!=`` (case-insensitive), ``~`` and
``!~`` (contains, case-insensitive),
``<``, ``<=``, ``>``, ``>=`` (numbers compare as numbers, everything else as
text, which orders ISO dates correctly). Values are bare words or quoted with
``"`` or ``'``. Values end up as ``?`` parameters: nothing
the user types ever becomes SQL text, which is the whole point of having a
language of our own instead of accepting a WHERE clause. ``store.segments``
turns the conditions into that SQL.
"""

from __future__ import annotations

import datetime as dt
import re

from mailer.errors import UsageError
from mailer.store.models import Condition

_CONDITION = re.compile(
    r"""\s*(?P<field>[A-Za-z_][A-Za-z0-9_.-]{0,63})\s*
        (?P<op>!=|!~|>=|<=|=|~|>|<)\s*
        (?P<value>"[^"]*"|'[^']*'|[^\s"']+)\s*""",
    re.VERBOSE,
)


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
