"""A real browser (headless Chromium) through the whole life of a subscription.

subscribe → read the confirmation from the outbox → confirm → receive a letter
→ follow its unsubscribe link → unsubscribe, checking the database after each
step; and the subscribe and unsubscribe pages in a browser that reads another
language. Screenshots of every page go to ``tests/artifacts/web/`` for a person
to look at. Skipped when Debian's ``chromium`` (or the ``playwright`` driver) is
not installed; ``make system-deps`` installs the browser.
"""

from __future__ import annotations

import mailbox
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mailer.config import load_config
from mailer.letters.compile import compile_letter
from mailer.letters.source import parse_letter
from mailer.store import open_store
from mailer.store.lists import get_list
from mailer.store.models import Recipient
from mailer.tokens import Signer
from tests.browser import chromium_page, needs_chromium, screenshot
from tests.conftest import Invoke
from tests.web_helpers import (
    LETTER,
    SECRET,
    Server,
    confirm_link,
    free_port,
    insert_campaign,
    mailer_env,
    start_server,
    wait_for_messages,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = needs_chromium


@pytest.fixture
def browser_page() -> Iterator[Page]:
    with chromium_page() as page:
        yield page


def snap(page: Page, name: str) -> None:
    screenshot(page, f"web/{name}")


def subscription(db_path: Path, email: str) -> sqlite3.Row:
    with sqlite3.connect(db_path) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute(
            "SELECT s.*, p.status AS person FROM subscriptions s "
            "JOIN subscribers p ON p.id = s.subscriber_id WHERE p.email = ?",
            (email,),
        ).fetchone()
    assert row is not None, f"{email} has no subscription"
    return row


def test_subscribe_confirm_and_unsubscribe_in_a_real_browser(
    tmp_path: Path, db_path: Path, invoke: Invoke, browser_page: Page
) -> None:
    page = browser_page
    assert (
        invoke(
            "lists", "create", "news", "--title", "Harbour News", "--public", "--double-optin"
        ).exit_code
        == 0
    )
    port = free_port()
    env = mailer_env(tmp_path, port)
    server: Server = start_server(tmp_path, db_path, env=env, port=port)
    outbox = tmp_path / "outbox"
    try:
        # 1. The subscribe form.
        page.goto(f"{server.base}/s/news")
        snap(page, "01-subscribe-form")
        page.get_by_label("E-mail address").fill("reader@example.org")
        page.get_by_label("Name").fill("Rea Der")
        page.get_by_role("button", name="Subscribe").click()
        page.wait_for_selector("h1:has-text('Thank you')")
        snap(page, "02-subscribe-answer")
        assert subscription(db_path, "reader@example.org")["status"] == "unconfirmed"

        # 2. The confirmation message, read from the outbox, and its link.
        (message,) = wait_for_messages(outbox, 1)
        assert message["To"] == "reader@example.org"
        page.goto(f"{server.base}{confirm_link(message, server.base)}")
        page.wait_for_selector("h1:has-text('Confirm your subscription')")
        snap(page, "03-confirm-page")
        assert subscription(db_path, "reader@example.org")["status"] == "unconfirmed"
        page.get_by_role("button", name="Yes, subscribe me").click()
        page.wait_for_selector("h1:has-text('You are subscribed')")
        snap(page, "04-confirmed")
        row = subscription(db_path, "reader@example.org")
        assert row["status"] == "confirmed"
        assert row["consent_method"] == "web"
        assert row["consent_source"] == "127.0.0.1"
        assert "Chrome" in row["consent_detail"]

        # 3. A letter arrives (built as campaigns build them) and is opened.
        config = load_config(env=env, db=db_path)
        with open_store(db_path) as store:
            news = get_list(store, "news")
        compiled = compile_letter(
            parse_letter(LETTER, Path("letter.md")),
            config=config,
            mailing_list=news,
            signer=Signer(SECRET),
            campaign_id=1,
        )
        outgoing = compiled.build(
            Recipient(
                email="reader@example.org",
                name="Rea Der",
                attributes={"branch": "Harbour"},
                subscriber_id=int(row["subscriber_id"]),
            )
        )
        box = mailbox.Maildir(str(outbox))
        box.add(outgoing.data)
        received = [m for m in wait_for_messages(outbox, 2) if "Spring news" in m["Subject"]]
        html_part = received[0].get_body(("html",))
        assert html_part is not None
        letter_file = tmp_path / "letter.html"
        letter_file.write_text(html_part.get_content(), encoding="utf-8")
        page.goto(letter_file.as_uri())
        snap(page, "05-received-letter")

        # 4. Its unsubscribe link: the page changes nothing; the button does.
        page.get_by_role("link", name="Unsubscribe").click()
        page.wait_for_selector("h1:has-text('Unsubscribe from Harbour News')")
        snap(page, "06-unsubscribe-page")
        assert subscription(db_path, "reader@example.org")["status"] == "confirmed"
        page.get_by_role("button", name="Unsubscribe from Harbour News").click()
        page.wait_for_selector("h1:has-text('You are unsubscribed')")
        snap(page, "07-unsubscribed")
        row = subscription(db_path, "reader@example.org")
        assert row["status"] == "unsubscribed"
        assert row["person"] == "unsubscribed"

        # 5. The archive, and what a broken link looks like.
        with open_store(db_path) as store:
            campaign = insert_campaign(store, news, subject="Spring news", source=LETTER)
        page.goto(f"{server.base}/archive/")
        snap(page, "08-archive")
        page.get_by_role("link", name="Spring news").click()
        page.wait_for_selector("h1:has-text('Spring news')")
        assert f"/archive/{campaign}" in page.url
        snap(page, "09-archived-letter")
        assert "reader@example.org" not in page.content()
        page.goto(f"{server.base}/u/this-link-was-damaged")
        snap(page, "10-bad-link")
        assert "This link does not work" in page.content()
    finally:
        log = server.stop()
    assert "Traceback" not in log


@pytest.mark.parametrize(
    ("locale", "language", "subscribe", "unsubscribe"),
    [
        ("es-ES", "es", "Suscribirse a Harbour News", "Darse de baja de Harbour News"),
        ("de-DE", "de", "Harbour News abonnieren", "Von Harbour News abmelden"),
    ],
)
def test_subscribe_and_unsubscribe_pages_in_the_readers_language(
    tmp_path: Path,
    db_path: Path,
    invoke: Invoke,
    locale: str,
    language: str,
    subscribe: str,
    unsubscribe: str,
) -> None:
    """The browser's language picks the form's; the subscriber's picks the unsubscribe page's."""
    created = invoke("lists", "create", "news", "--title", "Harbour News", "--public",
                     "--language", "en", "--languages", "en,es,de")
    assert created.exit_code == 0, created.output
    address = f"reader-{language}@example.org"
    assert invoke("subscribers", "add", address, "--list", "news", "--language",
                  language).exit_code == 0
    with open_store(db_path) as store:
        row = store.one("SELECT id FROM subscribers WHERE email = ?", (address,))
        news = get_list(store, "news")
    assert row is not None
    token = Signer(SECRET).unsubscribe(int(row["id"]), news.id)
    server = start_server(tmp_path, db_path)
    try:
        with chromium_page(locale=locale, width=420, height=900) as page:
            page.goto(f"{server.base}/s/news")
            page.wait_for_selector(f"h1:has-text('{subscribe}')")
            assert page.locator("html").get_attribute("lang") == language
            assert page.locator("select#language").input_value() == language
            snap(page, f"i18n-{language}-subscribe")
        # The unsubscribe page follows the subscriber, whatever the browser says.
        with chromium_page(locale="fr-FR", width=420, height=900) as page:
            page.goto(f"{server.base}/u/{token}")
            page.wait_for_selector(f"h1:has-text('{unsubscribe}')")
            assert page.locator("html").get_attribute("lang") == language
            snap(page, f"i18n-{language}-unsubscribe")
            page.get_by_role("button", name=unsubscribe).click()
            page.wait_for_selector("h1")
            snap(page, f"i18n-{language}-unsubscribed")
    finally:
        log = server.stop()
    assert "Traceback" not in log
    with open_store(db_path) as store:
        left = store.one(
            "SELECT status FROM subscriptions WHERE subscriber_id = ? AND list_id = ?",
            (int(row["id"]), news.id),
        )
    assert left is not None and left["status"] == "unsubscribed"
