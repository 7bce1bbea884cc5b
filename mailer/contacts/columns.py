"""The columns of a contact file, and the escaping of its cells, shared by import and export.

The importer finds the email, name and status columns by name and takes
every other column as an attribute; the exporter writes its columns so that
the importer reads them back as they were (see ``mailer.contacts.exporter``).
A cell a spreadsheet would run as a formula is written behind one apostrophe
and read back without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mailer.errors import InputError

EMAIL_COLUMNS = ("email", "e-mail", "mail", "email address", "e-mail address")
NAME_COLUMNS = ("name", "full name")
FIRST_NAME_COLUMNS = ("first name", "firstname", "given name", "forename")
LAST_NAME_COLUMNS = ("last name", "lastname", "surname", "family name")
STATUS_COLUMN = "status"
#: A column named ``attribute:KEY`` is the attribute KEY, whatever KEY is; the
#: exporter writes attributes whose names would otherwise be read as something else so.
ATTRIBUTE_PREFIX = "attribute:"
#: A cell starting with one of these is a formula to a spreadsheet. The exporter
#: writes such a cell behind an apostrophe (the spreadsheets' own "this is text"
#: mark); the importer drops that one apostrophe again.
FORMULA_START = ("=", "+", "-", "@")
#: Column names the importer gives a role; an attribute of such a name needs the prefix.
RESERVED = frozenset(
    (*EMAIL_COLUMNS, *NAME_COLUMNS, *FIRST_NAME_COLUMNS, *LAST_NAME_COLUMNS, STATUS_COLUMN)
)


def escape_cell(text: str) -> str:
    """A CSV cell a spreadsheet shows as text: a would-be formula gets a leading apostrophe."""
    if text.lstrip("'")[:1] in FORMULA_START:
        return "'" + text
    return text


def unescape_cell(cell: str) -> str:
    """A cell as the exporter meant it: ``'=x`` is ``=x`` (and ``''=x`` is ``'=x``)."""
    if cell[:1] == "'" and cell.lstrip("'")[:1] in FORMULA_START:
        return cell[1:]
    return cell


def canonical_column(header: str) -> str:
    """A header as compared with the known column names: case, ``_`` and spacing ignored."""
    return " ".join(header.strip().lower().replace("_", " ").split())


def attribute_column(key: str) -> str:
    """The CSV column for attribute ``key``: the key itself unless the importer would misread it."""
    if (
        canonical_column(key) in RESERVED
        or key != key.strip()
        or not key
        or key.startswith(ATTRIBUTE_PREFIX)
    ):
        return ATTRIBUTE_PREFIX + key
    return key


@dataclass(frozen=True)
class Columns:
    """Where each thing is in a row, worked out once from the header."""

    email: int
    name: int | None
    first_name: int | None
    last_name: int | None
    status: int | None
    attributes: tuple[tuple[int, str], ...]
    width: int
    #: The columns whose cells may not hold a line break, with what to call them.
    single_line: tuple[tuple[str, int], ...]


_ROLES = (
    ("email", EMAIL_COLUMNS),
    ("name", NAME_COLUMNS),
    ("first", FIRST_NAME_COLUMNS),
    ("last", LAST_NAME_COLUMNS),
    ("status", (STATUS_COLUMN,)),
)


def map_columns(header: list[str], *, path: str | Path, line: int) -> Columns:
    """Find the email, name, status and attribute columns of a header row."""
    roles: dict[str, int] = {}
    attributes: list[tuple[int, str]] = []
    seen: set[str] = set()
    for index, raw in enumerate(header):
        if raw.lstrip()[:1] == "'":
            raw = unescape_cell(raw.lstrip())
        title = raw.lstrip() if raw.strip().startswith(ATTRIBUTE_PREFIX) else raw.strip()
        if not title:
            continue
        if title in seen:
            raise InputError(f"the header names column {title!r} twice", path=path, line=line)
        seen.add(title)
        if title.startswith(ATTRIBUTE_PREFIX):
            # Taken verbatim after the prefix (it may end in spaces): the exporter
            # writes awkward attribute names so.
            attributes.append((index, title[len(ATTRIBUTE_PREFIX) :]))
            continue
        role = _role(canonical_column(title))
        if role is None:
            attributes.append((index, title))
            continue
        if role in roles:
            raise InputError(
                f"two {role} columns: {header[roles[role]]!r} and {title!r}", path=path, line=line
            )
        roles[role] = index
    return _columns(header, roles, attributes, path=path, line=line)


def _role(canonical: str) -> str | None:
    """The role of a column by its canonical name, or None (an attribute)."""
    for role, names in _ROLES:
        if canonical in names:
            return role
    return None


def _columns(
    header: list[str],
    roles: dict[str, int],
    attributes: list[tuple[int, str]],
    *,
    path: str | Path,
    line: int,
) -> Columns:
    if "email" not in roles:
        shown = ", ".join(repr(h) for h in header)
        raise InputError(
            "no email column: a header row naming one is required "
            f"({', '.join(EMAIL_COLUMNS)}); the first row is {shown}",
            path=path,
            line=line,
        )
    if "name" in roles:
        # A full name wins; first and last name columns then stay attributes.
        for role in ("first", "last"):
            if role in roles:
                index = roles.pop(role)
                attributes.append((index, header[index].strip()))
    named = (("email", "email"), ("name", "name"), ("first name", "first"), ("last name", "last"))
    return Columns(
        single_line=tuple((what, roles[role]) for what, role in named if role in roles),
        email=roles["email"],
        name=roles.get("name"),
        first_name=roles.get("first"),
        last_name=roles.get("last"),
        status=roles.get("status"),
        attributes=tuple(sorted(attributes)),
        width=len(header),
    )
