"""The reports' charts, drawn by matplotlib as SVG text to inline in a page.

Every chart is a ``Figure`` of its own (no pyplot, no global figure), drawn
with settings that make the output the same on every machine and safe to
inline: text stays text (``svg.fonttype`` ``none``: a fifth of the size of
glyph outlines, selectable, and read by screen readers) in DejaVu Sans,
which matplotlib ships, with the page's sans-serif as the fallback; ids are
salted with a fixed string and then prefixed with the chart's name, so that
two charts in one page never share an id; ``$`` in a label is a dollar, not
mathematics; and the file carries no date, no creator and no link.
matplotlib is imported on the first chart drawn, so that the rest of
mailer's commands do not pay for loading it.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import quoteattr

from mailer.reports.rates import Reference

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

#: Okabe and Ito's palette, which readers with any common colour blindness tell apart.
GREEN, ORANGE, VERMILION, GREY = "#009E73", "#E69F00", "#D55E00", "#999999"
BLUE, SKY, PURPLE, BLACK = "#0072B2", "#56B4E9", "#CC79A7", "#000000"
#: How the first and the second reference line of a chart are drawn.
_LINE_STYLES = ((ORANGE, "--"), (VERMILION, "-"))
#: Inches: the width of every chart, and the height of one bar's row.
WIDTH, ROW = 7.5, 0.32
#: Tick labels along a time axis, at most.
TICKS = 12
_SETTINGS: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "mailer-report",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 9,
    "text.parse_math": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titlelocation": "left",
}
_NO_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
_SVG_START = re.compile(r"<svg\b[^>]*>")
_SIZE = re.compile(r'\s(?:width|height)="[^"]*"')


@dataclass(frozen=True)
class Series:
    """One set of bars: its name in the legend, a value per label, and its colour."""

    name: str
    values: Sequence[float]
    color: str


def _figure(height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH, max(height, 1.6)), layout="constrained")


def to_svg(figure: Figure, name: str, description: str) -> str:
    """The figure as an ``<svg>`` element for an HTML page: no XML prologue, sized by
    the page (its viewBox kept), ids prefixed with ``name``, described for screen
    readers by ``description``."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context(_SETTINGS):
        figure.savefig(buffer, format="svg", metadata=_NO_METADATA)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r'\bid="', f'id="{name}-', text)
    text = text.replace("url(#", f"url(#{name}-").replace('href="#', f'href="#{name}-')
    root = _SVG_START.search(text)
    assert root is not None  # matplotlib always writes one
    opening = _SIZE.sub("", root.group(0))
    opening = opening.replace(
        "<svg", f'<svg class="chart" role="img" aria-label={quoteattr(description)}', 1
    )
    return text[: root.start()] + opening + text[root.end():]


def _draw(name: str, description: str, height: float, paint: Any) -> str:
    """A chart: ``paint(figure)`` draws it under the report's settings, then it is SVG."""
    import matplotlib

    with matplotlib.rc_context(_SETTINGS):
        figure = _figure(height)
        paint(figure)
    return to_svg(figure, name, description)


def _references(axes: Axes, references: Sequence[Reference], scale: float = 100) -> None:
    """The lines a chart is read against, across its bars (a rate's at ``value`` percent)."""
    for (color, style), line in zip(_LINE_STYLES, references, strict=False):
        axes.axvline(line.value * scale, color=color, linestyle=style, linewidth=1.2,
                     label=line.label)


def bars(
    name: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    unit: str,
    lines: Sequence[Reference] = (),
) -> str:
    """Horizontal bars, one row per label (the first at the top), the series stacked, and
    ``lines`` to read them against (in the bars' unit)."""

    def paint(figure: Figure) -> None:
        axes = figure.add_subplot()
        rows = range(len(labels))
        left = [0.0] * len(labels)
        for each in series:
            axes.barh(rows, each.values, left=left, color=each.color, label=each.name,
                      height=0.7)
            left = [a + b for a, b in zip(left, each.values, strict=True)]
        axes.set_yticks(list(rows), [_label(text) for text in labels])
        axes.invert_yaxis()
        axes.set_xlabel(unit)
        _integer_axis(axes.xaxis)
        _references(axes, lines, scale=1)
        if len(series) > 1 or lines:
            figure.legend(loc="outside lower center", ncols=len(series) + len(lines),
                          frameon=False)

    return _draw(name, title, 0.9 + ROW * len(labels), paint)


def over_time(name: str, title: str, labels: Sequence[str], values: Sequence[int],
              *, unit: str) -> str:
    """Vertical bars along a time axis, with at most ``TICKS`` labels under them."""

    def paint(figure: Figure) -> None:
        axes = figure.add_subplot()
        axes.bar(range(len(values)), values, width=0.85, color=BLUE)
        step = max(1, math.ceil(len(labels) / TICKS))
        ticks = list(range(0, len(labels), step))
        axes.set_xticks(ticks, [labels[i] for i in ticks], rotation=30, ha="right")
        axes.set_ylabel(unit)
        _integer_axis(axes.yaxis)

    return _draw(name, title, 2.8, paint)


def ups_and_downs(
    name: str, title: str, weeks: Sequence[str], gains: Series, losses: Sequence[Series]
) -> str:
    """Bars per week: ``gains`` above the line, ``losses`` stacked below it."""

    def paint(figure: Figure) -> None:
        axes = figure.add_subplot()
        columns = range(len(weeks))
        axes.bar(columns, gains.values, color=gains.color, label=gains.name, width=0.8)
        bottom = [0.0] * len(weeks)
        for each in losses:
            down = [-value for value in each.values]
            axes.bar(columns, down, bottom=bottom, color=each.color, label=each.name, width=0.8)
            bottom = [a + b for a, b in zip(bottom, down, strict=True)]
        axes.axhline(0, color=BLACK, linewidth=0.8)
        step = max(1, math.ceil(len(weeks) / TICKS))
        ticks = list(range(0, len(weeks), step))
        axes.set_xticks(ticks, [weeks[i] for i in ticks], rotation=30, ha="right")
        axes.set_ylabel("members per week")
        _integer_axis(axes.yaxis)
        figure.legend(loc="outside lower center", ncols=1 + len(losses), frameon=False)

    return _draw(name, title, 3.0, paint)


@dataclass(frozen=True)
class Panel:
    """One rate's bars (fractions, None where there is none) and its reference lines."""

    title: str
    values: Sequence[float | None]
    color: str
    references: Sequence[Reference] = ()


def rates(name: str, title: str, labels: Sequence[str], panels: Sequence[Panel]) -> str:
    """Rates side by side, one panel each, in percent, with their reference lines."""

    def paint(figure: Figure) -> None:
        from matplotlib.ticker import PercentFormatter

        axes_row = figure.subplots(1, len(panels), sharey=True, squeeze=False)[0]
        rows = list(range(len(labels)))
        for axes, panel in zip(axes_row, panels, strict=True):
            values = [(value or 0.0) * 100 for value in panel.values]
            axes.barh(rows, values, color=panel.color, height=0.6)
            _references(axes, panel.references)
            top = max([*values, *(line.value * 100 * 1.25 for line in panel.references), 0.1])
            axes.set_xlim(0, top * 1.1)
            axes.xaxis.set_major_formatter(PercentFormatter(decimals=None))
            axes.tick_params(axis="x", labelrotation=30)
            axes.set_title(panel.title)
        axes_row[0].set_yticks(rows, [_label(text) for text in labels])
        axes_row[0].invert_yaxis()
        handles = [h for axes in axes_row for h in axes.get_legend_handles_labels()[0]]
        if handles:
            figure.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)

    return _draw(name, title, 1.9 + ROW * len(labels), paint)


def _label(text: str, width: int = 38) -> str:
    """A row's label, cut to ``width`` characters so that long subjects leave room."""
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _integer_axis(axis: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))
