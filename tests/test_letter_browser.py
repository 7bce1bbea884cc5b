"""The example letter's HTML in a real browser (headless Chromium, Debian's package).

Chromium is driven over its DevTools protocol on a pipe (``--remote-debugging-pipe``:
commands on fd 3, answers on fd 4, each a JSON text ended by a NUL byte), so
the test needs no browser download and no extra package. Screenshots, light
and dark, go to ``tests/artifacts/`` for a person to look at.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailer.config import Config, WebConfig
from mailer.letters import load_letter
from mailer.render import compile_letter, sample_recipient
from mailer.store.models import MailingList
from mailer.tokens import Signer

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
#: Only guards against a hung browser; nothing is asserted about time.
GUARD_SECONDS = 60.0

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (.ci/apt-packages)"
)


class DevTools:
    """A minimal DevTools protocol client over Chromium's debugging pipe."""

    def __init__(self, profile: Path, *extra: str) -> None:
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        # bash (dash cannot name fds over 9) moves the pipe ends to fds 3 and 4,
        # then becomes Chromium.
        rewire = f"exec 3<&{to_child_r} 4>&{from_child_w} {to_child_r}<&- {from_child_w}>&-; "
        self.log = (profile.parent / "chromium.log").open("wb")
        self.process = subprocess.Popen(
            [
                "/bin/bash",
                "-c",
                rewire + 'exec "$0" "$@"',
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                "--remote-debugging-pipe",
                *extra,
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
            pass_fds=(to_child_r, from_child_w),
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_child], [], [], max(remaining, 0))
            if not ready:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise ConnectionError("Chromium closed the debugging pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one command (to the attached page, once attached) and wait for its answer."""
        self._next_id += 1
        request: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self.session and not method.startswith("Target."):
            request["sessionId"] = self.session
        os.write(self._to_child, json.dumps(request).encode() + b"\0")
        deadline = time.monotonic() + GUARD_SECONDS
        while True:
            message = self._read_message(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def wait_for(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + GUARD_SECONDS
        for event in self.events:
            if event.get("method") == method:
                self.events.remove(event)
                return event
        while True:
            message = self._read_message(deadline)
            if message.get("method") == method:
                return message
            self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        answer = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return answer["result"].get("value")

    def screenshot(self, path: Path, width: int) -> None:
        metrics = self.call("Page.getLayoutMetrics")
        height = int(metrics["cssContentSize"]["height"]) + 1
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        shot = self.call("Page.captureScreenshot", {"format": "png"})
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, OSError, TimeoutError):
            self.call("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_child)
        os.close(self._from_child)
        self.log.close()


def open_page(tools: DevTools) -> None:
    target = tools.call("Target.createTarget", {"url": "about:blank"})
    attached = tools.call(
        "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
    )
    tools.session = attached["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        tools.call(f"{domain}.enable")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevTools]:
    tools = DevTools(tmp_path / "profile")
    try:
        open_page(tools)
        yield tools
    finally:
        tools.close()


@pytest.fixture
def browser_without_images(tmp_path: Path) -> Iterator[DevTools]:
    tools = DevTools(tmp_path / "profile", "--blink-settings=imagesEnabled=false")
    try:
        open_page(tools)
        yield tools
    finally:
        tools.close()


def problems(events: list[dict[str, Any]]) -> list[str]:
    """Console errors, uncaught exceptions and error log entries the page produced."""
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found.append(f"console: {params.get('args')}")
        elif method == "Runtime.exceptionThrown":
            found.append(f"exception: {params.get('exceptionDetails')}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            found.append(f"log: {params['entry'].get('text')}")
    return found


def test_example_letter_in_chromium_light_dark_and_narrow(
    browser: DevTools, tmp_path: Path
) -> None:
    letter = load_letter(ROOT / "letters" / "example.md")
    config = Config(web=WebConfig(base_url="https://news.example.org"))
    members = MailingList(1, "members", "Members of the union", "", False, False, "")
    compiled = compile_letter(
        letter, config=config, mailing_list=members, signer=Signer("browser"), campaign_id=3
    )
    recipient = sample_recipient(letter)
    html, _ = compiled.render(recipient)
    page = tmp_path / "letter.html"
    page.write_text(html, encoding="utf-8")
    unsubscribe = compiled.unsubscribe_url(recipient)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    browser.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": 800, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
    )
    browser.call("Page.navigate", {"url": page.as_uri()})
    browser.wait_for("Page.loadEventFired")

    assert problems(browser.events) == []
    requested = [
        e["params"]["request"]["url"]
        for e in browser.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert all(url.startswith(("file:", "data:")) for url in requested), requested
    link = browser.evaluate(
        f"""(() => {{
            const url = {json.dumps(unsubscribe)};
            const a = [...document.querySelectorAll('a')].find(a => a.href === url);
            if (!a) return null;
            const box = a.getBoundingClientRect();
            return {{text: a.textContent.trim(), width: box.width, height: box.height,
                     color: getComputedStyle(a).color}};
        }})()"""
    )
    assert link is not None, "the unsubscribe link is missing"
    assert link["text"] == "Unsubscribe" and link["width"] > 0 and link["height"] > 0
    width = browser.evaluate("document.querySelector('.container').getBoundingClientRect().width")
    assert 600 <= width <= 642
    hidden = browser.evaluate("document.querySelector('.preheader').getBoundingClientRect().height")
    assert hidden == 0, "the preheader must not show"
    browser.screenshot(ARTIFACTS / "example-letter.png", 800)

    browser.call(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    background = browser.evaluate(
        "getComputedStyle(document.querySelector('.container')).backgroundColor"
    )
    text_color = browser.evaluate("getComputedStyle(document.querySelector('.content p')).color")
    assert background == "rgb(27, 32, 38)"
    assert text_color == "rgb(230, 233, 236)"
    browser.screenshot(ARTIFACTS / "example-letter-dark.png", 800)

    browser.call("Emulation.setEmulatedMedia", {"features": []})
    browser.screenshot(ARTIFACTS / "example-letter-narrow.png", 375)
    overflow = browser.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 375, "the letter must fit a phone screen without sideways scrolling"
    assert problems(browser.events) == []


def test_a_letter_with_an_image_reads_well_with_images_off(
    browser_without_images: DevTools, tmp_path: Path
) -> None:
    (tmp_path / "picket.png").write_bytes(b"")  # never fetched: images are off
    source = (
        (ROOT / "letters" / "example.md")
        .read_text(encoding="utf-8")
        .replace(
            "## What this means for you",
            "![Picket line at gate 2, Nordhafen Logistics](picket.png)\n\n"
            "## What this means for you",
        )
    )
    letter_path = tmp_path / "with-image.md"
    letter_path.write_text(source, encoding="utf-8")
    letter = load_letter(letter_path)
    compiled = compile_letter(letter, config=Config(), mailing_list=None, signer=Signer("b"))
    html, _ = compiled.render(sample_recipient(letter))
    page = tmp_path / "letter.html"
    page.write_text(html, encoding="utf-8")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    browser_without_images.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": 800, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
    )
    browser_without_images.call("Page.navigate", {"url": page.as_uri()})
    browser_without_images.wait_for("Page.loadEventFired")
    assert problems(browser_without_images.events) == []
    image = browser_without_images.evaluate(
        "(() => { const i = document.querySelector('img');"
        " return {alt: i.alt, loaded: i.naturalWidth > 0,"
        " width: i.getBoundingClientRect().width}; })()"
    )
    assert image["alt"] == "Picket line at gate 2, Nordhafen Logistics"
    assert image["loaded"] is False
    width = browser_without_images.evaluate(
        "document.querySelector('.container').getBoundingClientRect().width"
    )
    assert 600 <= width <= 642, "the layout keeps its width without images"
    browser_without_images.screenshot(ARTIFACTS / "example-letter-images-off.png", 800)
