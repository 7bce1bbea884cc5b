"""A report as one self-contained HTML file: sections of a chart and its table.

The page loads nothing: its style is inline, its charts are inline SVG, and
its Content-Security-Policy (``default-src 'none'``) makes a browser refuse
any request the page might make all the same. It renders in the page
templates' sandboxed environment (``templates/reports/``, which a file of
the same name in ``[paths] templates`` overrides), everything autoescaped;
only the charts, which matplotlib wrote, go in as markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from mailer import __version__
from mailer.config import Config
from mailer.resources import page_environment, render_page


@dataclass(frozen=True)
class Table:
    """The numbers beside a chart: a caption, the column heads, the rows as text.

    ``numeric`` are the columns (by position) aligned right, as figures are.
    """

    caption: str
    columns: Sequence[str]
    rows: Sequence[Sequence[str]]
    numeric: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Section:
    """One part of a report: a heading, a chart (SVG, or None), its table, notes.

    ``empty`` is what the section says instead when there is nothing to draw.
    """

    id: str
    title: str
    chart: Markup | None = None
    table: Table | None = None
    notes: Sequence[str] = ()
    empty: str = ""


def chart(svg: str) -> Markup:
    """A chart's SVG, as markup the template puts in as it is."""
    return Markup(svg)  # matplotlib's output: it escaped every text itself


def number(value: int) -> str:
    """A count with thousands separated: ``12,345``."""
    return f"{value:,}"


def _figure(value: Any) -> bool:
    """Whether a cell is a figure: a count, or a rate as ``percent`` writes it."""
    if isinstance(value, int):
        return True
    return isinstance(value, str) and (value.endswith("%") or value == "–")


def table(caption: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """A table whose counts are shown with separated thousands, and whose columns of
    figures are aligned right."""
    numeric = frozenset(
        i for i in range(len(columns)) if rows and all(_figure(row[i]) for row in rows)
    )
    shown = [[number(v) if isinstance(v, int) else str(v) for v in row] for row in rows]
    return Table(caption, columns, shown, numeric)


def render(config: Config, template: str, **context: Any) -> str:
    """Template ``reports/<template>`` as a page, with mailer's version beside the rest."""
    env = page_environment(config.templates_path)
    return render_page(env, f"reports/{template}", version=__version__, **context)
