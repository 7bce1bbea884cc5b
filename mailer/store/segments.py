"""A segment's conditions as SQL over the subscriber table, with every value a parameter.

``mailer.dispatch.segment`` reads the language (``country=PE and
city~lima``) into ``Condition`` objects; this turns them into a WHERE
fragment. Nothing the user typed ever becomes SQL text: values and attribute
names are bound as parameters (the JSON path too), and fields are checked
against a fixed alphabet first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from mailer.errors import UsageError
from mailer.store.database import Store
from mailer.store.models import Condition, MailingList

#: Subscriber columns a segment may name, and the aliases people reach for.
COLUMNS = {
    "email": "email",
    "name": "name",
    "status": "status",
    "language": "language",
    "created_at": "created_at",
    "joined": "created_at",
}
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
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


def segment_sql(conditions: Sequence[Condition], alias: str = "p") -> tuple[str, list[Any]]:
    """All conditions joined by AND, as ``(sql, params)``; ``("1", [])`` for none."""
    if not conditions:
        return "1", []
    fragments = []
    params: list[Any] = []
    for condition in conditions:
        sql, more = condition_sql(condition, alias)
        fragments.append(f"({sql})")
        params.extend(more)
    return " AND ".join(fragments), params


def check_fields(
    store: Store, lists: Sequence[MailingList], conditions: Sequence[Condition]
) -> None:
    """Refuse a condition on an attribute that no member of the lists has.

    Such a field is nearly always misspelt, and a misspelt field in a negative
    condition (``contry!=PE``) would quietly select everyone.
    """
    ids = [each.id for each in lists]
    marks = ", ".join("?" for _ in ids)
    member = (
        "SELECT 1 FROM subscriptions s JOIN subscribers p ON p.id = s.subscriber_id "
        f"WHERE s.list_id IN ({marks}) AND s.status = 'confirmed'"
    )
    if store.one(f"{member} LIMIT 1", ids) is None:
        return  # empty lists: nothing to check against, nobody to send to
    for condition in conditions:
        if condition.field.lower() in COLUMNS:
            continue
        path = f'$."{condition.field}"'
        if store.one(f"{member} AND json_type(p.attributes, ?) IS NOT NULL LIMIT 1",
                     [*ids, path]) is None:
            names = " or ".join(each.name for each in lists)
            raise UsageError(
                f"segment: no member of list {names} has a field "
                f"{condition.field!r} (fields: {', '.join(COLUMNS)} and the members' attributes)"
            )
