"""Headless Chromium for the browser tests: Debian's package, driven by Playwright.

Playwright starts ``/usr/bin/chromium`` itself (``executable_path``), so no
browser is downloaded. Each page lives in a persistent context on a fresh
temporary profile that is removed afterwards. Screenshots go to
``tests/artifacts/`` (not committed) for a person to look at.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
#: Chromium's own switch: images are neither fetched nor shown.
IMAGES_OFF = "--blink-settings=imagesEnabled=false"
PROFILE = "mailer-chromium-"


def _missing() -> str:
    """Why the browser tests cannot run here, or "" when they can."""
    if not CHROMIUM.exists():
        return "needs Debian's chromium at /usr/bin/chromium (.ci/apt-packages, make system-deps)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "needs the playwright package (pip install -e '.[test]')"
    return ""


MISSING = _missing()
needs_chromium = pytest.mark.skipif(bool(MISSING), reason=MISSING or "chromium is installed")


@contextlib.contextmanager
def chromium_page(
    *,
    color_scheme: Literal["light", "dark"] = "light",
    width: int | None = None,
    height: int = 1000,
    images: bool = True,
    locale: str | None = None,
) -> Iterator[Page]:
    """A page in headless Chromium, closed (and its profile removed) on leaving.

    ``color_scheme`` is what ``prefers-color-scheme`` answers; ``width`` (with
    ``height``) sets the viewport in CSS pixels, Playwright's 1280×720 when not
    given; ``images=False`` starts Chromium with images turned off; ``locale``
    (``es-ES``) is the browser's language, sent as ``Accept-Language``.
    """
    from playwright.sync_api import sync_playwright

    options: dict[str, Any] = {"color_scheme": color_scheme}
    if locale is not None:
        options["locale"] = locale
    if width is not None:
        options["viewport"] = {"width": width, "height": height}
    args = [*ARGS] if images else [*ARGS, IMAGES_OFF]
    with (
        tempfile.TemporaryDirectory(prefix=PROFILE, ignore_cleanup_errors=True) as profile,
        sync_playwright() as driver,
    ):
        context = driver.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=args, **options
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def screenshot(page: Page, name: str) -> Path:
    """The whole page as ``tests/artifacts/<name>.png``; ``name`` may hold a folder."""
    path = ARTIFACTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=path, full_page=True)
    return path
