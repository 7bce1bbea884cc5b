"""The Jinja2 side of a letter: sandboxed environments, filters, layouts, and error tracing.

Template expressions of the letter and the layout are shielded behind
placeholders while Markdown and the CSS inliner work (neither may touch
them), and put back before the Jinja2 compile; those that use no recipient
data are evaluated then, once. The composite templates have no useful line
numbers, so when a render fails the error is traced again the slow way
(``diagnoser``): the letter body alone, then each layout on its own, to name
the file and line a person has to fix.
"""

from __future__ import annotations

import functools
import re
import secrets
import textwrap
import traceback
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markdown_it import MarkdownIt

from mailer.config import Config
from mailer.errors import TemplateError
from mailer.i18n_jinja import EXTENSIONS, install
from mailer.letters.plaintext import MARKERS
from mailer.letters.source import Letter
from mailer.resources import default_templates

#: A template expression, statement or comment; a ``{% trans %}`` block left whole (its
#: placeholders are the block's own names, not the letter's).
_JINJA = re.compile(
    r"\{%-?\s*trans\b.*?\{%-?\s*endtrans\s*-?%\}|\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S
)
#: ``{{ body }}`` in a layout (``| safe`` is allowed and changes nothing: the body is HTML).
BODY = re.compile(r"\{\{-?\s*body\s*(?:\|\s*safe\s*)?-?\}\}")
_MARKER_TRANS = {ord(ch): None for ch in MARKERS}
#: ``{{``, ``{%``, ``{#``, and a ``{`` at the end, which would open a tag with what follows.
_OPENER = re.compile(r"\{[{%#]|\{$")


def markdown() -> MarkdownIt:
    """CommonMark with tables, strikethrough and bare-URL links."""
    return MarkdownIt("commonmark", {"linkify": True}).enable(["table", "strikethrough", "linkify"])


@functools.lru_cache(maxsize=256)
def _wordwrap(text: str, width: int = 79) -> str:
    return "\n".join(textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False))


def wordwrap(value: Any, width: int = 79) -> str:
    """Jinja2's ``wordwrap`` for the text templates, remembered (most values repeat)."""
    return _wordwrap(str(value), int(width))


def _finalize_html(value: Any) -> Any:
    return "" if value is None else value


def _finalize_text(value: Any) -> Any:
    if value is None:
        return ""
    return value.translate(_MARKER_TRANS) if isinstance(value, str) else value


class LetterEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox, whose templates keep their globals in a plain dict.

    Every render copies a template's globals into a new context. Jinja2 keeps
    them in a ``ChainMap`` over the environment's, which copies key by key in
    Python; the i18n extension's five functions would then cost every message
    more than a microsecond. A letter's environments are complete before they
    load a template and never change after, so a plain copy loses nothing.
    """

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        return {**self.globals, **(d or {})}


def environments(
    config: Config, templates: Path | None = None, language: str = ""
) -> tuple[jinja2.Environment, ...]:
    """The HTML and the text Jinja2 environment: user templates first, then the defaults.

    Both are sandboxed (``ImmutableSandboxedEnvironment``): templates see only
    the values handed to them, never Python's internals, and cannot change them.
    Both speak ``language`` (``mailer.i18n_jinja.install``): the layouts' fixed
    sentences come from its catalogue (English without one), dates in its
    manner.
    """
    folders = [templates] if templates is not None else []
    if config.templates_path.is_dir():
        folders.append(config.templates_path)
    folders.append(default_templates())
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(f)) for f in folders])
    common: dict[str, Any] = {
        "loader": loader,
        "undefined": jinja2.StrictUndefined,
        "extensions": EXTENSIONS,
    }
    # The sandbox: whoever can write a letter must not reach Python through a template
    # (``cycler.__init__.__globals__.os`` ...), and ``mailer serve`` renders letters too.
    html = LetterEnvironment(autoescape=True, finalize=_finalize_html, **common)
    text = LetterEnvironment(
        autoescape=False,
        finalize=_finalize_text,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        **common,
    )
    for env in (html, text):
        install(env, language)
    text.filters["wordwrap"] = wordwrap
    return html, text


class Shield:
    """Swaps template expressions for inert placeholders and back.

    The placeholders carry a random mark, so text a letter happens to contain
    can never be taken for one of them.
    """

    def __init__(self) -> None:
        self.saved: list[str] = []
        self.mark = "JnJ" + secrets.token_hex(4)
        self._token_re = re.compile(rf"<!--{self.mark}x(\d+)x-->|{self.mark}x(\d+)x")

    def hide(self, source: str, *, statements_as_comments: bool = False) -> str:
        def swap(match: re.Match[str]) -> str:
            self.saved.append(match[0])
            token = f"{self.mark}x{len(self.saved) - 1}x"
            if statements_as_comments and not match[0].startswith("{{"):
                return f"<!--{token}-->"  # comments survive anywhere in a table
            return token

        return _JINJA.sub(swap, source)

    def restore(self, text: str, resolve: Callable[[str], str | None] | None = None) -> str:
        """Put the expressions back; ``resolve`` may replace one by its fixed output."""

        def back(match: re.Match[str]) -> str:
            source = self.saved[int(match[1] or match[2])]
            value = resolve(source) if resolve is not None else None
            return source if value is None else value

        return self._token_re.sub(back, text)


#: Context names whose values are the same for every recipient of one compiled letter.
CONSTANT_NAMES = frozenset({"letter", "list", "sender", "archive_url"})


def assigned_names(env: jinja2.Environment, *sources: str) -> set[str]:
    """Names the templates assign (``for``, ``set``, ``with``, macro arguments)."""
    found: set[str] = set()
    for source in sources:
        for node in env.parse(source).find_all(jinja2.nodes.Name):
            if node.ctx in ("store", "param"):
                found.add(node.name)
    return found


def constant_resolver(
    env: jinja2.Environment, base: Mapping[str, Any], constants: frozenset[str]
) -> Callable[[str], str | None]:
    """Evaluate at compile time the ``{{ ... }}`` that use no recipient data.

    Layouts are full of them (organization, date, subject, list title); doing
    them once leaves only the subscriber's own values for the hot path. An
    expression that fails, uses a name the templates assign somewhere (a loop
    variable may be called ``list``), or trims whitespace (``{{-``) is left for
    the render, which reports it with its line.
    """

    def resolve(source: str) -> str | None:
        if not source.startswith("{{") or source.startswith("{{-") or source.endswith("-}}"):
            return None
        try:
            names = jinja2.meta.find_undeclared_variables(env.parse(source))
            if not names <= constants:
                return None
            return literal(env.from_string(source).render(base))
        except Exception:  # not constant after all: the per-recipient render will say why
            return None

    return resolve


def literal(text: str) -> str:
    """Keep template openers that Markdown produced (from ``\\{\\{`` or ``&#123;``) literal."""
    return _OPENER.sub(lambda m: "{{ " + repr(m[0]) + " }}", text)


def _template_line(exc: BaseException, filename: str) -> int | None:
    """The innermost traceback line that Jinja2 attributes to ``filename``."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    return line


_NO_KEY = re.compile(r"^'dict object' has no attribute (.+)$")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, jinja2.UndefinedError):
        message = exc.message or str(exc)
        missing = _NO_KEY.match(message)
        if missing:  # subscriber.attributes.X, letter.X, list.X: dicts in the context
            message = f"{missing[1]} is not set"
        return f"undefined template variable: {message}"
    return f"template error: {exc}"


def load_layout(env: jinja2.Environment, name: str, letter: Letter) -> tuple[str, str]:
    """(source, filename) of a layout template, with errors that name it.

    The source has its ``{% trans %}`` blocks translated already, so that what
    in them holds no recipient data is worked out once, at compile time.
    """
    assert env.loader is not None
    try:
        source, filename, _ = env.loader.get_source(env, name)
        env.get_template(name)  # compiles it: syntax errors name the layout's own line
    except jinja2.TemplateNotFound:
        raise TemplateError(
            f"template {name!r} not found (template: {letter.template})", path=letter.path
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"template syntax error: {exc.message}", path=exc.filename or name, line=exc.lineno
        ) from None
    if not BODY.search(source):
        raise TemplateError("the layout has no {{ body }}", path=filename or name)
    return env.preprocess(source, name, filename), filename or name




Diagnose = Callable[[BaseException, dict[str, Any], str], TemplateError]


def diagnoser(
    html_env: jinja2.Environment,
    text_env: jinja2.Environment,
    letter: Letter,
    layouts: tuple[str, str],
) -> Diagnose:
    """A function that finds the file and line behind a failed render (rare, so slow is fine).

    ``layouts`` are the file names of the HTML and the text layout.
    """
    body_name = str(letter.path)
    padded_body = "\n" * (letter.body_line - 1) + letter.body

    def diagnose(exc: BaseException, context: dict[str, Any], who: str) -> TemplateError:
        if isinstance(exc, TemplateError):
            return exc
        code = html_env.compile(padded_body, body_name, body_name)
        body = html_env.template_class.from_code(html_env, code, html_env.make_globals(None))
        candidates: list[tuple[jinja2.Template, str, Mapping[str, Any]]] = [
            (body, body_name, context),
            (html_env.get_template(f"{letter.template}.html.j2"), layouts[0],
             {**context, "body": ""}),
            (text_env.get_template(f"{letter.template}.txt.j2"), layouts[1],
             {**context, "body": ""}),
        ]
        for template, filename, values in candidates:
            try:
                template.render(values)
            except Exception as found:  # the same failure, now with a file to name
                line = _template_line(found, filename)
                return TemplateError(_reason(found), path=filename, line=line, subscriber=who)
        return TemplateError(_reason(exc), path=letter.path, subscriber=who)

    return diagnose


def check_body_syntax(env: jinja2.Environment, letter: Letter) -> None:
    """Compile the letter's body alone, so a syntax error names the letter's own line."""
    name = str(letter.path)
    padded = "\n" * (letter.body_line - 1) + letter.body
    try:
        env.compile(padded, name, name)  # parses, and knows the filters
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"template syntax error: {exc.message}", path=letter.path, line=exc.lineno
        ) from None


#: What is left of template syntax in text meant to be final: a tag opened or closed.
_LEFTOVER = re.compile(r"\{[{%#]|[}%#]\}")


def has_template_syntax(text: str) -> bool:
    """Whether a front-matter value holds template syntax (``{{``, ``{%``, ``{#``)."""
    return bool(_OPENER.search(text))


def refuse_leftover_syntax(key: str, value: str, letter: Letter, who: str | None = None) -> None:
    """A subject, preheader or header value must not carry template syntax once rendered.

    A typo such as ``{{ subscriber.name }`` would otherwise reach the inbox as it is.
    """
    if _LEFTOVER.search(value):
        raise TemplateError(
            f"{key}: template syntax is left after rendering ({value!r})",
            path=letter.path,
            subscriber=who,
        )


def subject_template(env: jinja2.Environment, letter: Letter) -> jinja2.Template | None:
    """The subject as a template when it holds template syntax (it then differs per reader)."""
    if not has_template_syntax(letter.subject):
        return None
    try:
        return env.from_string(letter.subject)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"subject: template syntax error: {exc.message}", path=letter.path
        ) from None
