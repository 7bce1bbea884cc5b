"""Finding e-mail addresses in free text, the way bounces write them.

Addresses in a notice come bare, in angle brackets, quoted, followed by the
sendmail ellipsis (``user@host...``) or glued to punctuation. Local parts
are read as mail systems accept them, not only as the standard writes them:
quoted (``"john doe"@example.org``) and with dots anywhere but first
(``john..doe@``, ``john.@``, as Japanese mobile carriers allowed). IP
literals are not read: they never name a real subscriber.
"""

from __future__ import annotations

import re
from typing import Final

_ATEXT: Final = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\-"
ADDRESS: Final = re.compile(
    rf"(?<![{_ATEXT}.])"
    rf"((?:\"[^\"\\\r\n@]{{1,64}}\"|[{_ATEXT}][{_ATEXT}.]*)"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?\.)+[A-Za-z]{2,24})"
    r"(?![A-Za-z0-9\-])"
)

#: Mailbox names that belong to mail systems, not to people on a list.
ROLE_LOCALS: Final = frozenset(
    {
        "mailer-daemon", "postmaster", "mail-daemon", "maildaemon", "mailerdaemon",
        "noreply", "no-reply", "donotreply", "do-not-reply", "abuse", "hostmaster",
        "root", "daemon", "nobody", "bounce", "bounces", "mailer", "mail-delivery",
        "post_master", "double-bounce", "mdaemon",
    }
)


def normalise(address: str) -> str:
    """Lower-case, without brackets or a trailing dot (a quoted local part keeps its quotes)."""
    address = address.strip().strip("<>")
    if not (address.startswith('"') and '"@' in address):
        address = address.strip("'\"")
    if address[:5].lower() == "smtp=":
        address = address[5:]  # old Exchange: "SMTP=user@host; on <date>"
    return address.rstrip(".").lower()


def addresses_in(text: str) -> list[str]:
    """Every address in ``text``, in order, normalised, without repeats."""
    if "@" not in text:
        return []
    return list(dict.fromkeys(normalise(m.group(1)) for m in ADDRESS.finditer(text)))


def first_address(text: str) -> str:
    """The first address in ``text``, normalised, or ``""``."""
    if "@" not in text:
        return ""
    match = ADDRESS.search(text)
    return normalise(match.group(1)) if match else ""


def is_role(address: str) -> bool:
    """Whether the address is a mail system's own (postmaster, MAILER-DAEMON, ...)."""
    local = address.partition("@")[0].lower()
    return local in ROLE_LOCALS or local.startswith(("mailer-daemon", "postmaster"))
