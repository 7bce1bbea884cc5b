"""Addresses: normalise and validate them the same way everywhere.

An address is stored as the validator normalises it (domain lower-cased and
IDNA-checked, local part as given) and compared by its *key*, the normalised
form lower-cased: ``Ann@Example.org`` and ``ann@example.org`` are one person.

Validation sits on the import's hot path (a million rows, nearly all of them
distinct, so a cache alone does not help). Most real addresses are plain
ASCII ``local@host.tld``; for exactly those, a single regular expression plus
the validator's own length and reserved-name rules gives the validator's
answer in about a twentieth of the time. Anything the fast path is not sure
about (Unicode, quoting, Punycode, role mailboxes, reserved domains, every
invalid address) goes to email-validator itself, so the fast path can only
ever agree with it; a property test checks that it does.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import email_validator
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

from mailer.errors import AddressError, InputError
from mailer.i18n import N_


@dataclass(frozen=True)
class Address:
    """A valid address: how it is written, and how it is compared."""

    email: str
    key: str

    @property
    def domain(self) -> str:
        return self.key.rpartition("@")[2]


def address_key(email: str) -> str:
    """The comparison key of an address, however it is written.

    Keys are what the suppression list and the ``subscribers`` table match
    on, so every spelling of one mailbox must give the same key: case, a
    Punycode (``xn--``) or Unicode domain, a composed or decomposed accent.
    Plain ASCII without Punycode is only lower-cased; anything else is
    normalised by email-validator first (the form addresses are stored in),
    falling back to lower-casing for text that is not a valid address.
    """
    text = email.strip()
    if text.isascii() and "xn--" not in text.lower():
        return text.lower()
    try:
        return _validate(text).key
    except AddressError:
        return text.lower()


def domain_key(domain: str) -> str:
    """The comparison key of a domain (as in a ``domain`` suppression)."""
    return address_key(f"postmaster@{domain.strip().lstrip('@')}").rpartition("@")[2]


def normalize_domain(text: str) -> str:
    """A domain name as a ``domain`` suppression holds it (IDNA-checked, lower case), or
    ``InputError`` saying why it is not one.

    It is checked by the rules of an address at it, so that a domain is
    accepted exactly when addresses at it are (a leading ``@`` and the final
    dot of a fully qualified name are allowed); special-use names such as
    ``lists.test`` are domains too.
    """
    domain = text.strip().removeprefix("@").removesuffix(".")
    if not domain or "@" in domain or any(ch.isspace() for ch in domain):
        raise InputError(f"{text.strip()!r} is not a domain name (write it as e.g. example.net)")
    probe = f"postmaster@{domain}"
    try:
        return normalize_address(probe, allow_special_use=True).domain
    except AddressError as exc:
        reason = exc.reason.removeprefix(f"invalid address {probe!r}: ")
        raise InputError(f"{domain!r} is not a domain name: {reason}") from None


def address_hash(key: str) -> str:
    """One-way hash kept after an address is forgotten, so it stays suppressed."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


_ATEXT = r"A-Za-z0-9_!#$%&'*+\-/=?^`{|}~"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
#: Plain ASCII dot-atom local part @ a dotted host name; what the fast path accepts.
_PLAIN = re.compile(rf"([{_ATEXT}]+(?:\.[{_ATEXT}]+)*)@((?:{_LABEL}\.)+{_LABEL})")
_ROLE_MAILBOXES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)
_SPECIAL_SUFFIXES = tuple("." + name for name in email_validator.SPECIAL_USE_DOMAIN_NAMES)
_EMAIL_MAX = 254
_LOCAL_MAX = 64
_DOMAIN_MAX = 253


def _fast_normalize(text: str) -> Address | None:
    """The validator's result for a plain ASCII address, or None when unsure.

    None never means invalid: it means "ask email-validator". The rules here
    mirror its syntax checks for the ASCII case (dot-atom local part, RFC 1123
    host labels, at least one dot, a TLD ending in a letter, length limits,
    special-use domains); role mailboxes that it lower-cases, and labels with
    ``--`` (Punycode and the reserved R-LDH form), are left to it.
    """
    match = _PLAIN.fullmatch(text)
    if match is None or len(text) > _EMAIL_MAX:
        return None
    local, domain = match.group(1), match.group(2).lower()
    if (
        len(local) > _LOCAL_MAX
        or len(domain) > _DOMAIN_MAX
        or not ("a" <= domain[-1] <= "z")
        or "--" in domain
        or domain.endswith(_SPECIAL_SUFFIXES)
        or local.lower() in _ROLE_MAILBOXES
    ):
        return None
    email = f"{local}@{domain}"
    return Address(email=email, key=email.lower())


#: The special-use and reserved domain names (RFC 6761 and others) that
#: email-validator refuses unless ``allow_special_use`` is given.
SPECIAL_USE_DOMAINS = tuple(email_validator.SPECIAL_USE_DOMAIN_NAMES)
#: Appended to a special-use domain that is allowed, so that email-validator
#: still checks everything else about it (labels, IDNA), then taken off again.
_STAND_IN = ".special-use.example"


def is_special_use(domain: str) -> bool:
    """Whether ``domain`` is or lies under a special-use name (``x.test``, ``localhost``)."""
    domain = domain.lower().rstrip(".")
    return any(domain == name or domain.endswith("." + name) for name in SPECIAL_USE_DOMAINS)


@lru_cache(maxsize=4096)
def _validate(text: str, allow_special_use: bool = False) -> Address:
    _, at, domain = text.rpartition("@")
    stand_in = allow_special_use and bool(at) and is_special_use(domain)
    try:
        result = email_validator.validate_email(
            f"{text}{_STAND_IN}" if stand_in else text,
            check_deliverability=False,
            allow_smtputf8=True,
        )
    except email_validator.EmailNotValidError as exc:
        raise AddressError(text, str(exc)) from None
    normalized = result.normalized.removesuffix(_STAND_IN) if stand_in else result.normalized
    return Address(email=normalized, key=normalized.lower())


@lru_cache(maxsize=65536)
def _undeliverable(domain: str) -> str | None:
    """Why mail to ``domain`` cannot be delivered (DNS), or None; asked once per domain."""
    try:
        email_validator.validate_email(
            f"deliverability-check@{domain}", check_deliverability=True, allow_smtputf8=True
        )
    except email_validator.EmailNotValidError as exc:
        return str(exc)
    return None


#: Bidirectional overrides and isolates: they make text display in another order
#: than it is stored (a greeting that reads differently from what was typed).
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: The longest name the subscribe form takes.
NAME_MAX = 100  # as check_name's message (a catalogue entry) and the form say
#: A web address in a name: a scheme, "www.", or a host name followed by a path.
_NAME_URL = re.compile(
    r"[a-z][a-z0-9+.-]*:/|www\.|[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}(?:/|\s|$)", re.I
)


def check_name(text: str) -> str:
    """A name typed by a stranger (the subscribe form), or ``InputError`` saying why not.

    Every letter greets people by their name, so a name is the one place a
    stranger's text reaches other people's mail: it may not carry a web
    address, control characters (ESC, BEL, ...) or line breaks, and it is
    kept short. Spaces are collapsed; an empty name is fine.
    """
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI for ch in text):
        raise InputError(N_("a name may not contain line breaks or control characters"))
    name = " ".join(text.split())
    if len(name) > NAME_MAX:
        raise InputError(N_("a name may have at most 100 characters"))
    if "@" in name or _NAME_URL.search(name):
        raise InputError(N_("a name may not contain a web or e-mail address"))
    return name


def normalize_address(
    text: str, *, check_deliverability: bool = False, allow_special_use: bool = False
) -> Address:
    """Validate ``text`` as an e-mail address; raise ``AddressError`` naming it if not.

    With ``check_deliverability`` the domain must also accept mail (a DNS
    lookup, made once per domain and remembered for the process). Special-use
    domains (``.test``, ``.local``, ``localhost``, ...) are refused unless
    ``allow_special_use`` (``[import] allow_special_use_domains``).

    An address holding ``=?`` is refused: mail programs read ``=?utf-8?q?...?=``
    as an RFC 2047 encoded word and decode it into another address (or into
    several, or into header lines), which is how a form could be made to mail
    someone other than the address it checked.
    """
    stripped = (text or "").strip()
    if not stripped:
        raise AddressError(text or "", "the address is empty")
    if "\n" in stripped or "\r" in stripped:
        raise AddressError(stripped, "the address contains a line break")
    if "\0" in stripped:
        raise AddressError(stripped, "the address contains a NUL character")
    if "=?" in stripped:
        raise AddressError(
            stripped, "'=?' starts an encoded word, which mail programs decode into other text"
        )
    address = _fast_normalize(stripped) or _validate(stripped, allow_special_use)
    if check_deliverability:
        reason = _undeliverable(address.domain)
        if reason is not None:
            raise AddressError(stripped, reason)
    return address
