"""A letter in several languages: tags, translations beside the original, who gets which."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailer.errors import InputError
from mailer.languages import choose, closest, normalize_tag
from mailer.letters.editions import load_editions, translation_path
from tests.conftest import SECRET, Invoke
from tests.web_helpers import read_outbox


@pytest.mark.parametrize(
    ("raw", "tag"),
    [("es", "es"), ("PT_br", "pt-BR"), ("zh-hant-tw", "zh-Hant-TW"), ("es-419", "es-419"),
     (" DE ", "de"), ("", "")],
)
def test_language_tags_are_written_one_way(raw: str, tag: str) -> None:
    assert normalize_tag(raw) == tag


@pytest.mark.parametrize("raw", ["spanish", "e", "pt-", "12", "en US"])
def test_a_malformed_language_tag_is_refused(raw: str) -> None:
    with pytest.raises(InputError, match="not a language tag"):
        normalize_tag(raw)


def test_the_closest_language_on_offer() -> None:
    assert closest("pt-BR", ["es", "pt"]) == "pt"
    assert closest("pt", ["es", "pt-BR"]) == "pt-BR"
    assert closest("fr", ["es", "pt"]) is None
    assert choose("fr", ["es", "de"], default="de") == "de"
    assert choose("", ["es", "de"], default="") is None


ORIGINAL = """---
subject: Strike on Monday
list: members
language: en
template: letter
organization: Dockers' Federation
preheader: Read before Monday
---

Dear {{ subscriber.name or "members" }},

the strike starts on Monday.
"""

SPANISH = """---
subject: Huelga el lunes
preheader: Leer antes del lunes
---

Estimados {{ subscriber.name or "miembros" }}:

la huelga empieza el lunes.
"""

PORTUGUESE = """---
subject: Greve na segunda-feira
---

Caros {{ subscriber.name or "membros" }},

a greve começa na segunda-feira.
"""

GERMAN = """---
subject: Streik am Montag
organization: Hafenarbeiterverband
---

Liebe {{ subscriber.name or "Mitglieder" }},

der Streik beginnt am Montag.
"""


@pytest.fixture
def strike(tmp_path: Path) -> Path:
    """The original in English with translations into Spanish, Portuguese and German."""
    folder = tmp_path / "letters"
    folder.mkdir()
    original = folder / "2026-12-01-strike.md"
    original.write_text(ORIGINAL, encoding="utf-8")
    for tag, text in (("es", SPANISH), ("pt", PORTUGUESE), ("de", GERMAN)):
        translation_path(original, tag).write_text(text, encoding="utf-8")
    (folder / "2026-12-01-strike.draft.md").write_text("not a translation", encoding="utf-8")
    return original


def test_translations_beside_the_original_are_found_and_share_its_front_matter(
    strike: Path,
) -> None:
    editions = load_editions(strike)
    assert editions.languages == ["en", "de", "es", "pt"]
    spanish = editions.edition("es")
    assert spanish.subject == "Huelga el lunes"
    assert spanish.meta["preheader"] == "Leer antes del lunes"
    assert spanish.meta["organization"] == "Dockers' Federation"  # the original's
    assert spanish.list_name == "members"
    portuguese = editions.edition("pt")
    assert portuguese.meta["preheader"] == ""  # its own (none), never the English one
    assert editions.edition("de").meta["organization"] == "Hafenarbeiterverband"


def test_a_translation_is_not_taken_for_the_original(strike: Path) -> None:
    with pytest.raises(InputError, match=r"translation; pass the original letter, 2026-12-01"):
        load_editions(translation_path(strike, "es"))


def test_a_translation_into_the_originals_own_language_is_refused(strike: Path) -> None:
    translation_path(strike, "en").write_text(SPANISH, encoding="utf-8")
    with pytest.raises(InputError, match="the original is in en already"):
        load_editions(strike)


def test_a_translation_whose_language_key_disagrees_with_its_name_is_refused(
    strike: Path,
) -> None:
    translation_path(strike, "es").write_text(
        SPANISH.replace("---\nsubject", "---\nlanguage: fr\nsubject", 1), encoding="utf-8"
    )
    with pytest.raises(InputError, match="the file name says 'es'"):
        load_editions(strike)


def test_letters_translate_writes_a_skeleton_once(invoke: Invoke, strike: Path) -> None:
    translation_path(strike, "de").unlink()
    result = invoke("letters", "translate", str(strike), "--lang", "DE")
    assert result.exit_code == 0, result.output
    written = translation_path(strike, "de")
    assert result.output.strip() == str(written)
    text = written.read_text(encoding="utf-8")
    assert text.startswith('---\nlanguage: de\nsubject: "Strike on Monday"\n')
    assert "the strike starts on Monday." in text
    again = invoke("letters", "translate", str(strike), "--lang", "de")
    assert again.exit_code == 1
    assert "the translation exists already" in again.output
    assert invoke("lists", "create", "members").exit_code == 0
    check = json.loads(invoke("letters", "check", str(strike), "--json").stdout)
    assert "the de translation's body is still the original's" in check["warnings"]


def _by_recipient(messages: list[EmailMessage]) -> dict[str, EmailMessage]:
    return {str(m["To"]).split("<")[-1].rstrip(">"): m for m in messages}


def test_each_reader_gets_their_language_the_closest_or_the_lists_default(
    invoke: Invoke, strike: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    assert invoke("lists", "create", "members", "--language", "de", "--languages",
                  "de,es,pt,en").exit_code == 0
    for address, language in (("ana@example.org", "es"), ("joao@example.org", "pt-BR"),
                              ("kim@example.org", ""), ("amy@example.org", "en")):
        added = invoke("subscribers", "add", address, "--list", "members",
                       "--language", language)
        assert added.exit_code == 0, added.output
    dry = invoke("send", str(strike), "--list", "members", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "de: 1 recipient (in place of their own: 1 reading an unknown language)" in dry.output
    assert "pt: 1 recipient (in place of their own: 1 reading pt-BR)" in dry.output
    sent = invoke("send", str(strike), "--list", "members", "--yes")
    assert sent.exit_code == 0, sent.output
    got = _by_recipient(read_outbox(tmp_path / "outbox"))
    expected = {
        "ana@example.org": ("es", "Huelga el lunes", "la huelga empieza"),
        "joao@example.org": ("pt", "Greve na segunda-feira", "a greve começa"),
        "kim@example.org": ("de", "Streik am Montag", "der Streik beginnt"),
        "amy@example.org": ("en", "Strike on Monday", "the strike starts"),
    }
    for address, (language, subject, words) in expected.items():
        message = got[address]
        assert message["Content-Language"] == language
        assert message["Subject"] == subject
        text = message.get_body(("plain",))
        assert text is not None and words in text.get_content()


def test_a_campaign_keeps_its_translations_as_they_were_when_it_was_made(
    invoke: Invoke, strike: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resume sends what was checked, even after the files changed or went away."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    assert invoke("lists", "create", "members").exit_code == 0
    assert invoke("subscribers", "add", "ana@example.org", "--list", "members",
                  "--language", "es").exit_code == 0
    from mailer.dispatch.plan import create_campaign, plan_send
    from mailer.letters.editions import load_editions
    from mailer.store import open_store
    from mailer.store.lists import get_list

    with open_store(tmp_path / "mailer.db") as store:
        plan = plan_send(store, load_editions(strike), [get_list(store, "members")], "")
        campaign = create_campaign(store, plan)
    translation_path(strike, "es").unlink()
    strike.unlink()
    resumed = invoke("campaigns", "resume", str(campaign.id))
    assert resumed.exit_code == 0, resumed.output
    (message,) = read_outbox(tmp_path / "outbox")
    assert message["Subject"] == "Huelga el lunes"


def test_a_subject_may_greet_each_reader_and_leftover_syntax_is_an_error(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    assert invoke("lists", "create", "members").exit_code == 0
    assert invoke("subscribers", "add", "ana@example.org", "--list", "members",
                  "--name", "Ana Lima").exit_code == 0
    letter = tmp_path / "hello.md"
    letter.write_text(
        '---\nsubject: "{{ subscriber.name }}, the strike starts"\n---\n\nHello.\n',
        encoding="utf-8",
    )
    assert invoke("send", str(letter), "--list", "members", "--yes").exit_code == 0
    (message,) = read_outbox(tmp_path / "outbox")
    assert message["Subject"] == "Ana Lima, the strike starts"
    assert len(message.get_all("Subject") or []) == 1
    broken = tmp_path / "broken.md"
    broken.write_text(
        '---\nsubject: "{{ subscriber.name }, the strike"\n---\n\nHello.\n', encoding="utf-8"
    )
    result = invoke("letters", "check", str(broken), "--list", "members")
    assert result.exit_code == 1
    assert "subject" in result.output
    leftover = tmp_path / "leftover.md"
    leftover.write_text(
        '---\nsubject: Fine\npreheader: "Hi {{ subscriber.name }}"\n---\n\nHello.\n',
        encoding="utf-8",
    )
    result = invoke("letters", "check", str(leftover), "--list", "members")
    assert result.exit_code == 1
    assert "preheader: template syntax is left after rendering" in result.output


def _send_strike_to_three(
    invoke: Invoke, strike: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, EmailMessage]:
    """The strike letter (dated 1 December 2026) sent to readers of es, pt-BR and sw on a
    list whose default is de."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    strike.write_text(ORIGINAL.replace("language: en\n", "language: en\ndate: 2026-12-01\n"),
                      encoding="utf-8")
    # Public (so letters link to the archive), single opt-in (so `add` subscribes at once).
    assert invoke("lists", "create", "members", "--title", "Dockers", "--public",
                  "--no-double-optin", "--language", "de", "--languages", "de,es,pt"
                  ).exit_code == 0
    for address, language in (("ana@example.org", "es"), ("joao@example.org", "pt-BR"),
                              ("juma@example.org", "sw")):
        added = invoke("subscribers", "add", address, "--list", "members",
                       "--language", language)
        assert added.exit_code == 0, added.output
    sent = invoke("send", str(strike), "--list", "members", "--yes")
    assert sent.exit_code == 0, sent.output
    return _by_recipient(read_outbox(tmp_path / "outbox"))


def _parts(message: EmailMessage) -> tuple[str, str]:
    html, text = message.get_body(("html",)), message.get_body(("plain",))
    assert html is not None and text is not None
    return html.get_content(), " ".join(text.get_content().split())


def test_the_layout_speaks_the_language_of_each_readers_edition(
    invoke: Invoke, strike: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    got = _send_strike_to_three(invoke, strike, tmp_path, monkeypatch)
    expected = {
        "ana@example.org": ("es", "1 de diciembre de 2026",
                            "Recibe esta carta porque la dirección ana@example.org está "
                            "suscrita a Dockers.", "Darse de baja", "Ver esta carta en la web"),
        "joao@example.org": ("pt", "1 de dezembro de 2026",
                             "Você recebe esta carta porque o endereço joao@example.org está "
                             "inscrito em Dockers.", "Cancelar inscrição", "Ver esta carta na web"),
        "juma@example.org": ("de", "1. Dezember 2026",
                             "Sie erhalten diesen Brief, weil juma@example.org bei Dockers "
                             "angemeldet ist.", "Abmelden", "Diesen Brief im Web lesen"),
    }
    for address, (language, date, footer, unsubscribe, online) in expected.items():
        message = got[address]
        assert message["Content-Language"] == language
        html, text = _parts(message)
        assert f'<html lang="{language}">' in html
        for part in (html, text):
            assert date in part
            assert footer in part
            assert "You receive this letter" not in part
        assert f">{unsubscribe}</a>" in html
        assert f"{unsubscribe}: http" in text
        assert f">{online}</a>" in html
        assert f"{online}: http" in text


def test_a_sentence_a_catalogue_lacks_stays_english_beside_the_translated_ones(
    invoke: Invoke, strike: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A layout of one's own may add sentences of its own: English until translated."""
    from mailer.resources import default_templates

    shipped = (default_templates() / "letter.txt.j2").read_text(encoding="utf-8")
    own = tmp_path / "templates"
    own.mkdir()
    (own / "letter.txt.j2").write_text(
        shipped
        + '{% trans %}Printed on recycled electrons.{% endtrans %} {{ _("Unsubscribe") }}\n',
        encoding="utf-8",
    )
    got = _send_strike_to_three(invoke, strike, tmp_path, monkeypatch)
    _, text = _parts(got["ana@example.org"])
    assert "Recibe esta carta porque" in text
    assert text.endswith("Printed on recycled electrons. Darse de baja")
