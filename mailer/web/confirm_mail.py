"""The double opt-in confirmation message: built from a template, then delivered.

One message at a time, outside any campaign. The text comes from
``templates/confirm.txt.j2`` (overridable). It never contains what the form's
user typed besides the address itself: the form cannot be used to send a
stranger a message of the sender's choosing. Delivery uses the campaigns'
transports (``mailer.dispatch``): the configured SMTP relays when there are
any, else the Maildir outbox.
"""

from __future__ import annotations

import email.policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import jinja2

from mailer.config import Config
from mailer.dispatch.run import envelope_from, make_transport
from mailer.errors import TemplateError, TransportError
from mailer.message import clean_display_name
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
    # A title is one line in a header, whatever was typed into `lists create --title`.
    title = clean_display_name(mailing_list.display_title)
    message["Subject"] = f"Confirm your subscription to {title}"
    message["Date"] = formatdate(localtime=False, usegmt=True)
    domain = config.sender.from_address.rpartition("@")[2].strip(" >") or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    # Tells autoresponders not to answer, and mail systems that no person wrote it.
    message["Auto-Submitted"] = "auto-generated"
    if config.sender.reply_to:
        message["Reply-To"] = config.sender.reply_to
    message.set_content(body)
    return message


async def deliver(config: Config, message: EmailMessage) -> None:
    """Hand one message to the configured transport (SMTP relays, else the outbox)."""
    recipient = str(message["To"])
    smtputf8 = not recipient.isascii()
    data = message.as_bytes(policy=email.policy.SMTPUTF8 if smtputf8 else email.policy.SMTP)
    sender = config.bounces.return_path or envelope_from(config, None)
    channel = await make_transport(config).open()
    try:
        reply = await channel.send(sender, recipient, data, smtputf8)
    finally:
        await channel.close()
    if not reply.accepted:
        raise TransportError(f"confirmation refused: {reply.code} {reply.text}", code=reply.code)
