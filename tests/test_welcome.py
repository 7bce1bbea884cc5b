"""A list's welcome letter: to each new member once, in their language, never on its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailer.config import load_config
from mailer.dispatch.welcome import set_welcome, welcome
from mailer.letters.editions import load_editions, translation_path
from mailer.store import open_store
from mailer.store.lists import get_list
from mailer.store.subscribers import get_subscriber
from tests.conftest import SECRET, Invoke
from tests.web_helpers import Web, confirm_link, csrf_of, read_outbox

WELCOME = """---
subject: Welcome to {{ list.title }}
language: en
---

Dear {{ subscriber.name or "friend" }}, welcome to the federation's news.
"""
BIENVENIDA = """---
subject: Bienvenida a {{ list.title }}
---

Hola {{ subscriber.name or "amiga" }}, te damos la bienvenida.
"""


@pytest.fixture
def welcome_letter(tmp_path: Path) -> Path:
    letter = tmp_path / "welcome.md"
    letter.write_text(WELCOME, encoding="utf-8")
    translation_path(letter, "es").write_text(BIENVENIDA, encoding="utf-8")
    return letter


@pytest.fixture
def members(invoke: Invoke, welcome_letter: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """List members (title Members) with the welcome letter set."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    assert invoke("lists", "create", "members", "--title", "Members").exit_code == 0
    result = invoke("lists", "update", "members", "--welcome", str(welcome_letter))
    assert result.exit_code == 0, result.output
    assert "welcome letter of list members" in result.output


def _subjects(tmp_path: Path) -> list[tuple[str, str]]:
    return [(str(m["To"]), str(m["Subject"])) for m in read_outbox(tmp_path / "outbox")]


def test_a_new_member_is_welcomed_once_in_their_language(
    invoke: Invoke, members: None, tmp_path: Path
) -> None:
    added = invoke("subscribers", "add", "ana@example.org", "--list", "members",
                   "--language", "es", "--welcome")
    assert added.exit_code == 0, added.output
    assert "welcome letter sent" in added.output
    assert _subjects(tmp_path) == [("ana@example.org", "Bienvenida a Members")]
    history = json.loads(invoke("subscribers", "show", "ana@example.org", "--json").stdout)
    assert any(event["kind"] == "welcome letter" for event in history["history"])
    ls = json.loads(invoke("campaigns", "ls", "--json").stdout)
    assert [(c["kind"], c["state"], c["sent"]) for c in ls] == [("welcome", "sending", 1)]


def test_without_welcome_the_command_line_sends_nothing(
    invoke: Invoke, members: None, tmp_path: Path
) -> None:
    assert invoke("subscribers", "add", "ben@example.org", "--list", "members").exit_code == 0
    assert _subjects(tmp_path) == []
    # A later --welcome for someone already on the list does nothing either.
    again = invoke("subscribers", "add", "ben@example.org", "--list", "members", "--welcome")
    assert again.exit_code == 0
    assert _subjects(tmp_path) == []


def test_an_import_welcomes_only_with_welcome_and_only_its_new_members(
    invoke: Invoke, members: None, tmp_path: Path
) -> None:
    assert invoke("subscribers", "add", "old@example.org", "--list", "members").exit_code == 0
    first = tmp_path / "first.csv"
    first.write_text("email,name,language\nana@example.org,Ana,es\n", encoding="utf-8")
    quiet = invoke("subscribers", "import", str(first), "--list", "members")
    assert quiet.exit_code == 0, quiet.output
    assert _subjects(tmp_path) == []  # an import on its own welcomes nobody
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "email,name,language\nold@example.org,Old,en\nana@example.org,Ana,es\n"
        "ben@example.org,Ben,en\ncarla@example.org,Carla,es\n",
        encoding="utf-8",
    )
    imported = invoke("subscribers", "import", str(contacts), "--list", "members", "--welcome",
                      "--json")
    assert imported.exit_code == 0, imported.output
    report = json.loads(imported.stdout)
    assert report["welcomed"] == 2 and report["import"]["added"] == 2
    assert sorted(_subjects(tmp_path)) == [
        ("Ben <ben@example.org>", "Welcome to Members"),
        ("Carla <carla@example.org>", "Bienvenida a Members"),
    ]
    again = invoke("subscribers", "import", str(contacts), "--list", "members", "--welcome")
    assert again.exit_code == 0 and "sent to 0 new member(s)" in again.output
    assert len(_subjects(tmp_path)) == 2


def test_a_new_welcome_letter_does_not_welcome_anyone_twice(
    invoke: Invoke, members: None, tmp_path: Path, welcome_letter: Path, db_path: Path
) -> None:
    assert invoke("subscribers", "add", "cy@example.org", "--list", "members",
                  "--welcome").exit_code == 0
    welcome_letter.write_text(WELCOME.replace("Welcome to", "A warm welcome to"),
                              encoding="utf-8")
    assert invoke("lists", "update", "members", "--welcome", str(welcome_letter)).exit_code == 0
    config = load_config(None, env={"MAILER_SECRET_KEY": SECRET}, db=db_path)
    with open_store(db_path) as store:
        cy = get_subscriber(store, "cy@example.org").id
        assert not welcome(config, store, get_list(store, "members").id, cy)
    assert invoke("subscribers", "add", "dee@example.org", "--list", "members",
                  "--welcome").exit_code == 0
    assert sorted(_subjects(tmp_path)) == [
        ("cy@example.org", "Welcome to Members"),
        ("dee@example.org", "A warm welcome to Members"),
    ]
    assert invoke("lists", "update", "members", "--no-welcome").exit_code == 0
    assert invoke("subscribers", "add", "eve@example.org", "--list", "members",
                  "--welcome").exit_code == 0
    assert len(_subjects(tmp_path)) == 2


def test_campaigns_run_retries_a_welcome_letter_and_never_closes_it(
    invoke: Invoke, members: None, tmp_path: Path
) -> None:
    assert invoke("subscribers", "add", "fay@example.org", "--list", "members",
                  "--welcome").exit_code == 0
    ran = invoke("campaigns", "run")
    assert ran.exit_code == 0, ran.output
    shown = json.loads(invoke("campaigns", "show", "1", "--json").stdout)
    assert (shown["kind"], shown["state"], shown["sent"]) == ("welcome", "sending", 1)


async def test_confirming_on_the_web_brings_the_welcome_letter(
    web: Web, welcome_letter: Path
) -> None:
    news = web.make_list("news", title="News")
    set_welcome(web.config, web.store, news, load_editions(welcome_letter))
    csrf = await web.form_token("/s/news")
    await web.client.post("/s/news", data={"email": "gil@example.org", "csrf": csrf})
    (confirmation,) = web.outbox()
    link = confirm_link(confirmation)
    page = await web.client.get(link)
    answer = await web.client.post(link, data={"csrf": csrf_of(page.text)})
    assert answer.status_code == 200
    subjects = [str(m["Subject"]) for m in web.outbox()]
    assert subjects[1:] == ["Welcome to News"]
    # Confirming again is no new join, and no second welcome.
    await web.client.post(link, data={"csrf": csrf_of(page.text)})
    assert len(web.outbox()) == 2
    assert get_list(web.store, "news").welcome_campaign_id is not None
