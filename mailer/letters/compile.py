"""Compile a letter once, then render it for each recipient cheaply.

Compiling does everything that is the same for every recipient: Markdown to
HTML and to text, putting the body into the layout templates, inlining the
CSS, compiling both Jinja2 templates and encoding the constant headers. The
template expressions of the letter and the layout are shielded behind
placeholders while Markdown and the CSS inliner work (neither may touch
them) and put back before the Jinja2 compile, so per recipient there is one
render of each template and no HTML parsing at all.

The composite templates have no useful line numbers, so when a render fails
the error is traced again the slow way: the letter body alone, then each
layout on its own, to name the file and line a person has to fix.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import secrets
import textwrap
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import css_inline
import jinja2
import jinja2.meta
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markdown_it import MarkdownIt

from mailer.config import Config
from mailer.errors import HeaderInjectionError, InputError, TemplateError
from mailer.letters.mime import (
    MessageFrame,
    OutgoingMessage,
    ascii_domain,
    checked_feedback_id,
    clean_display_name,
    encode_phrase,
    format_address,
    mail_address,
    parse_sender,
    phrase_and_angle,
    reject_line_breaks,
    unsubscribe_links,
    web_base_url,
)
from mailer.letters.plaintext import MARKERS, markdown_to_text, rewrap
from mailer.letters.source import Letter
from mailer.resources import default_templates
from mailer.store.lists import validate_list_name
from mailer.store.models import MailingList, Recipient
from mailer.tokens import Signer

_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
#: ``{{ body }}`` in a layout (``| safe`` is allowed and changes nothing: the body is HTML).
_BODY = re.compile(r"\{\{-?\s*body\s*(?:\|\s*safe\s*)?-?\}\}")
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


@functools.lru_cache(maxsize=64)
def long_date(value: Any) -> str:
    """``2026-11-27`` → ``27 November 2026`` (locale-independent)."""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    if not isinstance(value, dt.date):
        return str(value)
    return f"{value.day} {value:%B} {value.year}"


def _finalize_html(value: Any) -> Any:
    return "" if value is None else value


def _finalize_text(value: Any) -> Any:
    if value is None:
        return ""
    return value.translate(_MARKER_TRANS) if isinstance(value, str) else value


def environments(config: Config, templates: Path | None = None) -> tuple[jinja2.Environment, ...]:
    """The HTML and the text Jinja2 environment: user templates first, then the defaults.

    Both are sandboxed (``ImmutableSandboxedEnvironment``): templates see only
    the values handed to them, never Python's internals, and cannot change them.
    """
    folders = [templates] if templates is not None else []
    if config.templates_path.is_dir():
        folders.append(config.templates_path)
    folders.append(default_templates())
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(f)) for f in folders])
    common: dict[str, Any] = {"loader": loader, "undefined": jinja2.StrictUndefined}
    # The sandbox: whoever can write a letter must not reach Python through a template
    # (``cycler.__init__.__globals__.os`` ...), and ``mailer serve`` renders letters too.
    html = ImmutableSandboxedEnvironment(autoescape=True, finalize=_finalize_html, **common)
    text = ImmutableSandboxedEnvironment(
        autoescape=False,
        finalize=_finalize_text,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        **common,
    )
    for env in (html, text):
        env.filters["long_date"] = long_date
    text.filters["wordwrap"] = wordwrap
    return html, text


class _Shield:
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
_CONSTANT_NAMES = frozenset({"letter", "list", "sender", "archive_url"})


def _assigned_names(env: jinja2.Environment, *sources: str) -> set[str]:
    """Names the templates assign (``for``, ``set``, ``with``, macro arguments)."""
    found: set[str] = set()
    for source in sources:
        for node in env.parse(source).find_all(jinja2.nodes.Name):
            if node.ctx in ("store", "param"):
                found.add(node.name)
    return found


def _constant_resolver(
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
            return _literal(env.from_string(source).render(base))
        except Exception:  # not constant after all: the per-recipient render will say why
            return None

    return resolve


def _literal(text: str) -> str:
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


class CompiledLetter:
    """A letter ready to render: ``build`` makes one recipient's message."""

    def __init__(
        self,
        letter: Letter,
        *,
        html: jinja2.Template,
        text: jinja2.Template,
        base: dict[str, Any],
        frame: MessageFrame,
        signer: Signer,
        unsubscribe: Callable[[str], tuple[str, str]],
        list_id: int,
        campaign_id: int | None,
        diagnose: Callable[[BaseException, dict[str, Any], str], TemplateError],
        links: list[str],
    ) -> None:
        self.letter = letter
        self.subject = letter.subject
        self.links = links
        self._html = html
        self._text = text
        self._base = base
        self._frame = frame
        self._signer = signer
        self._unsubscribe = unsubscribe
        self._list_id = list_id
        self._campaign_id = campaign_id
        self._diagnose = diagnose

    def _context(self, recipient: Recipient, unsubscribe_url: str) -> dict[str, Any]:
        context = dict(self._base)
        context["subscriber"] = {
            "email": recipient.email,
            "name": recipient.name or "",
            "attributes": recipient.attributes,
            "id": recipient.subscriber_id,
        }
        context["unsubscribe_url"] = unsubscribe_url
        return context

    def _token(self, recipient: Recipient) -> str:
        return self._signer.unsubscribe(
            recipient.subscriber_id or 0, self._list_id, self._campaign_id
        )

    def _render(self, recipient: Recipient, unsubscribe_url: str) -> tuple[str, str]:
        context = self._context(recipient, unsubscribe_url)
        try:
            html = self._html.render(context)
            text = self._text.render(context)
        except Exception as exc:  # any failure inside a template: trace it to a line
            raise self._diagnose(exc, context, recipient.email) from None
        if "\x02" in text:
            text = rewrap(text)
        if "\r" in html:
            html = html.replace("\r\n", "\n").replace("\r", "\n")
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        return html, text

    def unsubscribe_url(self, recipient: Recipient) -> str:
        """The recipient's one-click unsubscribe URL (as in the header and the body)."""
        return self._unsubscribe(self._token(recipient))[0]

    def render(self, recipient: Recipient) -> tuple[str, str]:
        """(html, text) exactly as ``build`` puts them into the message."""
        url, _ = self._unsubscribe(self._token(recipient))
        return self._render(recipient, url)

    def build(self, recipient: Recipient) -> OutgoingMessage:
        """The complete message for one recipient."""
        return self.build_rendered(recipient)[0]

    def build_rendered(self, recipient: Recipient) -> tuple[OutgoingMessage, str, str]:
        """The message, and the HTML and text that went into it (for checks)."""
        to_header, utf8 = format_address(recipient.name, recipient.email)
        rcpt, _ = mail_address(recipient.email)
        url, mailto = self._unsubscribe(self._token(recipient))
        html, text = self._render(recipient, url)
        message = self._frame.build(
            to_header=to_header,
            rcpt=rcpt,
            smtputf8=utf8,
            unsubscribe=f"<{url}>,\r\n <{mailto}>",
            text=text,
            html=html,
            subscriber_id=recipient.subscriber_id,
        )
        return message, html, text


def _load_layout(env: jinja2.Environment, name: str, letter: Letter) -> tuple[str, str]:
    """(source, filename) of a layout template, with errors that name it."""
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
    if not _BODY.search(source):
        raise TemplateError("the layout has no {{ body }}", path=filename or name)
    return source, filename or name


def _sender(letter: Letter, config: Config) -> tuple[str, str, str]:
    """(From header, Reply-To header, sender domain), letter values overriding the config."""
    name, addr = parse_sender(str(letter.meta.get("from") or config.sender.from_address), "from")
    from_header, _ = format_address(name, addr)
    reply_to = ""
    reply_value = str(letter.meta.get("reply_to") or config.sender.reply_to)
    if reply_value:
        reply_name, reply_addr = parse_sender(reply_value, "reply_to")
        reply_to, _ = format_address(reply_name, reply_addr)
    return from_header, reply_to, ascii_domain(addr.rpartition("@")[2])


def _reply_address(letter: Letter, config: Config) -> str:
    """The plain address replies go to (the letter's reply_to, else the configured one)."""
    value = str(letter.meta.get("reply_to") or config.sender.reply_to)
    return parse_sender(value, "reply_to")[1] if value else ""


def compile_letter(
    letter: Letter,
    *,
    config: Config,
    mailing_list: MailingList | None,
    signer: Signer,
    campaign_id: int | None = None,
    templates: Path | None = None,
) -> CompiledLetter:
    """Do once what is the same for every recipient of ``letter``."""
    html_env, text_env = environments(config, templates)
    md = markdown()
    body_name = str(letter.path)
    padded_body = "\n" * (letter.body_line - 1) + letter.body
    try:
        html_env.compile(padded_body, body_name, body_name)  # parses, and knows the filters
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"template syntax error: {exc.message}", path=letter.path, line=exc.lineno
        ) from None

    from_header, reply_to, domain = _sender(letter, config)
    organization = str(letter.meta.get("organization") or config.sender.organization)
    reject_line_breaks("organization", organization)
    base_url = web_base_url(config)
    # Only a public list's letters are in the archive; a private list's link would be a 404.
    public = mailing_list is not None and mailing_list.public
    archive_url = f"{base_url}/archive/{campaign_id}" if campaign_id is not None and public else ""
    feedback_id = checked_feedback_id(config)
    list_header = ""
    if mailing_list is not None:
        try:  # a list named only in the letter (no database yet) was never checked
            validate_list_name(mailing_list.name)
        except InputError as exc:
            raise InputError(f"list: {exc.reason}", path=letter.path) from None
        title = encode_phrase(clean_display_name(mailing_list.display_title))
        list_header = phrase_and_angle(title, f"{mailing_list.name}.{domain}")
    frame = MessageFrame(
        from_header=from_header,
        subject=letter.subject,
        domain=domain,
        reply_to=reply_to,
        list_id=list_header,
        organization=organization,
        feedback_id=feedback_id
        and f"{campaign_id or 0}:{mailing_list.name if mailing_list else 'none'}:{feedback_id}",
        archive_url=archive_url,
        campaign_id=campaign_id,
        identify=signer.message_id,
    )
    _, from_addr = parse_sender(str(letter.meta.get("from") or config.sender.from_address), "from")
    base: dict[str, Any] = {
        "letter": {**letter.meta, "subject": letter.subject, "date": letter.date},
        "list": {
            "name": mailing_list.name if mailing_list else (letter.list_name or ""),
            "title": mailing_list.display_title if mailing_list else (letter.list_name or ""),
            "id": mailing_list.id if mailing_list else None,
        },
        "sender": {
            "from_address": from_addr,
            "organization": organization,
            # The postal address (bulk-mail rules ask for one), printed as text.
            "contact_address": config.sender.contact_address,
            # Where questions go: the reply-to address, else the sender.
            "contact_email": _reply_address(letter, config) or from_addr,
            "reply_to": str(letter.meta.get("reply_to") or config.sender.reply_to),
        },
        "archive_url": archive_url,
    }

    shield = _Shield()
    protected = shield.hide(letter.body)
    body_html = _literal(md.render(protected))
    tokens = md.parse(protected)
    text_body = markdown_to_text(tokens, lambda chunk: shield.mark in chunk)
    text_body.text = _literal(text_body.text)

    html_layout, html_file = _load_layout(html_env, f"{letter.template}.html.j2", letter)
    text_layout, text_file = _load_layout(text_env, f"{letter.template}.txt.j2", letter)

    body_mark = shield.mark + "body"
    document = shield.hide(_BODY.sub(body_mark, html_layout), statements_as_comments=True)
    document = document.replace(body_mark, body_html)
    inliner = css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=False)
    try:
        inlined = inliner.inline(document)
    except (css_inline.InlineError, ValueError) as exc:
        raise TemplateError(f"cannot inline the CSS: {exc}", path=html_file) from None
    if html_layout.lstrip().lower().startswith("<!doctype") and not inlined.lower().startswith(
        "<!doctype"
    ):
        inlined = "<!DOCTYPE html>\n" + inlined
    constants = _CONSTANT_NAMES - _assigned_names(html_env, letter.body, html_layout, text_layout)
    html_source = shield.restore(inlined, _constant_resolver(html_env, base, constants))
    text_document = shield.hide(_BODY.sub(body_mark, text_layout))
    text_document = text_document.replace(body_mark, text_body.text.rstrip("\n"))
    text_source = shield.restore(text_document, _constant_resolver(text_env, base, constants))

    def diagnose(exc: BaseException, context: dict[str, Any], who: str) -> TemplateError:
        """Find the file and line behind a failed render (rare, so slow is fine)."""
        if isinstance(exc, TemplateError):
            return exc
        code = html_env.compile(padded_body, body_name, body_name)
        body_template = html_env.template_class.from_code(
            html_env, code, html_env.make_globals(None)
        )
        candidates: list[tuple[jinja2.Template, str, Mapping[str, Any]]] = [
            (body_template, body_name, context),
            (
                html_env.get_template(f"{letter.template}.html.j2"),
                html_file,
                {**context, "body": ""},
            ),
            (
                text_env.get_template(f"{letter.template}.txt.j2"),
                text_file,
                {**context, "body": ""},
            ),
        ]
        for template, filename, values in candidates:
            try:
                template.render(values)
            except Exception as found:  # the same failure, now with a file to name
                line = _template_line(found, filename)
                return TemplateError(_reason(found), path=filename, line=line, subscriber=who)
        return TemplateError(_reason(exc), path=letter.path, subscriber=who)

    try:
        html_template = html_env.from_string(html_source)
        text_template = text_env.from_string(text_source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error: {exc.message}", path=letter.path) from None
    try:
        unsubscribe = unsubscribe_links(config, domain)
    except HeaderInjectionError as exc:
        raise TemplateError(f"unsubscribe address: {exc}") from None
    return CompiledLetter(
        letter,
        html=html_template,
        text=text_template,
        base=base,
        frame=frame,
        signer=signer,
        unsubscribe=unsubscribe,
        list_id=mailing_list.id if mailing_list else 0,
        campaign_id=campaign_id,
        diagnose=diagnose,
        links=text_body.links,
    )


SAMPLE = Recipient(
    email="member@example.org",
    name="Alex Example",
    attributes={},
    subscriber_id=None,
)


def sample_recipient(letter: Letter) -> Recipient:
    """The letter's own ``sample:`` (name, email, attributes) or a neutral member."""
    sample = letter.meta.get("sample")
    if not isinstance(sample, dict):
        return SAMPLE
    attributes = sample.get("attributes")
    return Recipient(
        email=str(sample.get("email") or SAMPLE.email),
        name=str(sample.get("name") or ""),
        attributes=attributes if isinstance(attributes, dict) else {},
    )
