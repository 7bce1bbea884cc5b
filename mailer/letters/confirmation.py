"""The double opt-in confirmation message, built from a template.

One message at a time, outside any campaign. The text comes from
``templates/confirm.txt.j2`` (overridable), in the language of the form it
answers (its catalogue; English without one), and says that language in
``Content-Language``. It never contains what the form's user typed besides
the address itself: the form cannot be used to send a stranger a message of
the sender's choosing. ``mailer.dispatch.run.send_one`` delivers it.
"""

from __future__ import annotations

from email.utils import formatdate, make_msgid

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mailer.config import Config
from mailer.errors import TemplateError
from mailer.i18n import catalogue_language, translations
from mailer.i18n_jinja import EXTENSIONS, install
from mailer.letters.mime import (
    OutgoingMessage,
    ascii_domain,
    clean_display_name,
    encode_unstructured,
    format_address,
    header,
    mail_address,
    parse_sender,
    qp,
)
from mailer.resources import default_templates
from mailer.store.models import MailingList


def _environment(config: Config, language: str) -> jinja2.Environment:
    loader = jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader(str(config.templates_path)),
            jinja2.FileSystemLoader(str(default_templates())),
        ]
    )
    env = ImmutableSandboxedEnvironment(
        loader=loader, undefined=jinja2.StrictUndefined, autoescape=False, extensions=EXTENSIONS
    )
    install(env, language)
    return env


def build_confirmation(
    config: Config, mailing_list: MailingList, email: str, confirm_url: str, language: str = ""
) -> OutgoingMessage:
    """The confirmation message for ``email`` (a normalised address) with its signed link.

    ``language`` is the language of the form that asked (a tag; "" for English).
    The To header is written by mailer's own header code from the normalised
    address, and the envelope recipient is that address: never something
    read back from a header, which a mail library would decode.
    """
    try:
        body = (
            _environment(config, language)
            .get_template("confirm.txt.j2")
            .render(
                list_title=mailing_list.display_title,
                list_name=mailing_list.name,
                confirm_url=confirm_url,
                confirm_days=config.web.confirm_days,
                organization=config.sender.organization,
                email=email,
            )
        )
    except jinja2.TemplateError as exc:
        raise TemplateError(f"confirmation template failed: {exc}", path="confirm.txt.j2") from None
    rcpt, smtputf8 = mail_address(email)
    sender_name, sender_address = parse_sender(config.sender.from_address, "sender.from")
    from_header, sender_utf8 = format_address(sender_name, sender_address)
    domain = ascii_domain(sender_address.rpartition("@")[2])
    # A title is one line in a header, whatever was typed into `lists create --title`.
    title = clean_display_name(mailing_list.display_title)
    _ = translations(language).gettext
    subject = _("Confirm your subscription to %(list_title)s") % {"list_title": title}
    message_id = make_msgid(domain=domain)
    head = [
        header("From", from_header),
        header("To", rcpt),
        header("Subject", encode_unstructured(subject)),
        header("Date", formatdate(localtime=False, usegmt=True)),
        header("Message-ID", message_id),
        # Tells autoresponders not to answer, and mail systems that no person wrote it.
        header("Auto-Submitted", "auto-generated"),
    ]
    if config.sender.reply_to:
        reply_name, reply_address = parse_sender(config.sender.reply_to, "sender.reply_to")
        head.append(header("Reply-To", format_address(reply_name, reply_address)[0]))
    head += [
        header("Content-Language", catalogue_language(language)),
        header("MIME-Version", "1.0"),
        header("Content-Type", 'text/plain; charset="utf-8"'),
        header("Content-Transfer-Encoding", "quoted-printable"),
    ]
    data = b"".join(head) + b"\r\n" + qp(body.replace("\r\n", "\n"))
    return OutgoingMessage(
        recipient=rcpt,
        message_id=message_id.strip("<>"),
        parts=(data,),
        smtputf8=smtputf8 or sender_utf8,
    )
