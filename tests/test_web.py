"""The web app through httpx: every page, every bad token, and no enumeration."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from mailer import clock, membership
from mailer.errors import TokenError
from mailer.letters.compile import compile_letter
from mailer.letters.source import parse_letter
from mailer.membership import confirm_binding
from mailer.store import subscriptions
from mailer.store.models import Recipient
from mailer.tokens import Signer
from tests.clocks import FakeClock
from tests.web_helpers import (
    BASE,
    CLIENT_IP,
    LETTER,
    Web,
    confirm_link,
    csrf_of,
    insert_campaign,
    without_csrf,
)

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def assert_friendly(response: httpx.Response, status: int) -> None:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert "Traceback" not in response.text
    assert "<h1>" in response.text


# --- health, headers, cookies ------------------------------------------------------------


async def test_healthz_answers_ok_with_the_schema_version(web: Web) -> None:
    response = await web.client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_pages_carry_security_headers_and_no_cookies(web: Web) -> None:
    web.make_list()
    for path in ("/s/news", "/archive/", "/healthz", "/nowhere"):
        response = await web.client.get(path)
        headers = response.headers
        assert "default-src 'none'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"
        assert "set-cookie" not in headers


async def test_unknown_path_is_a_friendly_404(web: Web) -> None:
    assert_friendly(await web.client.get("/nowhere"), 404)


async def test_nothing_redirects_so_nothing_can_be_an_open_redirect(web: Web) -> None:
    for path in ("/archive", "//evil.example/", "/u/", "/s/", "/c"):
        response = await web.client.get(path, headers={"Host": "evil.example"})
        assert response.status_code not in (301, 302, 303, 307, 308)
        assert "location" not in response.headers


async def test_stylesheet_is_served(web: Web) -> None:
    response = await web.client.get("/style.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")


# --- unsubscribe ---------------------------------------------------------------------------


async def test_get_names_the_list_and_offers_both_buttons_but_changes_nothing(web: Web) -> None:
    news = web.make_list(title="Spring & Summer News")
    sid = web.subscribe(news, "ann@example.org")
    token = web.signer.unsubscribe(sid, news.id, 7)
    response = await web.client.get(f"/u/{token}")
    assert response.status_code == 200
    assert "Spring &amp; Summer News" in response.text
    assert f'action="/u/{token}"' in response.text
    assert 'method="post"' in response.text
    assert 'value="all"' in response.text
    assert "every list" in response.text
    row = web.subscription(sid, news.id)
    assert row is not None and row["status"] == "confirmed"


async def test_head_request_changes_nothing_either(web: Web) -> None:
    news = web.make_list()
    sid = web.subscribe(news, "ann@example.org")
    await web.client.head(f"/u/{web.signer.unsubscribe(sid, news.id)}")
    row = web.subscription(sid, news.id)
    assert row is not None and row["status"] == "confirmed"


async def test_one_click_post_unsubscribes_from_that_list_only(web: Web) -> None:
    news, other = web.make_list(), web.make_list("other")
    sid = web.subscribe(news, "ann@example.org")
    web.subscribe(other, "ann@example.org")
    response = await web.client.post(f"/u/{web.signer.unsubscribe(sid, news.id)}", data=ONE_CLICK)
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    news_row, other_row = web.subscription(sid, news.id), web.subscription(sid, other.id)
    assert news_row is not None and news_row["status"] == "unsubscribed"
    assert other_row is not None and other_row["status"] == "confirmed"
    event = web.store.one(
        "SELECT detail FROM events WHERE kind = 'unsubscribed' AND subscriber_id = ?", (sid,)
    )
    assert event is not None
    assert json.loads(event["detail"]) == {"method": "one-click", "source": CLIENT_IP}


async def test_leaving_by_a_letter_s_link_names_that_letter_s_campaign_in_the_event(
    web: Web,
) -> None:
    news = web.make_list()
    sid = web.subscribe(news, "ann@example.org")
    response = await web.client.post(f"/u/{web.signer.unsubscribe(sid, news.id, 7)}",
                                     data=ONE_CLICK)
    assert response.status_code == 200
    event = web.store.one(
        "SELECT detail FROM events WHERE kind = 'unsubscribed' AND subscriber_id = ?", (sid,)
    )
    assert event is not None
    assert json.loads(event["detail"]) == {
        "method": "one-click", "source": CLIENT_IP, "campaign": 7
    }


async def test_one_click_needs_no_csrf_token_and_repeating_it_is_harmless(web: Web) -> None:
    news = web.make_list()
    sid = web.subscribe(news, "ann@example.org")
    url = f"/u/{web.signer.unsubscribe(sid, news.id)}"
    first = await web.client.post(url, data=ONE_CLICK)
    second = await web.client.post(url, data=ONE_CLICK)
    assert first.status_code == second.status_code == 200
    assert first.text == second.text
    events = web.store.all("SELECT * FROM events WHERE kind = 'unsubscribed'")
    assert len(events) == 1
    assert web.status("ann@example.org") == "unsubscribed"


async def test_one_click_for_a_forgotten_subscriber_still_answers_200(web: Web) -> None:
    news = web.make_list()
    sid = web.subscribe(news, "ann@example.org")
    with web.store.transaction() as conn:
        conn.execute("DELETE FROM subscribers WHERE id = ?", (sid,))
    response = await web.client.post(f"/u/{web.signer.unsubscribe(sid, news.id)}", data=ONE_CLICK)
    assert response.status_code == 200


async def test_page_button_unsubscribes_from_the_list(web: Web) -> None:
    news = web.make_list()
    sid = web.subscribe(news, "ann@example.org")
    url = f"/u/{web.signer.unsubscribe(sid, news.id)}"
    csrf = await web.form_token(url)
    response = await web.client.post(url, data={"csrf": csrf, "scope": "list"})
    assert response.status_code == 200
    assert "You are unsubscribed" in response.text
    row = web.subscription(sid, news.id)
    assert row is not None and row["status"] == "unsubscribed"


async def test_page_can_leave_every_list(web: Web) -> None:
    news, other = web.make_list(), web.make_list("other")
    sid = web.subscribe(news, "ann@example.org")
    web.subscribe(other, "ann@example.org")
    url = f"/u/{web.signer.unsubscribe(sid, news.id)}"
    csrf = await web.form_token(url)
    response = await web.client.post(url, data={"csrf": csrf, "scope": "all"})
    assert response.status_code == 200
    assert "any of our lists" in response.text
    for list_id in (news.id, other.id):
        row = web.subscription(sid, list_id)
        assert row is not None and row["status"] == "unsubscribed"
    assert web.status("ann@example.org") == "unsubscribed"


async def test_page_button_without_csrf_token_changes_nothing(web: Web) -> None:
    news = web.make_list()
    sid = web.subscribe(news, "ann@example.org")
    url = f"/u/{web.signer.unsubscribe(sid, news.id)}"
    response = await web.client.post(url, data={"scope": "all"})
    assert_friendly(response, 400)
    assert "press the button again" in response.text
    csrf_of(response.text)  # a fresh form to press
    row = web.subscription(sid, news.id)
    assert row is not None and row["status"] == "confirmed"


async def test_csrf_token_of_another_form_or_another_client_is_refused(web: Web) -> None:
    news = web.make_list()
    sid = web.subscribe(news, "ann@example.org")
    url = f"/u/{web.signer.unsubscribe(sid, news.id)}"
    other_form = await web.form_token("/s/news")
    response = await web.client.post(url, data={"csrf": other_form, "scope": "list"})
    assert response.status_code == 400
    stranger = web.client_from("192.0.2.9")
    async with stranger:
        scraped = await web.form_token(url)
        response = await stranger.post(url, data={"csrf": scraped, "scope": "list"})
    assert response.status_code == 400
    row = web.subscription(sid, news.id)
    assert row is not None and row["status"] == "confirmed"


async def test_form_post_from_a_foreign_origin_is_refused(web: Web) -> None:
    news = web.make_list()
    sid = web.subscribe(news, "ann@example.org")
    url = f"/u/{web.signer.unsubscribe(sid, news.id)}"
    csrf = await web.form_token(url)
    response = await web.client.post(
        url, data={"csrf": csrf, "scope": "list"}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 400
    row = web.subscription(sid, news.id)
    assert row is not None and row["status"] == "confirmed"


async def test_expired_form_asks_to_press_again(web: Web, fake_clock: FakeClock) -> None:
    news = web.make_list()
    sid = web.subscribe(news, "ann@example.org")
    url = f"/u/{web.signer.unsubscribe(sid, news.id)}"
    csrf = await web.form_token(url)
    fake_clock.advance(hours=3)
    response = await web.client.post(url, data={"csrf": csrf, "scope": "list"})
    assert response.status_code == 400
    assert "press the button again" in response.text


# --- bad tokens ----------------------------------------------------------------------------


def _bad_tokens(web: Web, sid: int, list_id: int) -> dict[str, tuple[str, str]]:
    """(path prefix, token) for each kind of bad link."""
    good_u = web.signer.unsubscribe(sid, list_id)
    good_c = web.signer.confirm(sid, list_id, timedelta(days=1))
    payload, signature = good_u.split("-")
    flipped = ("a" if payload[0] != "a" else "b") + payload[1:]
    expired = Signer(b"test-secret-key").sign(
        "c", sid, list_id, expires=datetime.now(UTC) - timedelta(seconds=1)
    )
    return {
        "tampered unsubscribe": ("/u/", f"{flipped}-{signature}"),
        "garbage unsubscribe": ("/u/", "not-a-token!"),
        "no signature": ("/u/", payload),
        "other key": ("/u/", Signer("another key").unsubscribe(sid, list_id)),
        "confirm token used to unsubscribe": ("/u/", good_c),
        "unsubscribe token used to confirm": ("/c/", good_u),
        "expired confirm": ("/c/", expired),
        "tampered confirm": ("/c/", good_c[:-1] + ("a" if good_c[-1] != "a" else "b")),
        "csrf token as a link": ("/c/", csrf_like(web)),
    }


def csrf_like(web: Web) -> str:
    return web.signer.sign("x", "a", "b")


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_every_bad_token_gets_a_friendly_400_and_changes_nothing(
    web: Web, method: str
) -> None:
    news = web.make_list()
    sid = web.subscribe(news, "ann@example.org")
    for kind, (prefix, token) in _bad_tokens(web, sid, news.id).items():
        response = await web.client.request(method, f"{prefix}{token}", data=ONE_CLICK)
        assert response.status_code == 400, kind
        assert "This link does not work" in response.text, kind
        assert "Traceback" not in response.text, kind
    row = web.subscription(sid, news.id)
    assert row is not None and row["status"] == "confirmed"


async def test_expired_confirm_link_says_so(web: Web, fake_clock: FakeClock) -> None:
    news = web.make_list()
    sid = web.subscribe(news, "ann@example.org")
    token = web.signer.confirm(sid, news.id, timedelta(days=7))
    fake_clock.advance(days=8)
    response = await web.client.get(f"/c/{token}")
    assert_friendly(response, 400)
    assert "expired" in response.text


# --- subscribe -----------------------------------------------------------------------------


async def test_subscribe_form_for_a_public_list(web: Web) -> None:
    web.make_list(title="News <for> all")
    response = await web.client.get("/s/news")
    assert response.status_code == 200
    assert "News &lt;for&gt; all" in response.text
    assert 'name="email"' in response.text and 'name="name"' in response.text
    assert '<label for="email">' in response.text
    assert "<script" not in response.text


async def test_private_or_unknown_list_is_a_404_page(web: Web) -> None:
    web.make_list("private", public=False)
    for path in ("/s/private", "/s/unknown", "/s/..%2Fetc"):
        assert_friendly(await web.client.get(path), 404)
    response = await web.client.post("/s/private", data={"email": "a@example.org", "csrf": "x"})
    assert_friendly(response, 404)
    assert web.status("a@example.org") is None


async def test_double_optin_sends_a_confirmation_and_waits(
    web: Web, fake_clock: FakeClock
) -> None:
    news = web.make_list()
    csrf = await web.form_token("/s/news")
    response = await web.client.post(
        "/s/news", data={"email": "Ann@Example.org", "name": "Ann", "csrf": csrf}
    )
    assert response.status_code == 200
    assert "Thank you" in response.text
    sid = web.subscriber_id("ann@example.org")
    row = web.subscription(sid, news.id)
    assert row is not None and row["status"] == "unconfirmed"
    (message,) = web.outbox()
    assert message["To"] == "Ann@example.org"
    assert "Confirm your subscription" in message["Subject"]
    assert message["Auto-Submitted"] == "auto-generated"
    link = confirm_link(message)
    fields = web.signer.verify(link.removeprefix("/c/"), "c").fields
    assert fields[:3] == (str(sid), str(news.id), confirm_binding("ann@example.org", "news"))
    assert fields[3] == f"t{int(clock.now().timestamp())}"  # when it was issued


async def test_confirmation_message_never_carries_the_name_typed_into_the_form(
    web: Web,
) -> None:
    web.make_list()
    csrf = await web.form_token("/s/news")
    await web.client.post(
        "/s/news",
        data={"email": "ann@example.org", "name": "Buy cheap pills now", "csrf": csrf},
    )
    (message,) = web.outbox()
    assert "pills" not in message.as_string()


async def test_confirm_get_shows_a_button_and_post_stores_the_proof(web: Web) -> None:
    news = web.make_list()
    csrf = await web.form_token("/s/news")
    await web.client.post("/s/news", data={"email": "ann@example.org", "csrf": csrf})
    link = confirm_link(web.outbox()[0])
    page = await web.client.get(link)
    assert page.status_code == 200
    assert 'method="post"' in page.text and "subscribe me" in page.text
    sid = web.subscriber_id("ann@example.org")
    row = web.subscription(sid, news.id)
    assert row is not None and row["status"] == "unconfirmed"

    response = await web.client.post(
        link, data={"csrf": csrf_of(page.text)}, headers={"User-Agent": "Browser/1.0"}
    )
    assert response.status_code == 200
    assert "You are subscribed" in response.text
    row = web.subscription(sid, news.id)
    assert row is not None
    assert row["status"] == "confirmed"
    assert row["consent_method"] == "web"
    assert row["consent_source"] == CLIENT_IP
    assert row["consent_at"]
    detail = json.loads(row["consent_detail"])
    assert detail["user_agent"] == "Browser/1.0"
    assert detail["form"] == f"{BASE}/s/news"
    assert detail["requested"]["form"] == f"{BASE}/s/news"

    again = await web.client.post(link, data={"csrf": csrf_of(page.text)})
    assert again.status_code == 200
    assert "already confirmed" in again.text


async def test_confirm_post_without_csrf_changes_nothing(web: Web) -> None:
    news = web.make_list()
    csrf = await web.form_token("/s/news")
    await web.client.post("/s/news", data={"email": "ann@example.org", "csrf": csrf})
    link = confirm_link(web.outbox()[0])
    response = await web.client.post(link, data={})
    assert response.status_code == 400
    row = web.subscription(web.subscriber_id("ann@example.org"), news.id)
    assert row is not None and row["status"] == "unconfirmed"


async def test_single_optin_subscribes_at_once_with_consent_proof(web: Web) -> None:
    news = web.make_list(double_optin=False)
    csrf = await web.form_token("/s/news")
    await web.client.post(
        "/s/news", data={"email": "bob@example.org", "csrf": csrf}, headers={"User-Agent": "UA"}
    )
    row = web.subscription(web.subscriber_id("bob@example.org"), news.id)
    assert row is not None and row["status"] == "confirmed"
    assert row["consent_method"] == "web" and row["consent_source"] == CLIENT_IP
    assert json.loads(row["consent_detail"])["user_agent"] == "UA"
    assert web.outbox() == []


@pytest.mark.parametrize("double_optin", [True, False])
async def test_who_unsubscribed_comes_back_only_by_confirming(web: Web, double_optin: bool) -> None:
    news = web.make_list(double_optin=double_optin)
    sid = web.subscribe(news, "ann@example.org")
    with web.store.transaction() as conn:
        subscriptions.leave(conn, sid, news.id, method="test")
    csrf = await web.form_token("/s/news")
    await web.client.post("/s/news", data={"email": "ann@example.org", "csrf": csrf})
    row = web.subscription(sid, news.id)
    assert row is not None and row["status"] == "unsubscribed"
    assert web.status("ann@example.org") == "unsubscribed"
    (message,) = web.outbox()

    link = confirm_link(message)
    page = await web.client.get(link)
    await web.client.post(link, data={"csrf": csrf_of(page.text)})
    row = web.subscription(sid, news.id)
    assert row is not None and row["status"] == "confirmed"
    assert row["unsubscribed_at"] is None
    assert row["consent_method"] == "web"
    assert web.status("ann@example.org") == "active"


async def test_blocked_address_gets_no_mail_and_cannot_confirm(web: Web) -> None:
    news = web.make_list()
    sid = web.subscribe(news, "ann@example.org")
    token = web.signer.confirm(sid, news.id, timedelta(days=1))
    membership.block(web.store, "ann@example.org")
    csrf = await web.form_token("/s/news")
    await web.client.post("/s/news", data={"email": "ann@example.org", "csrf": csrf})
    assert web.outbox() == []
    page = await web.client.get(f"/c/{token}")
    response = await web.client.post(f"/c/{token}", data={"csrf": csrf_of(page.text)})
    assert response.status_code == 400
    assert web.status("ann@example.org") == "blocked"


async def test_answer_page_is_identical_whether_or_not_the_address_is_known(web: Web) -> None:
    news = web.make_list()
    web.subscribe(news, "known@example.org")
    gone = web.subscribe(news, "gone@example.org")
    with web.store.transaction() as conn:
        subscriptions.leave(conn, gone, news.id, method="test")
    membership.block(web.store, "blocked@example.org")

    async def answer(address: str) -> httpx.Response:
        web.limit_clock.advance(3601)  # this test is about the answer, not the limits
        csrf = await web.form_token("/s/news")
        return await web.client.post("/s/news", data={"email": address, "name": "N", "csrf": csrf})

    def shape(response: httpx.Response, address: str) -> tuple[int, str, list[tuple[str, str]]]:
        headers = sorted((k, v) for k, v in response.headers.items() if k != "content-length")
        return (
            response.status_code,
            without_csrf(response.text).replace(address, "ADDRESS"),
            headers,
        )

    shapes = {
        address: shape(await answer(address), address)
        for address in (
            "new@example.org",
            "known@example.org",
            "gone@example.org",
            "blocked@example.org",
        )
    }
    first = shapes["new@example.org"]
    assert first[0] == 200
    for address, seen in shapes.items():
        assert seen == first, address
    # And byte for byte for the same address, known or not:
    fresh = await answer("someone@example.org")
    known = await answer("someone@example.org")
    assert without_csrf(fresh.text) == without_csrf(known.text)


async def test_invalid_address_shows_the_form_again_escaped(web: Web) -> None:
    web.make_list()
    csrf = await web.form_token("/s/news")
    response = await web.client.post(
        "/s/news", data={"email": '"><script>alert(1)</script>', "name": "<b>x", "csrf": csrf}
    )
    assert response.status_code == 400
    assert "<script>" not in response.text
    assert "&lt;script&gt;" in response.text
    assert "&lt;b&gt;x" in response.text
    assert "does not look like an e-mail address" in response.text


async def test_subscribe_without_csrf_token_is_refused(web: Web) -> None:
    web.make_list()
    response = await web.client.post("/s/news", data={"email": "ann@example.org"})
    assert response.status_code == 400
    assert web.status("ann@example.org") is None
    assert web.outbox() == []


async def test_per_address_limit_stops_the_mail_but_not_the_answer(web: Web) -> None:
    web.make_list()
    limit = web.config.web.subscribe_limit
    answers = set()
    for number in range(limit + 2):
        other_client = web.client_from(f"192.0.2.{number}")
        async with other_client:
            page = await other_client.get("/s/news")
            response = await other_client.post(
                "/s/news", data={"email": "victim@example.org", "csrf": csrf_of(page.text)}
            )
        assert response.status_code == 200
        answers.add(response.text)
    assert len(answers) == 1
    assert len(web.outbox()) == limit
    web.limit_clock.advance(3601)
    csrf = await web.form_token("/s/news")
    await web.client.post("/s/news", data={"email": "victim@example.org", "csrf": csrf})
    assert len(web.outbox()) == limit + 1


async def test_per_client_limit_answers_429(web: Web) -> None:
    web.make_list()
    limit = web.config.web.subscribe_limit
    statuses = []
    for number in range(limit + 1):
        csrf = await web.form_token("/s/news")
        response = await web.client.post(
            "/s/news", data={"email": f"p{number}@example.org", "csrf": csrf}
        )
        statuses.append(response.status_code)
    assert statuses == [200] * limit + [429]
    assert web.status(f"p{limit}@example.org") is None


# --- archive -------------------------------------------------------------------------------


async def test_archive_lists_sent_letters_of_public_lists_newest_first(web: Web) -> None:
    news = web.make_list()
    private = web.make_list("private", public=False)
    sid = web.subscribe(news, "ann@example.org")
    old = insert_campaign(
        web.store, news, subject="Old letter", source=LETTER, finished_at="2026-01-01T00:00:00Z"
    )
    new = insert_campaign(
        web.store, news, subject="New letter", source=LETTER, finished_at="2026-06-01T00:00:00Z"
    )
    sending = insert_campaign(
        web.store, news, subject="Going out", source=LETTER, state="sending", sent_to=sid
    )
    insert_campaign(web.store, news, subject="Still a draft", source=LETTER, state="created")
    insert_campaign(web.store, news, subject="Nobody yet", source=LETTER, state="sending")
    insert_campaign(web.store, private, subject="Members only", source=LETTER)
    response = await web.client.get("/archive/")
    assert response.status_code == 200
    text = response.text
    for hidden in ("Still a draft", "Nobody yet", "Members only"):
        assert hidden not in text
    assert text.index("Going out") < text.index("New letter") < text.index("Old letter")
    for campaign in (old, new, sending):
        assert f'href="/archive/{campaign}"' in text


async def test_archived_letter_has_no_personal_data_and_no_working_unsubscribe(web: Web) -> None:
    news = web.make_list()
    sid = web.subscribe(news, "ann@example.org")
    campaign = insert_campaign(web.store, news, subject="Spring news", source=LETTER)
    response = await web.client.get(f"/archive/{campaign}")
    assert response.status_code == 200
    text = response.text
    assert "Spring news" in text
    assert "Harbour" in text
    assert "Dear reader" in text
    for private in ("ann@example.org", "Jonas", "jonas.weber"):
        assert private not in text
    assert "/u/" not in text
    assert f"{BASE}/s/news" in text
    assert "'unsafe-inline'" in response.headers["content-security-policy"]
    assert "script-src" not in response.headers["content-security-policy"]
    # Any token the letter might carry would not verify: only the real key signs.
    for token in re.findall(r"/u/([a-z0-9-]+)", text):
        with pytest.raises(TokenError):
            web.signer.verify(token, "u")
    del sid


async def test_unknown_private_or_unsent_campaign_is_a_404(web: Web) -> None:
    news = web.make_list()
    private = web.make_list("private", public=False)
    draft = insert_campaign(web.store, news, subject="Draft", source=LETTER, state="created")
    hidden = insert_campaign(web.store, private, subject="Hidden", source=LETTER)
    for path in (f"/archive/{draft}", f"/archive/{hidden}", "/archive/999", "/archive/abc"):
        assert_friendly(await web.client.get(path), 404)


async def test_atom_feed_lists_the_archive(web: Web) -> None:
    news = web.make_list()
    campaign = insert_campaign(
        web.store, news, subject="Spring & news", source=LETTER, finished_at="2026-03-01T10:00:00Z"
    )
    response = await web.client.get("/archive/feed.atom")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    ns = {"a": "http://www.w3.org/2005/Atom"}
    feed = ET.fromstring(response.content)
    (entry,) = feed.findall("a:entry", ns)
    assert entry.findtext("a:title", namespaces=ns) == "Spring & news"
    assert entry.findtext("a:id", namespaces=ns) == f"{BASE}/archive/{campaign}"
    assert entry.findtext("a:updated", namespaces=ns) == "2026-03-01T10:00:00Z"
    content = entry.findtext("a:content", namespaces=ns) or ""
    assert "Harbour" in content


async def test_page_templates_can_be_overridden(web: Web, tmp_path: Path) -> None:
    folder = tmp_path / "my-templates" / "web"
    folder.mkdir(parents=True)
    (folder / "message.html.j2").write_text("<h1>Custom: {{ title }}</h1>\n", encoding="utf-8")
    from mailer.web import create_app

    app = create_app(web.config, store_path=web.store.path, signer=web.signer)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        response = await client.get("/nowhere")
    app.state.web.stores.close_all()
    assert response.text == "<h1>Custom: Not found</h1>"


# --- end to end through a real message ---------------------------------------------------


async def test_list_unsubscribe_header_of_a_real_message_unsubscribes_its_recipient(
    web: Web,
) -> None:
    news = web.make_list()
    sid = web.subscribe(news, "ann@example.org")
    keep = web.subscribe(news, "bob@example.org")
    letter = parse_letter(LETTER, Path("letter.md"))
    compiled = compile_letter(
        letter, config=web.config, mailing_list=news, signer=web.signer, campaign_id=3
    )
    outgoing = compiled.build(
        Recipient(
            email="ann@example.org", name="Ann", attributes={"branch": "X"}, subscriber_id=sid
        )
    )
    message = message_from_bytes(outgoing.data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    urls = re.findall(r"<([^>]+)>", str(message["List-Unsubscribe"]))
    https = [u for u in urls if u.startswith(BASE)]
    assert len(https) == 1
    # RFC 8058: POST to the URL, body "List-Unsubscribe=One-Click", form-encoded.
    response = await web.client.post(
        https[0],
        content=message["List-Unsubscribe-Post"].encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    row = web.subscription(sid, news.id)
    assert row is not None and row["status"] == "unsubscribed"
    other = web.subscription(keep, news.id)
    assert other is not None and other["status"] == "confirmed"


async def test_one_click_accepts_a_multipart_body_too(web: Web) -> None:
    # RFC 8058 allows multipart/form-data as well as form-urlencoded.
    news = web.make_list()
    sid = web.subscribe(news, "ann@example.org")
    response = await web.client.post(
        f"/u/{web.signer.unsubscribe(sid, news.id)}",
        files={"List-Unsubscribe": (None, "One-Click")},
    )
    assert response.status_code == 200
    row = web.subscription(sid, news.id)
    assert row is not None and row["status"] == "unsubscribed"


async def test_links_to_a_removed_list_get_friendly_pages(web: Web) -> None:
    news = web.make_list()
    sid = web.subscribe(news, "ann@example.org")
    unsubscribe_url = f"/u/{web.signer.unsubscribe(sid, news.id)}"
    confirm_url = f"/c/{web.signer.confirm(sid, news.id, timedelta(days=1))}"
    csrf = await web.form_token(confirm_url)
    with web.store.transaction() as conn:
        conn.execute("DELETE FROM lists WHERE id = ?", (news.id,))
    page = await web.client.get(unsubscribe_url)
    assert page.status_code == 200
    assert "no longer exists" in page.text
    assert (await web.client.post(unsubscribe_url, data=ONE_CLICK)).status_code == 200
    assert_friendly(await web.client.get(confirm_url), 400)
    assert_friendly(await web.client.post(confirm_url, data={"csrf": csrf}), 400)


async def test_a_broken_template_override_gives_plain_text_errors_without_traceback(
    web: Web, tmp_path: Path
) -> None:
    folder = tmp_path / "my-templates" / "web"
    folder.mkdir(parents=True)
    (folder / "message.html.j2").write_text("{{ broken(", encoding="utf-8")
    (folder / "subscribe.html.j2").write_text("{{ no_such_variable }}", encoding="utf-8")
    from mailer.web import create_app

    web.make_list()
    app = create_app(web.config, store_path=web.store.path, signer=web.signer)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        for path, status in (("/nowhere", 404), ("/s/news", 500), ("/u/bad", 400)):
            response = await client.get(path)
            assert response.status_code == status
            assert response.headers["content-type"].startswith("text/plain")
            assert "Traceback" not in response.text
            assert "no_such_variable" not in response.text
    app.state.web.stores.close_all()


async def test_a_failed_confirmation_mail_still_gets_the_same_answer(web: Web) -> None:
    from mailer.errors import TransportError
    from mailer.web import create_app

    async def broken(config: object, message: object) -> None:
        raise TransportError("relay down")

    web.make_list()
    app = create_app(
        web.config, store_path=web.store.path, signer=web.signer, deliver_message=broken
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        page = await client.get("/s/news")
        response = await client.post(
            "/s/news", data={"email": "ann@example.org", "csrf": csrf_of(page.text)}
        )
    app.state.web.stores.close_all()
    assert response.status_code == 200
    assert "Thank you" in response.text
