"""What mailer writes itself, in the reader's language: gettext catalogues and dates.

The catalogues ship inside the package as ``mailer/locale/<tag>/LC_MESSAGES/
mailer.po``, one per language, and are read with Babel when first needed,
then kept for the life of the process. Reading the ``.po`` files (instead of
``.mo`` files compiled when the wheel is built) keeps one file per language
as the only truth: nothing to compile or forget to compile, the same in a
checkout, an editable install and a wheel; reading one takes a few
milliseconds, once per language per process.

The catalogue for a reader is the closest on offer (``languages.closest``:
``pt-BR`` reads ``pt``); for a language without one, and for any sentence a
catalogue lacks (or marks fuzzy), the text is the English one written in the
code and templates. Choosing a catalogue is never an error.

Dates are formatted by Babel from CLDR data, which knows far more languages
than there are catalogues: the date line of a letter in Italian reads
"1 dicembre 2026" even without an Italian catalogue. So are the names of
languages in the subscribe form's menu, each in its own language.

``N_`` marks a text that is kept as data (the reason in a ``TokenError``) so
that extraction finds it; whoever shows it translates it then.
"""

from __future__ import annotations

import datetime as dt
import functools
import gettext
import io
import logging
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po
from babel.support import Translations

from mailer.languages import choose_first, primary
from mailer.resources import shipped

log = logging.getLogger("mailer")

#: The language of the texts in the code and templates (the msgids).
SOURCE_LANGUAGE = "en"
#: The gettext domain: ``mailer.po`` in each language's folder.
DOMAIN = "mailer"
#: Where the catalogues live: inside the package, in checkouts and wheels alike.
LOCALE_DIR = shipped("locale")
#: The CLDR locale for dates in English when no region is said: "1 December 2026",
#: the order most of the world reads, rather than the United States' "December 1, 2026".
_WORLD_ENGLISH = "en_001"


def N_(message: str) -> str:
    """Mark ``message`` for the catalogues where it is written; it is translated later."""
    return message


@functools.cache
def catalogue_languages() -> tuple[str, ...]:
    """The languages that have a catalogue, English first."""
    found = sorted(
        path.parent.parent.name for path in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")
    )
    return (SOURCE_LANGUAGE, *(tag for tag in found if tag != SOURCE_LANGUAGE))


def catalogue_language(*languages: str) -> str:
    """The catalogue for a reader of ``languages`` (most wanted first): the first that has
    one, or the closest (``pt-BR`` → ``pt``); English if none has."""
    return choose_first(languages, catalogue_languages()) or SOURCE_LANGUAGE


def translations(language: str) -> gettext.NullTranslations:
    """The translations for a reader of ``language``: their catalogue's, else English."""
    return _load(catalogue_language(language))


@functools.cache
def _load(language: str) -> gettext.NullTranslations:
    """One catalogue, read once; a missing or broken file leaves English (and a log line)."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    try:
        with path.open("rb") as handle:
            catalog = read_po(
                handle, locale=language.replace("-", "_"), domain=DOMAIN, abort_invalid=True
            )
        compiled = io.BytesIO()
        write_mo(compiled, catalog)  # leaves out fuzzy and untranslated entries
        compiled.seek(0)
        return Translations(compiled, domain=DOMAIN)
    except FileNotFoundError:
        return gettext.NullTranslations()
    except (OSError, ValueError, PoFileError, UnknownLocaleError) as exc:
        log.warning("catalogue %s cannot be read, using English: %s", path, exc)
        return gettext.NullTranslations()


@functools.lru_cache(maxsize=64)
def locale_of(language: str) -> Locale:
    """The CLDR locale for a language tag (``pt-BR`` → ``pt_BR``, ``de-XX`` → ``de``).

    Bare ``en``, no tag at all, and a language CLDR does not know get world English.
    """
    if language and language != SOURCE_LANGUAGE:
        for candidate in (language, primary(language)):
            try:
                return Locale.parse(candidate, sep="-")
            except (UnknownLocaleError, ValueError):
                continue
    return Locale.parse(_WORLD_ENGLISH)


@functools.lru_cache(maxsize=512)
def long_date(value: Any, language: str = "") -> str:
    """A date written out for readers of ``language``: "1. Dezember 2026", "1 December 2026".

    ``value`` is a date or an ISO date text (``2026-12-01``, or a timestamp
    that starts with one; other text is an error); anything else is returned as text.
    """
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    if not isinstance(value, dt.date):
        return str(value)
    return str(format_date(value, "long", locale=locale_of(language)))


@functools.lru_cache(maxsize=64)
def language_name(tag: str) -> str:
    """A language's name in that language, as a language menu shows it ("Español")."""
    try:
        name = Locale.parse(tag, sep="-").get_display_name() or tag
    except (UnknownLocaleError, ValueError):
        return tag
    return name[:1].upper() + name[1:]
