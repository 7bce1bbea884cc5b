"""One row of a contact file read as one person: the cells the columns name, checked.

``mailer.contacts.importer`` streams the rows; these functions read each
one, as ``mailer.contacts.columns`` mapped its header. They run for every
row of a million-row file, so each does only what its columns ask for.
"""

from __future__ import annotations

from mailer.contacts.batch import ConsentEvidence
from mailer.contacts.columns import Columns, unescape_cell
from mailer.contacts.formats import read_time
from mailer.errors import AddressError


def address_problem(raw: str, exc: AddressError) -> str:
    """Why a cell is not an address, said for a contact file."""
    if " ::: " in raw:
        # Google Contacts writes a person's several addresses of one label so.
        return "the cell holds several addresses (' ::: '); keep one per row"
    return exc.reason.removeprefix(f"invalid address {raw!r}: ")


def opt_out(row: list[str], columns: Columns) -> str:
    """The opt-out status an export's row carries (its unsubscribe or clean time), or ""."""
    for index, status in columns.opt_outs:
        if cell(row, index):
            return status
    return ""


def consent_evidence(row: list[str], columns: Columns) -> ConsentEvidence | None:
    """The consent evidence an export wrote in this row; the confirm time, else the
    opt-in time, is when consent was given. ``ValueError`` for a time that is not one."""
    if not columns.consent:
        return None
    detail = {key: value for key, index in columns.consent if (value := cell(row, index))}
    if not detail:
        return None
    at = ""
    for key in ("confirm_time", "optin_time"):
        if key in detail:
            try:
                at = at or read_time(detail[key])
            except ValueError:
                raise ValueError(
                    f"{key.upper()} {detail[key]!r} is not a time written YYYY-MM-DD HH:MM:SS"
                ) from None
    return ConsentEvidence(at, detail)


def cell(row: list[str], index: int | None) -> str:
    """A cell stripped and unescaped, or "" for a column the row does not reach."""
    if index is None or index >= len(row):
        return ""
    value = row[index].strip()
    return unescape_cell(value) if value[:1] == "'" else value


def row_problem(row: list[str], columns: Columns) -> str:
    """Why a row cannot be read as one person (too many cells, a broken cell), or ""."""
    width = columns.width
    if len(row) > width and any(text.strip() for text in row[width:]):
        return f"{len(row)} fields but the header has {width}"
    reach = len(row)
    for what, index in columns.single_line:
        if index < reach:
            text = row[index]
            if "\n" in text or "\r" in text:
                return f"the {what} cell holds a line break (a quote left open?)"
    return ""


def name_of(row: list[str], columns: Columns) -> str:
    """The name column, or the first, middle and last name columns joined."""
    if columns.name is not None:
        return cell(row, columns.name)
    parts = [cell(row, i) for i in (columns.first_name, columns.middle_name, columns.last_name)]
    return " ".join(p for p in parts if p)


def attributes_of(row: list[str], columns: Columns) -> dict[str, str]:
    """Every other non-empty cell, by its column's name.

    The loop is written out (no ``cell`` per cell): it runs for every cell
    of a million-row file, and a call per cell costs a tenth of the import.
    """
    found = {}
    reach = len(row)
    for index, key in columns.attributes:
        if index < reach:
            value = row[index].strip()
            if value:
                found[key] = unescape_cell(value) if value[0] == "'" else value
    return found
