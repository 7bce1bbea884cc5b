"""The example letter's HTML in a real browser (headless Chromium, Debian's package).

Chromium runs through the shared Playwright launcher in ``tests/browser.py``.
Screenshots (light, dark, narrow, images off) go to ``tests/artifacts/`` for a
person to look at.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from click.testing import CliRunner

from mailer.cli import cli
from mailer.config import Config, WebConfig
from mailer.letters.compile import compile_letter, sample_recipient
from mailer.letters.source import load_letter
from mailer.store.models import MailingList
from mailer.tokens import Signer
from tests.browser import chromium_page, needs_chromium, screenshot
from tests.sample_files import png

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Page, Request

ROOT = Path(__file__).resolve().parent.parent
#: The container's background and the body text colour under ``prefers-color-scheme: dark``.
DARK = ("rgb(27, 32, 38)", "rgb(230, 233, 236)")
ALT = "Picket line at gate 2, Nordhafen Logistics"

pytestmark = needs_chromium


class Watch:
    """Everything a page reports going wrong, and every request it makes."""

    def __init__(self, page: Page) -> None:
        self.problems: list[str] = []
        self.requests: list[Request] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"exception: {error}"))
        page.on("requestfailed", self._failed)
        page.on("request", self._request)

    def _console(self, message: ConsoleMessage) -> None:
        # Chromium's own error log (failed loads, blocked content) arrives here too.
        if message.type in ("error", "assert"):
            self.problems.append(
                f"console {message.type}: {message.text} ({message.location['url']})"
            )

    def _request(self, request: Request) -> None:
        self.requests.append(request)

    def _failed(self, request: Request) -> None:
        self.problems.append(f"request failed: {request.url} ({request.failure})")

    def assert_clean(self) -> None:
        """No errors, and nothing fetched from outside the letter's own file."""
        assert self.problems == []
        urls = [request.url for request in self.requests]
        assert urls, "the letter itself was never requested"
        assert all(url.startswith(("file:", "data:")) for url in urls), urls


def open_letter(page: Page, letter: Path) -> Watch:
    watch = Watch(page)
    page.goto(letter.as_uri(), wait_until="load")
    return watch


def container_width(page: Page) -> float:
    width: float = page.evaluate(
        "document.querySelector('.container').getBoundingClientRect().width"
    )
    return width


def colors(page: Page) -> tuple[str, str]:
    found: list[str] = page.evaluate(
        "[getComputedStyle(document.querySelector('.container')).backgroundColor,"
        " getComputedStyle(document.querySelector('.content p')).color]"
    )
    return found[0], found[1]


def assert_unsubscribe_link(page: Page, url: str) -> None:
    """A link to ``url`` reading "Unsubscribe", visible and inside the viewport's width."""
    anchors = page.locator("a")
    hrefs: list[str] = anchors.evaluate_all("all => all.map(a => a.href)")
    assert url in hrefs, f"the unsubscribe link is missing: {hrefs}"
    link = anchors.nth(hrefs.index(url))
    assert link.is_visible(), "the unsubscribe link does not show"
    assert (link.text_content() or "").strip() == "Unsubscribe"
    box = link.bounding_box()
    viewport = page.viewport_size
    assert box is not None and viewport is not None
    assert box["width"] > 0 and box["height"] > 0
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], box


def write_example_letter(tmp_path: Path, extra: str = "") -> tuple[Path, str]:
    """The example letter as a member of a list receives it, and its unsubscribe URL.

    ``extra`` is a paragraph added before the letter's contact block.
    """
    source = (ROOT / "letters" / "example.md").read_text(encoding="utf-8")
    if extra:
        source = source.replace("**Contact**", f"{extra}\n**Contact**")
    (tmp_path / "example.md").write_text(source, encoding="utf-8")
    letter = load_letter(tmp_path / "example.md")
    config = Config(web=WebConfig(base_url="https://news.example.org"))
    members = MailingList(1, "members", "Members of the union", "", False, False, "")
    compiled = compile_letter(
        letter, config=config, mailing_list=members, signer=Signer("browser"), campaign_id=3
    )
    recipient = sample_recipient(letter)
    html, _ = compiled.render(recipient)
    page = tmp_path / "letter.html"
    page.write_text(html, encoding="utf-8")
    return page, compiled.unsubscribe_url(recipient)


def test_example_letter_in_chromium_light_dark_and_narrow(tmp_path: Path) -> None:
    letter, unsubscribe = write_example_letter(tmp_path)

    with chromium_page(width=800) as page:
        watch = open_letter(page, letter)
        watch.assert_clean()
        assert_unsubscribe_link(page, unsubscribe)
        assert 600 <= container_width(page) <= 642
        hidden = page.evaluate(
            "document.querySelector('.preheader').getBoundingClientRect().height"
        )
        assert hidden == 0, "the preheader must not show"
        assert not page.locator(".preheader").is_visible(), "the preheader must not show"
        light = colors(page)
        assert light[0] != DARK[0] and light[1] != DARK[1], light
        screenshot(page, "example-letter")
        watch.assert_clean()

    with chromium_page(width=800, color_scheme="dark") as page:
        watch = open_letter(page, letter)
        assert colors(page) == DARK
        assert_unsubscribe_link(page, unsubscribe)
        assert 600 <= container_width(page) <= 642
        screenshot(page, "example-letter-dark")
        watch.assert_clean()

    for width in (375, 320):
        with chromium_page(width=width) as page:
            watch = open_letter(page, letter)
            screenshot(page, f"example-letter-{width}")
            assert page_width(page) <= width, "no sideways scrolling on a phone"
            assert_unsubscribe_link(page, unsubscribe)
            watch.assert_clean()


#: Text drawn as wide as a font can make it: whatever fonts a machine has, they are narrower.
WIDE_TEXT = "* { font-family: monospace !important; letter-spacing: 3px !important; }"


def page_width(page: Page) -> float:
    width: float = page.evaluate("document.documentElement.scrollWidth")
    return width


def test_the_letter_fits_320_pixels_in_any_font(tmp_path: Path) -> None:
    """Long addresses and URLs wrap; the test does not depend on the fonts installed."""
    letter, unsubscribe = write_example_letter(
        tmp_path,
        extra="Write to a.very.long.address.of.the.coordinator@regional-committee.example.org "
        "or read https://example.org/a/very/long/path/to/the/solidarity/declarations/2026\n",
    )
    with chromium_page(width=320) as page:
        watch = open_letter(page, letter)
        page.add_style_tag(content=WIDE_TEXT)
        screenshot(page, "example-letter-320-wide-font")
        assert page_width(page) <= 320
        assert_unsubscribe_link(page, unsubscribe)
        watch.assert_clean()


def test_the_letter_is_centred_and_keeps_its_header_and_footer_rules(tmp_path: Path) -> None:
    letter, _ = write_example_letter(tmp_path)
    with chromium_page(width=1000) as page:
        open_letter(page, letter)
        layout: dict[str, Any] = page.evaluate(
            """(() => {
                const box = document.querySelector('.container').getBoundingClientRect();
                const header = getComputedStyle(document.querySelector('.header'));
                const footer = getComputedStyle(document.querySelector('.footer'));
                return {left: box.left, right: window.innerWidth - box.right,
                        headerRule: [header.borderBottomStyle, header.borderBottomWidth,
                                     header.borderBottomColor],
                        footerRule: [footer.borderTopStyle, footer.borderTopWidth,
                                     footer.borderTopColor]};
            })()"""
        )
        screenshot(page, "example-letter-1000")
    assert layout["left"] > 100 and abs(layout["left"] - layout["right"]) <= 2, layout
    assert layout["headerRule"] == ["solid", "3px", "rgb(179, 38, 30)"], layout
    assert layout["footerRule"] == ["solid", "1px", "rgb(216, 222, 228)"], layout


def test_a_letter_with_an_image_reads_well_with_images_off(tmp_path: Path) -> None:
    (tmp_path / "picket.png").write_bytes(b"")  # never fetched: images are off
    source = (
        (ROOT / "letters" / "example.md")
        .read_text(encoding="utf-8")
        .replace(
            "## What this means for you",
            f"![{ALT}](picket.png)\n\n## What this means for you",
        )
    )
    letter_path = tmp_path / "with-image.md"
    letter_path.write_text(source, encoding="utf-8")
    letter = load_letter(letter_path)
    compiled = compile_letter(letter, config=Config(), mailing_list=None, signer=Signer("b"))
    html, _ = compiled.render(sample_recipient(letter))
    letter_file = tmp_path / "letter.html"
    letter_file.write_text(html, encoding="utf-8")

    with chromium_page(width=800, images=False) as page:
        watch = open_letter(page, letter_file)
        watch.assert_clean()
        fetched = [r.url for r in watch.requests if r.resource_type == "image"]
        assert fetched == [], "images are off: none may be fetched"
        image: dict[str, Any] = page.evaluate(
            """(() => {
                const i = document.querySelector('img');
                const box = i.getBoundingClientRect();
                const container = document.querySelector('.container').getBoundingClientRect();
                const text = document.createElement('canvas').getContext('2d');
                text.font = getComputedStyle(i).font;
                return {alt: i.alt, loaded: i.naturalWidth > 0,
                        width: box.width, height: box.height,
                        left: box.left - container.left, right: container.right - box.right,
                        altWidth: text.measureText(i.alt).width};
            })()"""
        )
        assert image["alt"] == ALT
        assert image["loaded"] is False
        # The alt text is laid out in full in the image's place, inside the letter.
        assert image["height"] > 0 and image["width"] >= image["altWidth"] > 0, image
        assert image["left"] >= 0 and image["right"] >= 0, image
        assert 600 <= container_width(page) <= 642, "the layout keeps its width without images"
        screenshot(page, "example-letter-images-off")
        watch.assert_clean()


def test_a_letter_with_an_embedded_image_shows_it(tmp_path: Path) -> None:
    """The message carries the image as a related part; ``letters render --format html``
    writes it in as a ``data:`` URL, so the preview shows what a mail client shows."""
    (tmp_path / "picket.png").write_bytes(png(width=320, height=160))
    source = (ROOT / "letters" / "example.md").read_text(encoding="utf-8")
    source = source.replace(
        "## What this means for you", f"![{ALT}](picket.png)\n\n## What this means for you"
    )
    (tmp_path / "with-image.md").write_text(source, encoding="utf-8")
    preview = tmp_path / "preview.html"
    result = CliRunner().invoke(
        cli, ["letters", "render", "with-image.md", "--format", "html", "-o", str(preview)]
    )
    assert result.exit_code == 0, result.output

    with chromium_page(width=800) as page:
        watch = open_letter(page, preview)
        image: dict[str, Any] = page.evaluate(
            """(() => {
                const i = document.querySelector('img');
                const box = i.getBoundingClientRect();
                return {alt: i.alt, complete: i.complete, natural: i.naturalWidth,
                        width: box.width, height: box.height, src: i.src.slice(0, 22)};
            })()"""
        )
        assert image["src"] == "data:image/png;base64,"
        assert image["complete"] and image["natural"] == 320, image
        assert image["width"] > 0 and image["height"] > 0, image
        assert image["alt"] == ALT
        screenshot(page, "example-letter-embedded-image")
        watch.assert_clean()
