"""The reports in a real browser (headless Chromium, Debian's package).

The report of a campaign with mixed outcomes (see ``tests/report_world.py``)
is written by ``mailer campaigns report``, and the lists' report of the
weeks around it by ``mailer report``; each is opened from its file: every
chart must be drawn, at a desktop width and a phone's, and the page must
ask the network for nothing. Screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser import chromium_page, needs_chromium, screenshot
from tests.clocks import FakeClock
from tests.conftest import Invoke
from tests.report_world import World, two_weeks_later

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Page

pytestmark = needs_chromium

#: The sections of the campaign report that draw a chart for this campaign.
CHARTS = ["timeline", "domains", "reasons", "deferrals", "rates", "size", "languages",
          "lists"]


@pytest.fixture
def report(mixed_world: World, invoke: Invoke) -> Path:
    result = invoke("campaigns", "report", "1", "-o", str(mixed_world.folder / "report.html"))
    assert result.exit_code == 0, result.output
    return mixed_world.folder / "report.html"


class Traffic:
    """Every request a page makes, and every error it logs."""

    def __init__(self, page: Page) -> None:
        self.urls: list[str] = []
        self.problems: list[str] = []
        page.on("request", lambda request: self.urls.append(request.url))
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(str(error)))

    def _console(self, message: ConsoleMessage) -> None:
        # A request the page's Content-Security-Policy blocks is logged here.
        if message.type in ("error", "warning"):
            self.problems.append(message.text)


def drawn(page: Page, section: str) -> dict[str, Any]:
    """The chart of ``section``: its box, and how many shapes and words it holds."""
    found: dict[str, Any] = page.evaluate(
        """(id) => {
            const svg = document.querySelector(`section#${id} svg.chart`);
            if (!svg) return {missing: true};
            const box = svg.getBoundingClientRect();
            const bars = [...svg.querySelectorAll('g[id*="patch"] path')]
                .map(p => p.getBoundingClientRect())
                .filter(b => b.width > 0 && b.height > 0);
            return {width: box.width, height: box.height, shapes: bars.length,
                    words: [...svg.querySelectorAll('text')].map(t => t.textContent).join(' ')};
        }""",
        section,
    )
    return found


def test_every_chart_is_drawn_and_the_page_asks_the_network_for_nothing(report: Path) -> None:
    with chromium_page(width=1280) as page:
        traffic = Traffic(page)
        page.goto(report.as_uri(), wait_until="load")
        for section in CHARTS:
            chart = drawn(page, section)
            assert not chart.get("missing"), f"{section} has no chart"
            assert chart["width"] > 300 and chart["height"] > 80, (section, chart)
            # The figure's and the plot's backgrounds, then at least one bar or line.
            assert chart["shapes"] >= 3, (section, chart)
            assert chart["words"].strip(), f"{section}'s chart has no text"
        screenshot(page, "campaign-report")
    assert traffic.urls == [report.as_uri()]
    assert traffic.problems == []


def test_on_a_phone_the_page_does_not_scroll_sideways_and_each_chart_shows(
    report: Path,
) -> None:
    with chromium_page(width=375, height=800) as page:
        traffic = Traffic(page)
        page.goto(report.as_uri(), wait_until="load")
        width: float = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375
        for section in CHARTS:
            chart = drawn(page, section)
            # Wider than the phone, a chart scrolls inside its own box; the page does not.
            assert chart["width"] > 300 and chart["height"] > 80, (section, chart)
        screenshot(page, "campaign-report-375")
    assert traffic.urls == [report.as_uri()]
    assert traffic.problems == []


def test_the_lists_report_draws_each_list_and_the_rates_and_asks_for_nothing(
    mixed_world: World, invoke: Invoke, fake_clock: FakeClock
) -> None:
    two_weeks_later(mixed_world, invoke, fake_clock)
    result = invoke("report", "--weeks", "4", "-o", str(mixed_world.folder / "lists.html"))
    assert result.exit_code == 0, result.output
    page_file = mixed_world.folder / "lists.html"
    with chromium_page(width=1280) as page:
        traffic = Traffic(page)
        page.goto(page_file.as_uri(), wait_until="load")
        for section in ("list-1", "list-2", "campaigns"):  # friends, members: by name
            chart = drawn(page, section)
            assert not chart.get("missing"), f"{section} has no chart"
            assert chart["width"] > 300 and chart["height"] > 80, (section, chart)
            assert chart["shapes"] >= 3, (section, chart)
        assert drawn(page, "list-3").get("missing"), "the quiet list draws no chart"
        screenshot(page, "list-report")
    assert traffic.urls == [page_file.as_uri()]
    assert traffic.problems == []
