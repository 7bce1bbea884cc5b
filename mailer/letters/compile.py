"""Compile a letter once, then render it for each recipient cheaply.

Compiling does everything that is the same for every recipient: Markdown to
HTML and to text, putting the body into the layout templates, inlining the
CSS, compiling both Jinja2 templates (``letters.templates``) and encoding
the constant headers (``letters.mime.MessageFrame``). Per recipient there is
one render of each template and no HTML parsing at all.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import css_inline
import jinja2
from markdown_it.token import Token

from mailer.config import Config
from mailer.errors import HeaderInjectionError, InputError, TemplateError
from mailer.letters.files import MB, Carried, LetterFile, human_size, place_files
from mailer.letters.mime import (
    MessageFrame,
    OutgoingMessage,
    ascii_domain,
    clean_display_name,
    encode_phrase,
    format_address,
    mail_address,
    phrase_and_angle,
    reject_line_breaks,
)
from mailer.letters.plaintext import markdown_to_text, rewrap
from mailer.letters.sender import (
    checked_feedback_id,
    replies_mailbox,
    reply_address,
    sender_of,
    unsubscribe_links,
    web_base_url,
)
from mailer.letters.source import Letter
from mailer.letters.templates import (
    BODY,
    CONSTANT_NAMES,
    Diagnose,
    Shield,
    assigned_names,
    check_body_syntax,
    constant_resolver,
    diagnoser,
    environments,
    literal,
    load_layout,
    markdown,
    refuse_leftover_syntax,
    subject_template,
)
from mailer.store.lists import validate_list_name
from mailer.store.models import MailingList, Recipient
from mailer.tokens import Signer


class MessageBuilder(Protocol):
    """A compiled letter, or a set of them: one message, and its parts, per recipient."""

    subject: str

    def build(self, recipient: Recipient) -> OutgoingMessage:
        """The complete message for one recipient."""
        ...

    def build_rendered(self, recipient: Recipient) -> tuple[OutgoingMessage, str, str]:
        """The message, and the HTML and text that went into it."""
        ...

    def unsubscribe_url(self, recipient: Recipient) -> str:
        """The recipient's one-click unsubscribe URL."""
        ...


class CompiledLetter:
    """A letter ready to render: ``build`` makes one recipient's message."""

    def __init__(
        self,
        letter: Letter,
        *,
        templates: tuple[jinja2.Template, jinja2.Template],
        base: dict[str, Any],
        frame: MessageFrame,
        signer: Signer,
        unsubscribe: Callable[[str], tuple[str, str]],
        list_id: int,
        campaign_id: int | None,
        diagnose: Diagnose,
        subject: jinja2.Template | None = None,
        carried: Carried | None = None,
    ) -> None:
        self.letter = letter
        #: The files each message carries (attachments, embedded images).
        self.carried = carried or Carried()
        self.subject = letter.subject
        self._subject = subject
        self._html, self._text = templates
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

    def _render_subject(self, context: dict[str, Any], who: str) -> str:
        """This reader's subject: the letter's, or its template rendered for them."""
        if self._subject is None:
            return self.subject
        subject = " ".join(self._subject.render(context).split())
        refuse_leftover_syntax("subject", subject, self.letter, who)
        if not subject:
            raise TemplateError("subject: empty once rendered", path=self.letter.path,
                                subscriber=who)
        return subject

    def subject_for(self, recipient: Recipient) -> str:
        """The subject this recipient's message carries."""
        url, _ = self._unsubscribe(self._token(recipient))
        context = self._context(recipient, url)
        try:
            return self._render_subject(context, recipient.email)
        except TemplateError:
            raise
        except Exception as exc:  # a failure inside the subject's template
            raise self._diagnose(exc, context, recipient.email) from None

    def _render(self, recipient: Recipient, unsubscribe_url: str) -> tuple[str, str]:
        html, text, _ = self._render_all(recipient, unsubscribe_url)
        return html, text

    def _render_all(self, recipient: Recipient, unsubscribe_url: str) -> tuple[str, str, str]:
        context = self._context(recipient, unsubscribe_url)
        try:
            subject = self._render_subject(context, recipient.email)
            html = self._html.render(context)
            text = self._text.render(context)
        except TemplateError:
            raise
        except Exception as exc:  # any failure inside a template: trace it to a line
            raise self._diagnose(exc, context, recipient.email) from None
        if "\x02" in text:
            text = rewrap(text)
        if "\r" in html:
            html = html.replace("\r\n", "\n").replace("\r", "\n")
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        return html, text, subject

    def unsubscribe_url(self, recipient: Recipient) -> str:
        """The recipient's one-click unsubscribe URL (as in the header and the body)."""
        return self._unsubscribe(self._token(recipient))[0]

    def render(self, recipient: Recipient) -> tuple[str, str]:
        """(html, text) exactly as ``build`` puts them into the message."""
        url, _ = self._unsubscribe(self._token(recipient))
        return self._render(recipient, url)

    def viewable(self, html: str) -> str:
        """The HTML with its embedded images as ``data:`` URLs, so a browser shows them."""
        for file, content_id in self.carried.images:
            data = base64.b64encode(file.content).decode("ascii")
            html = html.replace(f"cid:{content_id}", f"data:{file.content_type};base64,{data}")
        return html

    def build(self, recipient: Recipient) -> OutgoingMessage:
        """The complete message for one recipient."""
        return self.build_rendered(recipient)[0]

    def build_rendered(self, recipient: Recipient) -> tuple[OutgoingMessage, str, str]:
        """The message, and the HTML and text that went into it (for checks)."""
        to_header, utf8 = format_address(recipient.name, recipient.email)
        rcpt, _ = mail_address(recipient.email)
        url, mailto = self._unsubscribe(self._token(recipient))
        html, text, subject = self._render_all(recipient, url)
        message = self._frame.build(
            to_header=to_header,
            rcpt=rcpt,
            smtputf8=utf8,
            unsubscribe=f"<{url}>,\r\n <{mailto}>",
            text=text,
            html=html,
            subscriber_id=recipient.subscriber_id,
            subject=subject,
        )
        return message, html, text


@dataclass(frozen=True)
class _Headers:
    """The constant header values of one letter, worked out and checked once (named as
    ``MessageFrame`` takes them)."""

    from_header: str
    reply_to: str
    domain: str
    organization: str
    archive_url: str
    list_id: str
    feedback_id: str
    #: (display name, address) of the tokened Reply-To, when replies are gathered.
    replies: tuple[str, str]


def _headers(
    letter: Letter, config: Config, mailing_list: MailingList | None, campaign_id: int | None
) -> _Headers:
    from_name, from_addr = sender_of(letter, config)
    from_header = format_address(from_name, from_addr)[0]
    domain = ascii_domain(from_addr.rpartition("@")[2])
    replies = replies_mailbox(letter, config)
    reply = None if replies else reply_address(letter, config)
    organization = str(letter.meta.get("organization") or config.sender.organization)
    reject_line_breaks("organization", organization)
    # Only a public list's letters are in the archive; a private list's link would be a 404.
    public = mailing_list is not None and mailing_list.public
    archive_url = (
        f"{web_base_url(config)}/archive/{campaign_id}"
        if campaign_id is not None and public
        else ""
    )
    list_id = ""
    if mailing_list is not None:
        try:  # a list named only in the letter (no database yet) was never checked
            validate_list_name(mailing_list.name)
        except InputError as exc:
            raise InputError(f"list: {exc.reason}", path=letter.path) from None
        title = encode_phrase(clean_display_name(mailing_list.display_title))
        list_id = phrase_and_angle(title, f"{mailing_list.name}.{domain}")
    feedback_id = checked_feedback_id(config)
    if feedback_id:
        list_name = mailing_list.name if mailing_list else "none"
        feedback_id = f"{campaign_id or 0}:{list_name}:{feedback_id}"
    return _Headers(
        from_header=from_header,
        reply_to=format_address(*reply)[0] if reply else "",
        domain=domain,
        organization=organization,
        archive_url=archive_url,
        list_id=list_id,
        feedback_id=feedback_id,
        replies=(from_name, replies),
    )


def _base_context(
    letter: Letter, config: Config, mailing_list: MailingList | None, headers: _Headers
) -> dict[str, Any]:
    """The template values that are the same for every recipient."""
    from_addr = sender_of(letter, config)[1]
    reply = reply_address(letter, config)
    list_name = mailing_list.name if mailing_list else (letter.list_name or "")
    return {
        "letter": {**letter.meta, "subject": letter.subject, "date": letter.date},
        "list": {
            "name": list_name,
            "title": mailing_list.display_title if mailing_list else list_name,
            "id": mailing_list.id if mailing_list else None,
        },
        "sender": {
            "from_address": from_addr,
            "organization": headers.organization,
            # The postal address (bulk-mail rules ask for one), printed as text.
            "contact_address": config.sender.contact_address,
            # Where questions go: the reply-to address, else the sender.
            "contact_email": reply[1] if reply else from_addr,
            "reply_to": str(letter.meta.get("reply_to") or config.sender.reply_to),
        },
        "archive_url": headers.archive_url,
    }


def _sources(
    letter: Letter,
    envs: tuple[jinja2.Environment, jinja2.Environment],
    layouts: tuple[tuple[str, str], tuple[str, str]],
    base: dict[str, Any],
    place: Callable[[list[Token]], Carried],
) -> tuple[str, str, Carried]:
    """The HTML and text template sources (body in layout, CSS inlined, constants
    evaluated), and the files the body's links and images made ``place`` carry."""
    html_env, text_env = envs
    (html_layout, html_file), (text_layout, _) = layouts
    md = markdown()
    shield = Shield()
    tokens = md.parse(shield.hide(letter.body))
    carried = place(tokens)
    body_html = literal(md.renderer.render(tokens, md.options, {}))
    body_text = literal(markdown_to_text(tokens, lambda chunk: shield.mark in chunk).text)
    body_mark = shield.mark + "body"
    document = shield.hide(BODY.sub(body_mark, html_layout), statements_as_comments=True)
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
    constants = CONSTANT_NAMES - assigned_names(html_env, letter.body, html_layout, text_layout)
    html_source = shield.restore(inlined, constant_resolver(html_env, base, constants))
    text_document = shield.hide(BODY.sub(body_mark, text_layout))
    text_document = text_document.replace(body_mark, body_text.rstrip("\n"))
    text_source = shield.restore(text_document, constant_resolver(text_env, base, constants))
    return html_source, text_source, carried


def _refuse_too_large(letter: Letter, carried: Carried, config: Config) -> None:
    """The files a message carries must stay under ``[letters] attachments_max_mb``."""
    size = carried.size
    limit = config.letters.attachments_max_mb
    if size > limit * MB:
        raise InputError(
            f"attachments: each message would carry {human_size(size)} of files, over the "
            f"limit of {limit:g} MB ([letters] attachments_max_mb)",
            path=letter.path,
            line=letter.line_of("attachments"),
        )


def _frame(
    letter: Letter,
    headers: _Headers,
    *,
    campaign_id: int | None,
    signer: Signer,
    language: str,
    subject_varies: bool,
    carried: Carried,
) -> MessageFrame:
    """The constant parts of the letter's messages, the files it carries among them."""
    attachments, images = carried.parts()
    return MessageFrame(
        **dataclasses.asdict(headers),
        subject=letter.subject,
        campaign_id=campaign_id,
        identify=signer.message_id,
        language=language or letter.language,
        subject_varies=subject_varies,
        attachments=attachments,
        images=images,
        reply_token=signer.reply,
    )


def _placer(
    letter: Letter, files: Mapping[str, LetterFile] | None, headers: _Headers, images: str
) -> Callable[[list[Token]], Carried]:
    """What points the body's local links and images at the letter's files (``place_files``).

    Images are linked only where the letter is in the public archive (a
    campaign to a public list, where ``archive_url`` is set); else embedded.
    """
    return functools.partial(
        place_files,
        letter=letter,
        files=files or {},
        files_url=f"{headers.archive_url}/files" if headers.archive_url else "",
        link_images=(images or letter.images) == "link",
        domain=headers.domain,
    )


def compile_letter(
    letter: Letter,
    *,
    config: Config,
    mailing_list: MailingList | None,
    signer: Signer,
    campaign_id: int | None = None,
    templates: Path | None = None,
    language: str = "",
    files: Mapping[str, LetterFile] | None = None,
    images: str = "",
) -> CompiledLetter:
    """Do once what is the same for every recipient of ``letter``.

    ``language`` is the letter's (its Content-Language; the layout's words
    follow it); ``files`` are the files it brings along (``letters.files``),
    without which its local links stay as written; ``images`` overrides the
    letter's own ``images:`` (the archive links them).
    """
    html_env, text_env = environments(config, templates, language or letter.language)
    check_body_syntax(html_env, letter)
    for key in ("preheader", "from", "reply_to", "organization", "author"):
        refuse_leftover_syntax(key, str(letter.meta.get(key) or ""), letter)
    subject = subject_template(text_env, letter)
    headers = _headers(letter, config, mailing_list, campaign_id)
    place = _placer(letter, files, headers, images)
    base = _base_context(letter, config, mailing_list, headers)
    layouts = (
        load_layout(html_env, f"{letter.template}.html.j2", letter),
        load_layout(text_env, f"{letter.template}.txt.j2", letter),
    )
    html_source, text_source, carried = _sources(letter, (html_env, text_env), layouts, base, place)
    _refuse_too_large(letter, carried, config)
    try:
        compiled = (html_env.from_string(html_source), text_env.from_string(text_source))
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error: {exc.message}", path=letter.path) from None
    try:
        unsubscribe = unsubscribe_links(config, headers.domain)
    except HeaderInjectionError as exc:
        raise TemplateError(f"unsubscribe address: {exc}") from None
    frame = _frame(letter, headers, campaign_id=campaign_id, signer=signer, language=language,
                   subject_varies=subject is not None, carried=carried)
    return CompiledLetter(
        letter,
        templates=compiled,
        base=base,
        frame=frame,
        signer=signer,
        unsubscribe=unsubscribe,
        list_id=mailing_list.id if mailing_list else 0,
        campaign_id=campaign_id,
        diagnose=diagnoser(html_env, text_env, letter, (layouts[0][1], layouts[1][1])),
        subject=subject,
        carried=carried,
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
