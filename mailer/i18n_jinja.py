"""Jinja2 environments that speak one language: gettext, ``{% trans %}`` and dates.

Letters, the confirmation message and the web pages render in environments
made for one language each (a letter is compiled once per language and list,
a page environment is kept per language). ``install`` gives such an
environment the catalogue of its language through Jinja2's i18n extension
(``_()``, ``gettext``, ``ngettext``, ``{% trans %}``, all "newstyle": the
translation is formatted and escaped by the call) and the ``long_date``
filter for that language.

Per recipient, a ``{% trans %}`` block would look its sentence up, format
and escape it again for every message. So ``CatalogueExtension`` translates
the blocks when a template is loaded (Jinja2's ``preprocess`` step): each
block becomes its translated sentence with the block's variables written
back as the expressions they stand for::

    {% trans email=subscriber.email %}Sent to {{ email }}.{% endtrans %}
    → {% if true %}Enviado a {{ (subscriber.email) }}.{% endif %}

The ``if true`` keeps the block's whitespace control, and Jinja2's optimiser
removes it; a letter's compile then evaluates the expressions that hold no
recipient data (``list.title``) once, like any other. A block this does not
handle (a plural, a context, a translation holding braces) stays a block,
and the extension gives the same text when it renders.
"""

from __future__ import annotations

import functools
import gettext
import re
from typing import Any

import jinja2
from jinja2.ext import InternationalizationExtension

from mailer import i18n

_BLOCK = re.compile(
    r"\{%(?P<open>[-+]?)\s*trans\b(?P<params>(?:[^%]|%(?!\}))*?)(?P<open_end>[-+]?)%\}"
    r"(?P<body>.*?)"
    r"\{%(?P<close>[-+]?)\s*endtrans\s*(?P<close_end>[-+]?)%\}",
    re.S,
)
#: A placeholder of a newstyle translation, an escaped percent sign, or a stray one.
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%|%")
_NAMED = re.compile(r"%\((\w+)\)s")
_BRACKETS = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}


class CatalogueExtension(InternationalizationExtension):
    """Jinja2's i18n extension, with ``{% trans %}`` blocks translated as templates load."""

    def __init__(self, environment: jinja2.Environment) -> None:
        super().__init__(environment)
        self.translations: gettext.NullTranslations = gettext.NullTranslations()
        self._extractor: jinja2.Environment | None = None

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        if "trans" not in source:
            return source
        return _BLOCK.sub(self._translated, source)

    def _translated(self, block: re.Match[str]) -> str:
        """The block as its translation, or as it was if it is not a simple one."""
        if "{%" in block["body"]:  # a pluralize section
            return block[0]
        declared = self._variables(block["params"])
        msgid = self._msgid(block[0])
        if declared is None or msgid is None:
            return block[0]
        # A name the body uses without declaring it is the template's own variable.
        variables = {name: name for name in _NAMED.findall(msgid)} | declared
        text = _expand(self.translations.gettext(msgid), variables)
        if text is None:
            return block[0]
        return (
            f"{{%{block['open']} if true {block['open_end']}%}}{text}"
            f"{{%{block['close']} endif {block['close_end']}%}}"
        )

    def _msgid(self, block: str) -> str | None:
        """The block's message as extraction and the extension see it (one, a plain gettext)."""
        if self._extractor is None:
            # The same syntax and whitespace rules, without this extension (no recursion).
            self._extractor = jinja2.Environment(
                block_start_string=self.environment.block_start_string,
                block_end_string=self.environment.block_end_string,
                variable_start_string=self.environment.variable_start_string,
                variable_end_string=self.environment.variable_end_string,
                trim_blocks=self.environment.trim_blocks,
                lstrip_blocks=self.environment.lstrip_blocks,
                extensions=["jinja2.ext.i18n"],
            )
            self._extractor.policies.update(self.environment.policies)
        try:
            found = list(self._extractor.extract_translations(block))  # type: ignore[attr-defined]
        except jinja2.TemplateSyntaxError:
            return None  # the real parse reports it, with the template's own line
        if len(found) != 1 or found[0][1] != "gettext" or not isinstance(found[0][2], str):
            return None
        return found[0][2]

    def _variables(self, params: str) -> dict[str, str] | None:
        """``name=expression, ...`` of a trans tag as {name: expression source}, or None."""
        try:
            tokens = [
                (kind, value)
                for _, kind, value in self.environment.lexer.tokeniter(
                    params, None, state="variable"
                )
            ]
        except jinja2.TemplateSyntaxError:
            return None
        variables: dict[str, str] = {}
        for part in _split_commas(tokens):
            words = [token for token in part if token[0] != "whitespace"]
            if len(words) == 1 and words[0][0] == "name":
                if words[0][1] not in ("trimmed", "notrimmed"):
                    variables[words[0][1]] = words[0][1]
            elif len(words) > 2 and words[0][0] == "name" and words[1] == ("operator", "="):
                after = part.index(words[1]) + 1
                variables[words[0][1]] = "".join(value for _, value in part[after:]).strip()
            else:
                return None  # a context string, a colon, or something new
        return variables


def _split_commas(tokens: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Tokens split at the commas that are not inside brackets."""
    parts: list[list[tuple[str, str]]] = [[]]
    depth = 0
    for kind, value in tokens:
        if kind == "operator":
            depth += _BRACKETS.get(value, 0)
            if value == "," and depth == 0:
                parts.append([])
                continue
        parts[-1].append((kind, value))
    return [part for part in parts if any(kind != "whitespace" for kind, _ in part)]


def _expand(translation: str, variables: dict[str, str]) -> str | None:
    """A newstyle translation as template text, its placeholders as expressions.

    None when it cannot be written as template text safely: braces (they could
    open a tag), a stray ``%`` or an unknown placeholder (which the extension
    reports when it renders).
    """
    if "{" in translation or "}" in translation:
        return None
    pieces: list[str] = []
    start = 0
    for found in _PLACEHOLDER.finditer(translation):
        pieces.append(translation[start : found.start()])
        if found[0] == "%%":
            pieces.append("%")
        elif found[1] in variables:
            pieces.append(f"{{{{ ({variables[found[1]]}) }}}}")
        else:
            return None
        start = found.end()
    pieces.append(translation[start:])
    return "".join(pieces)


def install(env: jinja2.Environment, language: str) -> None:
    """Make ``env`` speak ``language``: its catalogue, and its dates in ``long_date``.

    Call it once, before the environment loads a template (loaded templates
    keep the translations they were loaded with).
    """
    extension = env.extensions[CatalogueExtension.identifier]
    assert isinstance(extension, CatalogueExtension)
    translations = i18n.translations(language)
    extension.translations = translations
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    env.filters["long_date"] = functools.partial(_long_date, language=language)


def _long_date(value: Any, language: str) -> str:
    return i18n.long_date(value, language)


#: What to pass as ``extensions=`` to an environment that ``install`` is then called on.
EXTENSIONS = [CatalogueExtension]
