"""The double opt-in confirmation message: built from a template, then delivered.

One message at a time, outside any campaign. The text comes from
``templates/confirm.txt.j2`` (overridable). It never contains what the form's
user typed besides the address itself: the form cannot be used to send a
stranger a message of the sender's choosing. Delivery goes to the configured
SMTP relay when there is one, else into the Maildir outbox, like campaigns.
"""

from __future__ import annotations

import asyncio
import mailbox
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib
import jinja2

from mailer.config import Config
from mailer.errors import TemplateError, TransportError
from mailer.resources import default_templates
from mailer.store.models import MailingList


def _environment(config: Config) -> jinja2.Environment:
    loader = jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader(str(config.templates_path)),
            jinja2.FileSystemLoader(str(default_templates())),
        ]
    )
    return jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, autoescape=False)


def build_confirmation(
    config: Config, mailing_list: MailingList, email: str, confirm_url: str
) -> EmailMessage:
    """The confirmation message for ``email`` with its signed link."""
    try:
        body = (
            _environment(config)
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
    message = EmailMessage()
    message["From"] = config.sender.from_address
    message["To"] = email
    message["Subject"] = f"Confirm your subscription to {mailing_list.display_title}"
    message["Date"] = formatdate(localtime=False, usegmt=True)
    domain = config.sender.from_address.rpartition("@")[2].strip(" >") or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    # Tells autoresponders not to answer, and mail systems that no person wrote it.
    message["Auto-Submitted"] = "auto-generated"
    if config.sender.reply_to:
        message["Reply-To"] = config.sender.reply_to
    message.set_content(body)
    return message


def _write_outbox(config: Config, message: EmailMessage) -> None:
    try:
        box = mailbox.Maildir(str(config.outbox_path), create=True)
        box.add(message)
    except OSError as exc:
        raise TransportError(f"cannot write to the outbox {config.outbox_path}: {exc}") from None


async def deliver(config: Config, message: EmailMessage) -> None:
    """Hand one message to the SMTP relay, or write it into the outbox."""
    smtp = config.smtp
    if not smtp.host:
        await asyncio.to_thread(_write_outbox, config, message)
        return
    try:
        await aiosmtplib.send(
            message,
            sender=config.bounces.return_path or None,
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username or None,
            password=smtp.password or None,
            use_tls=smtp.tls == "implicit",
            start_tls=smtp.tls == "starttls",
            timeout=smtp.timeout,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise TransportError(f"could not send the confirmation via {smtp.host}: {exc}") from None
