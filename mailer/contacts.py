"""Addresses: normalise and validate them the same way everywhere.

An address is stored as the validator normalises it (domain lower-cased and
IDNA-checked, local part as given) and compared by its *key*, the normalised
form lower-cased: ``Ann@Example.org`` and ``ann@example.org`` are one person.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import email_validator

from mailer.errors import AddressError


@dataclass(frozen=True)
class Address:
    """A valid address: how it is written, and how it is compared."""

    email: str
    key: str

    @property
    def domain(self) -> str:
        return self.key.rpartition("@")[2]


def address_key(email: str) -> str:
    """The comparison key of an already-normalised address."""
    return email.strip().lower()


def address_hash(key: str) -> str:
    """One-way hash kept after an address is forgotten, so it stays suppressed."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@lru_cache(maxsize=4096)
def _validate(text: str, check_deliverability: bool) -> Address:
    try:
        result = email_validator.validate_email(
            text, check_deliverability=check_deliverability, allow_smtputf8=True
        )
    except email_validator.EmailNotValidError as exc:
        raise AddressError(text, str(exc)) from None
    return Address(email=result.normalized, key=address_key(result.normalized))


def normalize_address(text: str, *, check_deliverability: bool = False) -> Address:
    """Validate ``text`` as an e-mail address; raise ``AddressError`` naming it if not."""
    stripped = (text or "").strip()
    if not stripped:
        raise AddressError(text or "", "the address is empty")
    if any(ch in stripped for ch in "\r\n\0"):
        raise AddressError(stripped, "the address contains a line break")
    return _validate(stripped, check_deliverability)
