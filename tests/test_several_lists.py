"""One letter to several lists: each address once, as a member of the first list it is on."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from mailer.tokens import Signer
from tests.conftest import Invoke
from tests.web_helpers import SECRET, Web, read_outbox

LETTER = "---\nsubject: Solidarity\nlist: members\n---\n\nDear {{ subscriber.name }},\n\nhello.\n"


@pytest.fixture
def two_lists(invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Lists dockers (ann, bob, cy) and drivers (bob, cy, dee); cy left drivers."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    for name in ("dockers", "drivers", "members"):
        assert invoke("lists", "create", name).exit_code == 0
    for who, lists in (("ann", ["dockers"]), ("bob", ["dockers", "drivers"]),
                       ("cy", ["dockers", "drivers"]), ("dee", ["drivers"])):
        for each in lists:
            added = invoke("subscribers", "add", f"{who}@example.org", "--list", each,
                           "--name", who.title())
            assert added.exit_code == 0, added.output
    left = invoke("subscribers", "unsubscribe", "cy@example.org", "--list", "drivers")
    assert left.exit_code == 0, left.output
    letter = tmp_path / "solidarity.md"
    letter.write_text(LETTER, encoding="utf-8")
    return letter


def test_a_member_of_both_lists_gets_the_letter_once(
    invoke: Invoke, two_lists: Path, tmp_path: Path
) -> None:
    dry = json.loads(invoke("send", str(two_lists), "--list", "dockers", "--list", "drivers",
                            "--dry-run", "--json").stdout)
    assert dry["recipients"] == 4
    check = json.loads(invoke("letters", "check", str(two_lists), "--list", "dockers",
                              "--list", "drivers", "--json").stdout)
    assert check["checked"] == 4
    result = invoke("send", str(two_lists), "--list", "dockers", "--list", "drivers", "--yes")
    assert result.exit_code == 0, result.output
    assert "warning: the letter names list members, which is not among --list" in result.output
    messages = read_outbox(tmp_path / "outbox")
    recipients = sorted(str(m["To"]) for m in messages)
    assert recipients == ["Ann <ann@example.org>", "Bob <bob@example.org>",
                          "Cy <cy@example.org>", "Dee <dee@example.org>"]
    list_ids = {str(m["To"]).split()[0]: str(m["List-Id"]) for m in messages}
    assert "dockers." in list_ids["Bob"]  # the first list given that he is on
    assert "dockers." in list_ids["Cy"]
    assert "drivers." in list_ids["Dee"]
    shown = json.loads(invoke("campaigns", "show", "1", "--json").stdout)
    assert shown["lists"] == {"dockers": 3, "drivers": 1}


async def test_unsubscribing_from_a_letter_to_two_lists_leaves_the_list_it_came_through(
    web: Web, invoke: Invoke, two_lists: Path
) -> None:
    # The send runs its own event loop: off this test's loop, in a thread.
    result = await asyncio.to_thread(
        invoke, "send", str(two_lists), "--list", "drivers", "--list", "dockers", "--yes"
    )
    assert result.exit_code == 0, result.output
    messages = {str(m["To"]).split()[0]: m for m in read_outbox(web.config.outbox_path)}
    bob = messages["Bob"]  # on both: the letter came to him through drivers, given first
    url = str(bob["List-Unsubscribe"]).split(",")[0].strip().strip("<>")
    claim = Signer(SECRET).verify(url.rsplit("/", 1)[1], "u")
    assert claim is not None
    answer = await web.client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200, answer.text
    shown = invoke("subscribers", "show", "bob@example.org", "--json")
    standing = {s["list"]: s["status"] for s in json.loads(shown.stdout)["subscriptions"]}
    assert standing == {"dockers": "confirmed", "drivers": "unsubscribed"}


def test_a_list_named_twice_counts_once(invoke: Invoke, two_lists: Path) -> None:
    dry = json.loads(invoke("send", str(two_lists), "--list", "dockers", "--list", "dockers",
                            "--dry-run", "--json").stdout)
    assert dry["recipients"] == 3


def test_the_shipped_circular_goes_to_two_lists_in_two_languages_with_its_resolution(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``make demo`` shows, on the files the project ships."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    root = Path(__file__).parent.parent
    assert invoke("lists", "create", "members", "--language", "es",
                  "--languages", "es,en").exit_code == 0
    assert invoke("lists", "create", "press", "--language", "en",
                  "--languages", "en,es").exit_code == 0
    for file, name in ((root / "lists" / "example.csv", "members"),
                       (root / "lists" / "press.csv", "press")):
        assert invoke("subscribers", "import", str(file), "--list", name).exit_code == 0
    letter = root / "letters" / "solidarity.md"
    sent = invoke("send", str(letter), "--list", "members", "--list", "press", "--yes")
    assert sent.exit_code == 0, sent.output
    messages = read_outbox(tmp_path / "outbox")
    languages = sorted(str(m["Content-Language"]) for m in messages)
    assert languages == ["en"] * 4 + ["es"] * 17
    resolution = (root / "letters" / "resolution.pdf").read_bytes()
    for message in messages:
        files = [(p.get_filename(), p.get_content()) for p in message.iter_attachments()]
        assert files == [("resolution.pdf", resolution)]
