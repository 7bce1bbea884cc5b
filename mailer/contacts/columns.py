"""The columns of a contact file, and the escaping of its cells, shared by import and export.

The importer finds the email, name, language and status columns by name and
takes every other column as an attribute; the exporter writes its columns
so that the importer reads them back as they were (see
``mailer.contacts.exporter``). Names are compared without case, accents,
underscores or extra spaces, in English, Spanish, German, French and
Portuguese (``Vorname``, ``Apellidos``, ``Prénom``, ``Sobrenome``), and as the
exports of Google Contacts, Outlook and Mailchimp write them
(``mailer.contacts.formats``). A file whose email or name column has another
name says so with ``email_column`` and ``name_column``.

A cell a spreadsheet would run as a formula is written behind one apostrophe
and read back without it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

from mailer.contacts.formats import CONSENT_ROLE, EXPORT_COLUMNS, OPT_OUT_ROLE, Export, recognise
from mailer.errors import ColumnNotFound, InputError, UsageError

EMAIL_COLUMNS = (
    "email", "e-mail", "mail", "email address", "e-mail address", "primary email",
    "e-mail 1 - value",  # Google Contacts
    "correo", "correo electronico", "correo-e",
    "email-adresse", "e-mail-adresse", "emailadresse",
    "courriel", "adresse e-mail", "adresse email", "adresse mail", "adresse electronique",
    "endereco de e-mail", "endereco de email", "endereco eletronico",
)
NAME_COLUMNS = (
    "name", "full name", "display name",
    "nombre completo", "nombre y apellidos", "nombre y apellido",
    "vollstandiger name", "nom complet", "nome completo",
)
FIRST_NAME_COLUMNS = (
    "first name", "firstname", "given name", "forename",
    "nombre", "nombres", "vorname", "prenom", "nome", "primeiro nome",
)
MIDDLE_NAME_COLUMNS = (
    "middle name", "additional name", "segundo nombre", "zweiter vorname", "nome do meio",
)
LAST_NAME_COLUMNS = (
    "last name", "lastname", "surname", "family name",
    "apellido", "apellidos", "apellido(s)", "nachname", "familienname",
    "nom", "nom de famille", "sobrenome", "apelido", "apelidos", "ultimo nome",
)
LANGUAGE_COLUMNS = ("language", "lang", "locale", "idioma", "sprache", "langue", "lingua")
STATUS_COLUMN = "status"
#: A column named ``attribute:KEY`` is the attribute KEY, whatever KEY is; the
#: exporter writes attributes whose names would otherwise be read as something else so.
ATTRIBUTE_PREFIX = "attribute:"
#: A cell starting with one of these is a formula to a spreadsheet. The exporter
#: writes such a cell behind an apostrophe (the spreadsheets' own "this is text"
#: mark); the importer drops that one apostrophe again.
FORMULA_START = ("=", "+", "-", "@")
_ROLES = (
    ("email", EMAIL_COLUMNS),
    ("name", NAME_COLUMNS),
    ("first", FIRST_NAME_COLUMNS),
    ("middle", MIDDLE_NAME_COLUMNS),
    ("last", LAST_NAME_COLUMNS),
    ("language", LANGUAGE_COLUMNS),
    ("status", (STATUS_COLUMN,)),
)
_ROLE_OF = {name: role for role, names in _ROLES for name in names}
#: Column names the importer gives a role; an attribute of such a name needs the prefix.
RESERVED = frozenset(_ROLE_OF) | EXPORT_COLUMNS


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
    """A header as compared with the known column names: case, accents, ``_`` and spacing
    ignored (``Prénom`` → ``prenom``, ``OPTIN_TIME`` → ``optin time``)."""
    text = unicodedata.normalize("NFKD", header.strip().casefold().replace("_", " "))
    return " ".join("".join(ch for ch in text if not unicodedata.combining(ch)).split())


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
    middle_name: int | None
    last_name: int | None
    language: int | None
    status: int | None
    attributes: tuple[tuple[int, str], ...]
    width: int
    #: The columns whose cells may not hold a line break, with what to call them.
    single_line: tuple[tuple[str, int], ...]
    #: The export recognised by the header (``formats.Export.name``), or "".
    export: str = ""
    #: Columns whose cells go into the consent detail, by the detail's key.
    consent: tuple[tuple[str, int], ...] = ()
    #: Columns whose non-empty cell makes the row an opt-out of that status.
    opt_outs: tuple[tuple[int, str], ...] = ()


def map_columns(
    header: list[str],
    *,
    path: str | Path,
    line: int,
    email_column: str | None = None,
    name_column: str | None = None,
) -> Columns:
    """Find the email, name, language, status and attribute columns of a header row.

    ``email_column`` and ``name_column`` name a column by its header text
    exactly, case aside; it takes that role, and columns the names would
    otherwise give it stay attributes. A name column beside a first-name
    column and no last-name column is the family name (``Vorname; Name``):
    a full name there would repeat the first name.
    """
    titles = _titles(header, path=path, line=line)
    chosen = _chosen(titles, header, email_column, name_column, path=path)
    export = recognise([canonical_column(title) for _, title in titles])
    roles = dict(chosen)
    attributes: list[tuple[int, str]] = []
    for index, title in titles:
        if index in chosen.values():
            continue
        if title.startswith(ATTRIBUTE_PREFIX):
            # Taken verbatim after the prefix (it may end in spaces): the exporter
            # writes awkward attribute names so.
            attributes.append((index, title[len(ATTRIBUTE_PREFIX) :]))
            continue
        role = _role(canonical_column(title), export)
        if role is None or role in chosen:
            attributes.append((index, title))
            continue
        if role in roles:
            hint = " (pass --email-column to choose one)" if role == "email" else ""
            raise InputError(
                f"two {role} columns: {header[roles[role]]!r} and {title!r}{hint}",
                path=path,
                line=line,
            )
        roles[role] = index
    if "name" in roles and "first" in roles and "last" not in roles and "name" not in chosen:
        roles["last"] = roles.pop("name")
    return _columns(header, roles, attributes, export, path=path, line=line)


def _titles(header: list[str], *, path: str | Path, line: int) -> list[tuple[int, str]]:
    """The non-empty column titles with their places, unescaped; a repeated title is an error."""
    titles: list[tuple[int, str]] = []
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
        titles.append((index, title))
    return titles


def _chosen(
    titles: list[tuple[int, str]],
    header: list[str],
    email_column: str | None,
    name_column: str | None,
    *,
    path: str | Path,
) -> dict[str, int]:
    """The columns named by ``--email-column`` and ``--name-column``, by role."""
    chosen: dict[str, int] = {}
    for role, option, given in (
        ("email", "--email-column", email_column),
        ("name", "--name-column", name_column),
    ):
        if given is None:
            continue
        wanted = given.strip().casefold()
        found = [index for index, title in titles if title.casefold() == wanted]
        if not found:
            raise ColumnNotFound(option, given, header, path=path)
        if len(found) > 1:
            raise UsageError(f"{option} {given!r}: {path} has {len(found)} columns of that name")
        chosen[role] = found[0]
    if len(set(chosen.values())) < len(chosen):
        raise UsageError("--email-column and --name-column name the same column")
    return chosen


def is_email_column(title: str, email_column: str | None = None) -> bool:
    """Whether a header cell names the email column (the one given, or a known name)."""
    if email_column is not None:
        return title.strip().casefold() == email_column.strip().casefold()
    return _ROLE_OF.get(canonical_column(title)) == "email"


def _role(canonical: str, export: Export | None) -> str | None:
    """The role of a column by its canonical name (in this export), or None (an attribute)."""
    if export is not None and canonical in export.roles:
        return export.roles[canonical]
    return _ROLE_OF.get(canonical)


def _columns(
    header: list[str],
    roles: dict[str, int],
    attributes: list[tuple[int, str]],
    export: Export | None,
    *,
    path: str | Path,
    line: int,
) -> Columns:
    if "email" not in roles:
        shown = ", ".join(repr(h) for h in header)
        raise InputError(
            "no email column: name one in the header (email, e-mail, correo, courriel, "
            f"e-mail-adresse, ...) or pass --email-column; the first row is {shown}",
            path=path,
            line=line,
        )
    if "name" in roles:
        # A full name wins; first, middle and last name columns then stay attributes.
        for role in ("first", "middle", "last"):
            if role in roles:
                index = roles.pop(role)
                attributes.append((index, header[index].strip()))
    named = (
        ("email", "email"), ("name", "name"), ("first name", "first"),
        ("middle name", "middle"), ("last name", "last"),
    )
    return Columns(
        single_line=tuple((what, roles[role]) for what, role in named if role in roles),
        email=roles["email"],
        name=roles.get("name"),
        first_name=roles.get("first"),
        middle_name=roles.get("middle"),
        last_name=roles.get("last"),
        language=roles.get("language"),
        status=roles.get("status"),
        attributes=tuple(sorted(attributes)),
        width=len(header),
        export=export.name if export is not None else "",
        consent=tuple(
            (role.removeprefix(CONSENT_ROLE), index)
            for role, index in sorted(roles.items())
            if role.startswith(CONSENT_ROLE)
        ),
        opt_outs=tuple(
            (index, role.removeprefix(OPT_OUT_ROLE))
            for role, index in sorted(roles.items())
            if role.startswith(OPT_OUT_ROLE)
        ),
    )
