"""The subscribe form is not a weapon: addresses, names and old links from strangers."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.contacts.addresses import check_name
from mailer.errors import InputError
from mailer.store import subscriptions
from tests.clocks import FakeClock
from tests.conftest import Invoke
from tests.web_helpers import (
    Web,
    confirm_link,
    csrf_of,
)

ENCODED = [
    "=?utf-8?q?victim?=@example.com",
    "=?utf-8?q?victim=40example.net=2C_other?=@example.com",
    "=?utf-8?b?dmljdGltQGV4YW1wbGUubmV0AA==?=@example.com",  # a NUL inside
    "=?utf-8?q?a=0D=0ABcc:_x@example.net?=@example.com",  # a header line inside
]


@pytest.mark.parametrize("address", ENCODED)
async def test_the_form_refuses_an_address_holding_an_encoded_word(
    web: Web, address: str
) -> None:
    web.make_list()
    csrf = await web.form_token("/s/news")
    response = await web.client.post("/s/news", data={"email": address, "csrf": csrf})
    assert response.status_code == 400
    assert "does not look like an e-mail address" in response.text
    assert web.store.one("SELECT count(*) FROM subscribers")[0] == 0
    assert web.outbox() == []


@pytest.mark.parametrize("address", ENCODED[:2])
def test_add_and_import_refuse_an_address_holding_an_encoded_word(
    invoke: Invoke, tmp_path: Path, address: str
) -> None:
    assert invoke("lists", "create", "news").exit_code == 0
    added = invoke("subscribers", "add", address, "--list", "news")
    assert added.exit_code == 1 and "encoded word" in added.output
    csv = tmp_path / "people.csv"
    csv.write_text(f'email\n"{address}"\nok@example.org\n', encoding="utf-8")
    imported = invoke("subscribers", "import", str(csv), "--list", "news", "--json")
    assert '"invalid": 1' in imported.output and '"added": 1' in imported.output


async def test_the_confirmation_goes_to_the_address_that_was_checked(web: Web) -> None:
    web.make_list()
    csrf = await web.form_token("/s/news")
    await web.client.post("/s/news", data={"email": "Ann@Example.org", "csrf": csrf})
    (path,) = (web.config.outbox_path / "new").iterdir()
    envelope = path.read_bytes().split(b"\r\n")[:2]
    assert envelope[1] == b"Delivered-To: Ann@example.org"


@pytest.mark.parametrize(
    "name",
    [
        "Sam. URGENT: verify at https://evil.example/login",
        "Sam, see evil.example/login",
        "Visit www.example.com",
        "write to sam@evil.example",
        "Sam\x1b[31m",
        "Sam\x07",
        "Sam\nBcc: someone",
        "Sam\u202eeman",
        "S" * 101,
    ],
)
async def test_the_form_refuses_a_name_with_a_link_a_control_character_or_too_long(
    web: Web, name: str
) -> None:
    web.make_list(double_optin=False)
    csrf = await web.form_token("/s/news")
    response = await web.client.post(
        "/s/news", data={"email": "sam@example.org", "name": name, "csrf": csrf}
    )
    assert response.status_code == 400
    assert "Please check the name" in response.text
    assert web.store.one("SELECT count(*) FROM subscribers")[0] == 0


@pytest.mark.parametrize("name", ["Sam O'Neill", "José María Pérez-Ruiz", "李雷", "J. R. Smith",
                                  "زهرا\u200cکریمی", ""])
def test_ordinary_names_pass(name: str) -> None:
    assert check_name(f"  {name}  ") == name


def test_a_name_that_is_not_allowed_says_why() -> None:
    with pytest.raises(InputError, match="web or e-mail address"):
        check_name("see https://evil.example")


def test_a_public_list_gets_double_optin_unless_told_otherwise(invoke: Invoke) -> None:
    assert invoke("lists", "create", "open", "--public").exit_code == 0
    assert '"double_optin": true' in invoke("lists", "show", "open", "--json").output
    explicit = invoke("lists", "create", "risky", "--public", "--no-double-optin")
    assert explicit.exit_code == 0
    assert "warning: a public list without double opt-in" in explicit.output
    assert '"double_optin": false' in invoke("lists", "show", "risky", "--json").output
    assert invoke("lists", "create", "private").exit_code == 0
    assert '"double_optin": false' in invoke("lists", "show", "private", "--json").output


async def test_an_old_confirmation_link_does_not_undo_a_later_unsubscribe(
    web: Web, fake_clock: FakeClock
) -> None:
    news = web.make_list()
    csrf = await web.form_token("/s/news")
    await web.client.post("/s/news", data={"email": "ann@example.org", "csrf": csrf})
    (first,) = web.outbox()
    link = confirm_link(first)
    page = await web.client.get(link)
    assert (await web.client.post(link, data={"csrf": csrf_of(page.text)})).status_code == 200
    sid = web.subscriber_id("ann@example.org")
    # A minute later Ann leaves; the old link still sits in her mailbox.
    fake_clock.advance(minutes=1)
    with web.store.transaction() as conn:
        subscriptions.leave(conn, sid, news.id, method="test")
    page = await web.client.get(link)
    again = await web.client.post(link, data={"csrf": csrf_of(page.text)})
    assert again.status_code == 400
    row = web.subscription(sid, news.id)
    assert row is not None and row["status"] == "unsubscribed"
    # A link she asks for after leaving works.
    fake_clock.advance(minutes=1)
    csrf = await web.form_token("/s/news")
    await web.client.post("/s/news", data={"email": "ann@example.org", "csrf": csrf})
    fresh = confirm_link(web.outbox()[-1])
    page = await web.client.get(fresh)
    assert (await web.client.post(fresh, data={"csrf": csrf_of(page.text)})).status_code == 200
    row = web.subscription(sid, news.id)
    assert row is not None and row["status"] == "confirmed"


def test_the_command_line_never_prints_control_characters_from_stored_text(
    invoke: Invoke,
) -> None:
    assert invoke("lists", "create", "news", "--title", "News\x1b]0;owned\x07").exit_code == 0
    added = invoke("subscribers", "add", "eve@example.org", "--list", "news",
                   "--name", "Eve\x1b[2J\x1b[31mRED", "--attr", "note=\x07bell")
    assert added.exit_code == 0, added.output
    for args in (("subscribers", "ls"), ("subscribers", "show", "eve@example.org"),
                 ("lists", "ls"), ("lists", "show", "news")):
        output = invoke(*args).output
        assert "\x1b" not in output and "\x07" not in output, args
        assert "Eve" in output or "News" in output
