"""The moderation page in a real browser (headless Chromium): a held post read safely,
approved, and another rejected with a reason; opening the page changes nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from tests.browser import chromium_page, needs_chromium, screenshot
from tests.inbound_samples import SECRET
from tests.posting_samples import LIST_ADDRESS, MEMBERS, MODERATOR, federation, post
from tests.web_helpers import Server, free_port, mailer_env, start_server

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = needs_chromium


def test_a_moderator_approves_one_post_and_rejects_another_in_the_browser(
    tmp_path: Path,
) -> None:
    with chromium_page() as page:
        _moderate_two_posts(tmp_path, page)


def _moderate_two_posts(tmp_path: Path, page: Page) -> None:
    fed = federation(tmp_path, "", "--posting", "announce", "--dmarc", "none")
    for number in (1, 2):
        raw = post(results=None, subject=f"Resolution {number}",
                   message_id=f"<post-{number}@union.example>")
        assert fed.pipe(raw, LIST_ADDRESS).returncode == 0
    by_subject = {}
    for notice in fed.outbox_to(MODERATOR):  # in the outbox's order, not the posts'
        body = notice.get_body(("plain",))
        assert body is not None
        found = re.search(r"/moderate/(\S+)", body.get_content())
        assert found is not None
        by_subject[str(notice["Subject"]).rpartition(": ")[2]] = found.group(1)
    links = [by_subject["Resolution 1"], by_subject["Resolution 2"]]
    port = free_port()
    env = mailer_env(tmp_path, port, MAILER_SECRET_KEY=SECRET, MAILER_CONFIG=str(fed.config))
    server: Server = start_server(tmp_path, fed.db, env=env, port=port)
    try:
        page.goto(f"{server.base}/moderate/{links[0]}")
        page.wait_for_selector("h1:has-text('A post to members')")
        assert page.locator("#subject").inner_text() == "Resolution 1"
        assert "resolution" in page.locator("#post-html").inner_text()
        assert page.locator("#post-html script").count() == 0
        assert page.locator("#post-html img").count() == 0
        screenshot(page, "web/moderate-01-held")
        page.reload()
        assert len(json.loads(fed.ok("held", "ls", "--json"))) == 2  # GET changed nothing
        page.get_by_role("button", name="Approve and send to the list").click()
        page.wait_for_selector("text=Approved: the post is on its way")
        screenshot(page, "web/moderate-02-approved")
        assert page.get_by_role("button", name="Approve and send to the list").count() == 0

        page.goto(f"{server.base}/moderate/{links[1]}")
        page.get_by_label("Reason told to the poster (when rejecting)").fill(
            "please send resolutions to the board first")
        page.get_by_role("button", name="Reject and tell the poster").click()
        page.wait_for_selector("text=Rejected: the poster was answered")
    finally:
        log = server.stop()
    assert "Traceback" not in log
    assert json.loads(fed.ok("held", "ls", "--json")) == []
    [answer] = fed.outbox_to("rosa@union.example")
    text = answer.get_body(("plain",))
    assert text is not None and "please send resolutions to the board first" in text.get_content()
    fed.run("campaigns", "run")  # a process: the browser's event loop runs in this one
    for member in MEMBERS:
        subjects = [str(m["Subject"]) for m in fed.outbox_to(member)]
        assert subjects == ["Resolution 1"]
