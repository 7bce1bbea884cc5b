"""The web app under abuse: timing that could tell who is subscribed, odd input, big bodies."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from mailer import membership
from mailer.contacts.addresses import normalize_address
from mailer.store.lists import get_list, remove_list
from mailer.store.models import Consent
from mailer.web import create_app
from tests.web_helpers import (
    BASE,
    CLIENT_IP,
    Web,
    confirm_link,
    csrf_of,
)


def _counts(web: Web) -> tuple[int, int, int]:
    """Rows in the tables a subscribe request may write to."""
    row = web.store.one(
        "SELECT (SELECT count(*) FROM subscribers), (SELECT count(*) FROM subscriptions), "
        "(SELECT count(*) FROM events)"
    )
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


async def _post_and_look_at_answer_time(web: Web, path: str, form: dict[str, str]) -> Any:
    """POST ``form`` straight to the ASGI app; the table counts when the answer was complete."""
    body_bytes = urlencode(form).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body_bytes)).encode()),
        ],
        "client": (CLIENT_IP, 40000),
        "server": ("testserver", 80),
        "state": {},
    }
    sent = False
    seen: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body_bytes, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            seen["status"] = message["status"]
        if message["type"] == "http.response.body" and not message.get("more_body"):
            seen["counts"] = _counts(web)

    await web.app(scope, receive, send)
    return seen


async def test_subscribe_answer_is_complete_before_any_database_work(web: Web) -> None:
    """New or known, the answer leaves before the work whose length depends on which."""
    news = web.make_list()
    web.subscribe(news, "known@example.org")
    for address in ("new@example.org", "known@example.org"):
        csrf = await web.form_token("/s/news")
        before = _counts(web)
        seen = await _post_and_look_at_answer_time(
            web, "/s/news", {"email": address, "name": "N", "csrf": csrf}
        )
        assert seen["status"] == 200, address
        assert seen["counts"] == before, address
    # The work itself was done, after the answer: the new address waits for its confirmation.
    row = web.subscription(web.subscriber_id("new@example.org"), news.id)
    assert row is not None and row["status"] == "unconfirmed"
    assert json.loads(row["consent_detail"])["client"] == CLIENT_IP
    assert len(web.outbox()) == 1


async def test_subscribe_with_the_database_locked_answers_the_same(web: Web) -> None:
    """A busy database is no hint either: the answer does not wait for it."""
    news = web.make_list()
    config = replace(web.config, database=replace(web.config.database, busy_timeout=0.05))
    app = create_app(config, store_path=web.store.path, signer=web.signer)
    transport = httpx.ASGITransport(app=app, client=(CLIENT_IP, 1))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        page = await client.get("/s/news")
        locker = sqlite3.connect(web.store.path, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        try:
            response = await client.post(
                "/s/news", data={"email": "new@example.org", "csrf": csrf_of(page.text)}
            )
        finally:
            locker.execute("ROLLBACK")
            locker.close()
    app.state.web.stores.close_all()
    assert response.status_code == 200
    assert "Thank you" in response.text
    assert web.status("new@example.org") is None
    assert web.subscription(1, news.id) is None


async def test_an_archive_number_too_large_for_the_database_is_a_404(web: Web) -> None:
    response = await web.client.get("/archive/99999999999999999999999")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-frame-options"] == "DENY"


async def test_an_unexpected_error_gets_the_friendly_page_with_security_headers(
    web: Web, tmp_path: Path
) -> None:
    folder = tmp_path / "my-templates" / "web"
    folder.mkdir(parents=True)
    # Not a template error: a Python error while rendering.
    (folder / "subscribe.html.j2").write_text("{{ 1 // 0 }}", encoding="utf-8")
    web.make_list()
    app = create_app(web.config, store_path=web.store.path, signer=web.signer)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        response = await client.get("/s/news")
    app.state.web.stores.close_all()
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Something went wrong</h1>" in response.text
    assert "ZeroDivisionError" not in response.text and "Traceback" not in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


async def test_an_oversized_form_is_refused_before_it_is_read(web: Web) -> None:
    news = web.make_list()
    sid = web.subscribe(news, "ann@example.org")
    csrf = await web.form_token("/s/news")
    padding = "x" * (200 * 1024)
    response = await web.client.post(
        "/s/news", data={"email": "big@example.org", "csrf": csrf, "pad": padding}
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert web.status("big@example.org") is None
    url = f"/u/{web.signer.unsubscribe(sid, news.id)}"
    response = await web.client.post(
        url, data={"List-Unsubscribe": "One-Click"}, files={"pad": ("pad.bin", padding.encode())}
    )
    assert response.status_code == 413
    row = web.subscription(sid, news.id)
    assert row is not None and row["status"] == "confirmed"


async def test_a_chunked_oversized_form_is_refused_too(web: Web) -> None:
    web.make_list()
    csrf = await web.form_token("/s/news")

    async def chunks() -> Any:
        yield f"email=big%40example.org&csrf={csrf}&pad=".encode()
        for _ in range(100):
            yield b"x" * 4096

    response = await web.client.post(
        "/s/news",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert web.status("big@example.org") is None


async def test_a_list_title_with_a_line_break_cannot_add_headers_to_the_confirmation(
    web: Web,
) -> None:
    # `lists create` refuses such a title; a database written by other means may hold one.
    news = web.make_list()
    with web.store.transaction() as conn:
        conn.execute(
            "UPDATE lists SET title = ? WHERE id = ?", ("News\r\nBcc: victim@evil.example", news.id)
        )
    csrf = await web.form_token("/s/news")
    await web.client.post("/s/news", data={"email": "ann@example.org", "csrf": csrf})
    (message,) = web.outbox()
    assert message["Bcc"] is None
    assert message["Subject"] == "Confirm your subscription to News Bcc: victim@evil.example"


async def test_a_confirmation_link_cannot_confirm_whoever_later_got_the_same_number(
    web: Web,
) -> None:
    """Ids are never reused, but a database restored or edited by hand may give a
    forgotten person's number to someone else; their pending link must not carry over."""
    news = web.make_list()
    csrf = await web.form_token("/s/news")
    await web.client.post("/s/news", data={"email": "gone@example.org", "csrf": csrf})
    link = confirm_link(web.outbox()[0])
    gone = web.subscriber_id("gone@example.org")
    membership.forget(web.store, "gone@example.org", replies_folder=web.config.replies_path)
    with web.store.transaction() as conn:
        conn.execute(
            "INSERT INTO subscribers (id, email, email_key, created_at, updated_at) "
            "VALUES (?, 'new@example.org', 'new@example.org', 'now', 'now')",
            (gone,),
        )
    added = membership.add(
        web.store, news, normalize_address("new@example.org"), consent=Consent("cli")
    )
    assert added.subscriber is not None and added.subscriber.id == gone
    page = await web.client.get(link)
    response = await web.client.post(link, data={"csrf": csrf_of(page.text)})
    assert response.status_code == 400
    row = web.subscription(gone, news.id)
    assert row is not None and row["status"] == "unconfirmed"


async def test_a_confirmation_link_cannot_confirm_a_list_that_later_got_the_same_number(
    web: Web,
) -> None:
    old = web.make_list("old")
    csrf = await web.form_token("/s/old")
    await web.client.post("/s/old", data={"email": "ann@example.org", "csrf": csrf})
    link = confirm_link(web.outbox()[0])
    remove_list(web.store, "old")
    with web.store.transaction() as conn:  # a number handed out again (restored database)
        conn.execute(
            "INSERT INTO lists (id, name, title, double_optin, public, created_at) "
            "VALUES (?, 'new', 'New', 1, 1, 'now')",
            (old.id,),
        )
    new = get_list(web.store, "new")
    assert new.id == old.id
    page = await web.client.get(link)
    response = await web.client.post(link, data={"csrf": csrf_of(page.text)})
    assert response.status_code == 400
    assert web.subscription(web.subscriber_id("ann@example.org"), new.id) is None


async def test_per_client_limit_counts_an_ipv6_network_as_one_client(web: Web) -> None:
    """Whoever has one IPv6 address usually has its whole /64 to hop around in."""
    web.make_list()
    limit = web.config.web.subscribe_limit
    statuses = []
    for number in range(limit + 1):
        hopping = web.client_from(f"2001:db8:1:2::{number + 1}")
        async with hopping:
            page = await hopping.get("/s/news")
            response = await hopping.post(
                "/s/news", data={"email": f"p{number}@example.org", "csrf": csrf_of(page.text)}
            )
        statuses.append(response.status_code)
    assert statuses == [200] * limit + [429]
    neighbour = web.client_from("2001:db8:1:3::1")
    async with neighbour:
        page = await neighbour.get("/s/news")
        response = await neighbour.post(
            "/s/news", data={"email": "other@example.org", "csrf": csrf_of(page.text)}
        )
    assert response.status_code == 200


async def test_a_post_with_another_body_than_rfc_8058_says_unsubscribes_nobody(web: Web) -> None:
    news = web.make_list()
    sid = web.subscribe(news, "ann@example.org")
    url = f"/u/{web.signer.unsubscribe(sid, news.id)}"
    exact = b"List-Unsubscribe=One-Click"
    bodies: dict[str, dict[str, Any]] = {
        "empty": {"content": b""},
        "not a form": {"content": exact, "headers": {"Content-Type": "text/plain"}},
        "json": {"json": {"List-Unsubscribe": "One-Click"}},
        "other value": {"data": {"List-Unsubscribe": "one-click"}},
        "other field": {"data": {"Unsubscribe": "One-Click"}},
        "broken multipart": {
            "content": exact,
            "headers": {"Content-Type": "multipart/form-data; boundary=x"},
        },
    }
    for kind, request in bodies.items():
        response = await web.client.post(url, **request)
        assert response.status_code == 400, kind
        assert response.headers["content-type"].startswith("text/html"), kind
        row = web.subscription(sid, news.id)
        assert row is not None and row["status"] == "confirmed", kind


async def test_a_database_that_cannot_be_written_answers_503_in_one_log_line(
    web: Web, monkeypatch: Any, caplog: Any
) -> None:
    """A read-only database (SQLite's SQLITE_READONLY) during a one-click unsubscribe."""
    import logging

    from mailer.store import database

    news = web.make_list()
    sid = web.subscribe(news, "ann@example.org")
    url = f"/u/{web.signer.unsubscribe(sid, news.id, 0)}"
    connect = database._connect

    def read_only(path: Path, busy_timeout: float) -> sqlite3.Connection:
        conn = connect(path, busy_timeout)
        conn.execute("PRAGMA query_only = ON")
        return conn

    monkeypatch.setattr(database, "_connect", read_only)
    web.app.state.web.stores.close_all()  # the app's threads open their connections anew
    with caplog.at_level(logging.ERROR):
        response = await web.client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "300"
    assert "try again later" in response.text.lower() and "Traceback" not in response.text
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None
    assert "readonly" in errors[0].getMessage()
    row = web.subscription(sid, news.id)
    assert row is not None and row["status"] == "confirmed"
