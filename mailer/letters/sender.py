"""Who a letter is from, where answers go, and where a request to leave goes.

Each of these is the letter's own front matter when it sets it, else the
configuration: written once here, used by the compiled letter, the sender's
envelope and the relay greeting.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable

from mailer.config import Config, check_base_url
from mailer.errors import ConfigError
from mailer.letters.mime import ascii_domain, mail_address, parse_sender
from mailer.letters.source import Letter
from mailer.tokens import unsubscribe_mailbox

_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")


def sender_of(letter: Letter | None, config: Config) -> tuple[str, str]:
    """(display name, address) of the From: the letter's ``from``, else ``sender.from``."""
    value = str((letter.meta.get("from") if letter else None) or config.sender.from_address)
    return parse_sender(value, "from")


def replies_mailbox(letter: Letter | None, config: Config) -> str:
    """The replies address each message's Reply-To carries with its reader's token, or "".

    ``[replies] address``, unless the letter sets its own ``reply_to``, which
    then wins as it always did: its answers go where the letter says.
    """
    if letter is not None and letter.meta.get("reply_to"):
        return ""
    return config.replies.address


def reply_address(letter: Letter | None, config: Config) -> tuple[str, str] | None:
    """(display name, address) replies go to: the letter's ``reply_to``, else the configured."""
    value = str((letter.meta.get("reply_to") if letter else None) or config.sender.reply_to)
    return parse_sender(value, "reply_to") if value else None


def web_base_url(config: Config) -> str:
    """``web.base_url`` without its trailing slash, checked again where it meets a header.

    ``load_config`` checks it already; a ``Config`` built in code has not been.
    """
    return check_base_url(config.web.base_url, config.config_path)


def unsubscribe_links(config: Config, domain: str) -> Callable[[str], tuple[str, str]]:
    """A function from a token to the (HTTPS URL, mailto URI) of List-Unsubscribe."""
    base = web_base_url(config)
    address = unsubscribe_mailbox(config, domain)
    local, _, host = mail_address(address)[0].rpartition("@")
    # A mailto URI is ASCII (RFC 6068): percent-encode the local part, A-label the domain.
    local = urllib.parse.quote(local, safe="!$'*+")
    host = ascii_domain(host)

    def build(token: str) -> tuple[str, str]:
        return f"{base}/u/{token}", f"mailto:{local}+{token}@{host}?subject=unsubscribe"

    return build


def checked_feedback_id(config: Config) -> str:
    """``sender.feedback_id``, or ``ConfigError`` if it cannot stand in a header as it is."""
    value = config.sender.feedback_id
    if value and not (_PRINTABLE.match(value) and len(value) <= 200):
        raise ConfigError(
            f"sender.feedback_id {value[:60]!r} must be printable ASCII, at most 200 characters",
            path=config.config_path,
        )
    return value
