"""The catalogues: which one a reader gets, English when there is none, dates, and that
the catalogues shipped are complete and in step with the code and templates."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mailer import i18n
from mailer.i18n import catalogue_language, catalogue_languages, long_date, translations
from mailer.i18n_jinja import EXTENSIONS, install
from mailer.resources import default_templates

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "mailer" / "locale"
TRANSLATED = ("es", "de", "fr", "pt")


def test_the_shipped_catalogues_are_english_and_at_least_four_more() -> None:
    assert catalogue_languages()[0] == "en"
    assert set(TRANSLATED) <= set(catalogue_languages())


@pytest.mark.parametrize(
    ("wanted", "catalogue"),
    [("es", "es"), ("pt-BR", "pt"), ("de-AT", "de"), ("fr-CA", "fr"), ("sw", "en"), ("", "en")],
)
def test_a_reader_gets_the_closest_catalogue_and_english_without_one(
    wanted: str, catalogue: str
) -> None:
    assert catalogue_language(wanted) == catalogue


def test_the_first_language_with_a_catalogue_wins() -> None:
    assert catalogue_language("sw", "it", "fr-BE", "es") == "fr"


def test_sentences_come_from_the_readers_catalogue_or_stay_english() -> None:
    assert translations("pt-BR").gettext("Unsubscribe") == "Cancelar inscrição"
    assert translations("de").gettext("Unsubscribe") == "Abmelden"
    assert translations("sw").gettext("Unsubscribe") == "Unsubscribe"
    assert translations("es").gettext("A sentence no catalogue holds") == (
        "A sentence no catalogue holds"
    )


@pytest.fixture
def own_locale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A locale folder of the test's own, read instead of the shipped one."""
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    for cache in (i18n.catalogue_languages, i18n._load):
        cache.cache_clear()
    yield tmp_path
    for cache in (i18n.catalogue_languages, i18n._load):
        cache.cache_clear()


def _write_catalogue(folder: Path, language: str, text: str) -> None:
    path = folder / language / "LC_MESSAGES" / "mailer.po"
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")


def test_a_missing_or_fuzzy_entry_falls_back_to_english(own_locale: Path) -> None:
    _write_catalogue(
        own_locale,
        "it",
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Unsubscribe"\nmsgstr "Annulla l\'iscrizione"\n\n'
        '#, fuzzy\nmsgid "Subscribe"\nmsgstr "Iscriviti (da rivedere)"\n\n'
        'msgid "Thank you"\nmsgstr ""\n',
    )
    italian = translations("it-CH")
    assert italian.gettext("Unsubscribe") == "Annulla l'iscrizione"
    assert italian.gettext("Subscribe") == "Subscribe"
    assert italian.gettext("Thank you") == "Thank you"


def test_a_broken_catalogue_means_english_not_an_error(
    own_locale: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write_catalogue(own_locale, "it", 'msgid "Unsubscribe"\nmsgstr "Annulla\n\x00 broken')
    (own_locale / "nl" / "LC_MESSAGES").mkdir(parents=True)
    (own_locale / "nl" / "LC_MESSAGES" / "mailer.po").mkdir()  # a folder, not a file
    assert translations("it").gettext("Unsubscribe") == "Unsubscribe"
    assert translations("nl").gettext("Unsubscribe") == "Unsubscribe"
    assert "cannot be read" in caplog.text


@pytest.mark.parametrize(
    ("language", "written"),
    [
        ("de", "1. Dezember 2026"),
        ("es", "1 de diciembre de 2026"),
        ("fr", "1 décembre 2026"),
        ("pt-BR", "1 de dezembro de 2026"),
        ("en", "1 December 2026"),
        ("en-US", "December 1, 2026"),
        ("", "1 December 2026"),
        ("it", "1 dicembre 2026"),  # CLDR knows it, though no catalogue does
        ("de-XX", "1. Dezember 2026"),
        ("qq", "1 December 2026"),
    ],
)
def test_dates_are_written_out_for_the_language(language: str, written: str) -> None:
    assert long_date(dt.date(2026, 12, 1), language) == written
    assert long_date("2026-12-01T10:00:00Z", language) == written


# -- {% trans %} blocks translated when a template loads ------------------------------------


def _environment(extensions: list[Any], language: str, **options: Any) -> jinja2.Environment:
    env = ImmutableSandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(default_templates())),
        undefined=jinja2.StrictUndefined,
        extensions=extensions,
        **options,
    )
    if extensions == EXTENSIONS:
        install(env, language)
    else:  # Jinja2's own extension, translating as it renders
        env.policies["ext.i18n.trimmed"] = True
        env.install_gettext_translations(  # type: ignore[attr-defined]
            translations(language), newstyle=True
        )
        env.filters["long_date"] = lambda value: long_date(value, language)
    return env


LETTER_CONTEXT = {
    "letter": {"subject": "Strike", "date": "2026-12-01", "language": "de", "preheader": ""},
    "list": {"title": "Harbour <News>", "name": "news"},
    "sender": {
        "organization": "Dockers & Co",
        "contact_email": "office@example.org",
        "contact_address": "Harbour Road 12\n20457 Hamburg",
    },
    "subscriber": {"email": "ana@example.org", "name": "Ana"},
    "unsubscribe_url": "https://lists.example.org/u/abc",
    "archive_url": "https://lists.example.org/archive/3",
    "body": "<p>Body</p>",
}
CONFIRM_CONTEXT = {
    "email": "ana@example.org",
    "list_title": "Harbour <News>",
    "list_name": "news",
    "confirm_url": "https://lists.example.org/c/abc",
    "organization": "Dockers & Co",
}


@pytest.mark.parametrize("language", ["en", *TRANSLATED])
@pytest.mark.parametrize(
    ("name", "context", "options"),
    [
        ("letter.html.j2", LETTER_CONTEXT, {"autoescape": True}),
        ("letter.txt.j2", LETTER_CONTEXT, {"trim_blocks": True, "lstrip_blocks": True}),
        ("confirm.txt.j2", {**CONFIRM_CONTEXT, "confirm_days": 1}, {}),
        ("confirm.txt.j2", {**CONFIRM_CONTEXT, "confirm_days": 7}, {}),
    ],
)
def test_blocks_translated_at_load_render_as_jinjas_own_extension_would(
    language: str, name: str, context: dict[str, Any], options: dict[str, Any]
) -> None:
    ours = _environment(EXTENSIONS, language, **options)
    jinjas = _environment(["jinja2.ext.i18n"], language, **options)
    if "trim_blocks" in options:
        for env in (ours, jinjas):
            env.filters["wordwrap"] = jinja2.filters.do_wordwrap
    source = ours.loader.get_source(ours, name)[0]  # type: ignore[union-attr]
    assert "{% trans" in source
    translated = ours.preprocess(source, name)
    assert "{% trans" not in translated.replace("{% trans count", "")
    assert ours.get_template(name).render(context) == jinjas.get_template(name).render(context)


def test_a_block_that_is_not_simple_is_left_to_the_extension() -> None:
    env = _environment(EXTENSIONS, "de", autoescape=True)
    source = (
        '{% trans "menu" %}Unsubscribe{% endtrans %}|'
        "{% trans n=2 %}{{ n }} day{% pluralize %}{{ n }} days{% endtrans %}|"
        "{% trans trimmed x=1 %}Unsubscribe{% endtrans %}|"
        "{% trans %}Unsubscribe{% endtrans %}"
    )
    assert env.preprocess(source).count("{% trans") == 3
    assert env.from_string(source).render() == "Unsubscribe|2 days|Abmelden|Abmelden"


# -- the catalogues themselves ----------------------------------------------------------------


def _extracted() -> set[str | tuple[str, ...]]:
    """The messages ``make messages`` finds, as babel.cfg tells it."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found: set[str | tuple[str, ...]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map
    ):
        found.add(message)
    return found


def _catalogue(path: Path, language: str | None = None) -> Any:
    return read_po(io.BytesIO(path.read_bytes()), locale=language)


def test_the_catalogues_are_in_step_with_the_code_and_templates() -> None:
    """``make messages`` regenerates them; a new or changed text must be extracted."""
    extracted = _extracted()
    assert "Unsubscribe" in extracted
    template = {message.id for message in _catalogue(LOCALE / "mailer.pot") if message.id}
    assert template == extracted, "run `make messages`"
    for language in catalogue_languages():
        path = LOCALE / language / "LC_MESSAGES" / "mailer.po"
        ids = {message.id for message in _catalogue(path, language) if message.id}
        assert ids == extracted, f"{language} is out of step: run `make messages`"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_text_is_translated_with_its_placeholders(language: str) -> None:
    catalogue = _catalogue(LOCALE / language / "LC_MESSAGES" / "mailer.po", language)
    for message in catalogue:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"{language}: {message.id!r} is not translated"
        assert not message.fuzzy, f"{language}: {message.id!r} is fuzzy"
        assert not any("{" in text or "}" in text for text in strings), message.id
    problems = [(message.id, errors) for message, errors in catalogue.check() if errors]
    assert problems == []  # placeholders the same as the English text's, plurals complete
