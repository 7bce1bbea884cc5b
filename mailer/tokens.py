"""Signed tokens for unsubscribe links, confirmation links, VERP and replies addresses.

A token is ``<payload>-<signature>``, both lower-case base32 without padding:
safe in a URL path and in the local part of an address, and unharmed by mail
servers that lower-case local parts. The payload is the purpose and a few
fields; the signature is HMAC-SHA256 over both, keyed by the secret, cut to 80
bits. Binding the purpose into the signed text means a confirmation token can
never be replayed as an unsubscribe token, and the reverse.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, overload

from mailer import clock
from mailer.config import Config
from mailer.errors import ConfigError, TokenError
from mailer.i18n import N_

UNSUBSCRIBE = "u"
CONFIRM = "c"
VERP = "v"
CSRF = "x"
MESSAGE_ID = "i"
REPLY = "r"

_SIGNATURE_BYTES = 10


def _b32encode(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def _b32decode(text: str) -> bytes:
    padded = text.upper() + "=" * (-len(text) % 8)
    return base64.b32decode(padded)


@dataclass(frozen=True)
class Claim:
    """What a verified token says: its purpose and its fields, as text."""

    purpose: str
    fields: tuple[str, ...]

    def integer(self, index: int) -> int:
        """Field ``index`` read as an integer (the ids a token carries)."""
        try:
            return int(self.fields[index])
        except (IndexError, ValueError):
            raise TokenError(N_("token does not carry the expected fields")) from None


class Signer:
    """Makes and checks tokens with one secret key."""

    def __init__(self, secret: str | bytes) -> None:
        if not secret:
            raise TokenError("a secret key is needed to sign tokens (set MAILER_SECRET_KEY)")
        self._key = secret.encode("utf-8") if isinstance(secret, str) else secret
        # Keyed once: copying a keyed HMAC is cheaper than keying a new one per token.
        self._mac = hmac.new(self._key, digestmod=hashlib.sha256)

    def _signature(self, payload: bytes) -> bytes:
        mac = self._mac.copy()
        mac.update(payload)
        return mac.digest()[:_SIGNATURE_BYTES]

    def sign(self, purpose: str, *fields: object, expires: datetime | None = None) -> str:
        """A token for ``purpose`` carrying ``fields``; optionally expiring."""
        text = ":".join((purpose, *map(str, fields)))
        if text.count(":") != len(fields):
            raise TokenError("token fields may not contain ':'")
        if expires is not None:
            text += f":e{int(expires.timestamp())}"
        payload = text.encode("utf-8")
        return f"{_b32encode(payload)}-{_b32encode(self._signature(payload))}"

    def verify(self, token: str, purpose: str) -> Claim:
        """Check a token's signature, purpose and expiry; raise ``TokenError`` if any fails."""
        try:
            payload_text, signature_text = token.strip().lower().split("-", 1)
            payload = _b32decode(payload_text)
            signature = _b32decode(signature_text)
        except (ValueError, TypeError):
            raise TokenError(N_("the link is damaged (token cannot be read)")) from None
        if not hmac.compare_digest(signature, self._signature(payload)):
            raise TokenError(N_("the link is not valid (signature does not match)"))
        parts = payload.decode("utf-8", "replace").split(":")
        if parts[0] != purpose:
            raise TokenError(N_("the link is meant for something else"))
        fields = parts[1:]
        if fields and fields[-1].startswith("e") and fields[-1][1:].isdigit():
            if clock.now().timestamp() > int(fields[-1][1:]):
                raise TokenError(N_("the link has expired"))
            fields = fields[:-1]
        return Claim(purpose=purpose, fields=tuple(fields))

    # The purposes mailer uses, so that callers never spell a field order twice.

    def unsubscribe(self, subscriber_id: int, list_id: int, campaign_id: int | None = None) -> str:
        """Token for an unsubscribe link or mailto (never expires: old letters must work)."""
        return self.sign(UNSUBSCRIBE, subscriber_id, list_id, campaign_id or 0)

    def confirm(
        self, subscriber_id: int, list_id: int, valid_for: timedelta, *, bound_to: str = "",
        language: str = "",
    ) -> str:
        """Token for a double opt-in confirmation link; expires.

        ``bound_to`` is a digest of what the ids stood for when the link was
        made, for the receiver to compare, so that the ids can never come to
        name someone else. The time it was issued goes in too: a link older
        than the person's last unsubscribe must not bring them back. So does
        ``language``, the tag of the form that asked (when it offered one).
        """
        issued = int(clock.now().timestamp())
        fields: list[str | int] = [subscriber_id, list_id, bound_to, f"t{issued}"]
        if language:
            fields.append(f"l{language}")
        return self.sign(CONFIRM, *fields, expires=clock.now() + valid_for)

    def verp(self, campaign_id: int, subscriber_id: int) -> str:
        """Token for the local part of a VERP return path."""
        return self.sign(VERP, campaign_id, subscriber_id)

    def reply(self, campaign_id: int, subscriber_id: int) -> str:
        """Token for the local part of a letter's Reply-To (``replies+<token>@...``).

        An answer sent to it proves which letter and which member it answers,
        whatever address the member writes from. It never expires: members
        answer old circulars too.
        """
        return self.sign(REPLY, campaign_id, subscriber_id)

    def message_id(self, campaign_id: int, subscriber_id: int, nonce: str) -> str:
        """The left part of a letter's Message-ID: campaign and subscriber, signed.

        A complaint or bounce that quotes the original's headers carries it
        back, so it proves which letter it is about even when the envelope
        (the VERP address) was lost on the way. ``nonce`` keeps each
        Message-ID unique.
        """
        return self.sign(MESSAGE_ID, campaign_id, subscriber_id, nonce)


#: What a token looks like inside text (a Message-ID, a VERP address, a quoted header):
#: a base32 payload, a dash and an 80-bit base32 signature.
TOKEN_IN_TEXT = re.compile(r"(?<![a-z2-7])[a-z2-7]{8,200}-[a-z2-7]{16}(?![a-z2-7])", re.I)


def tokens_in(text: str, *, limit: int = 50) -> list[str]:
    """Candidate tokens found in ``text``, first occurrence first, at most ``limit``.

    Only candidates: a caller still verifies each one with ``Signer.verify``.
    """
    found: dict[str, None] = {}
    for match in TOKEN_IN_TEXT.finditer(text):
        found.setdefault(match.group(0).lower(), None)
        if len(found) >= limit:
            break
    return list(found)


def quoted_message_id(signer: Signer, text: str) -> Claim | None:
    """The first signed Message-ID of ours quoted in ``text`` that verifies, or None.

    A report that quotes the original letter (its headers, a copy of it, a
    provider's account of it) names the campaign and the subscriber this way.
    """
    for candidate in tokens_in(text):
        try:
            return signer.verify(candidate, MESSAGE_ID)
        except TokenError:
            continue
    return None


@overload
def signer_for(config: Config, *, missing: Literal["error", "throwaway"]) -> Signer: ...
@overload
def signer_for(config: Config, *, missing: Literal["none"]) -> Signer | None: ...


def signer_for(
    config: Config, *, missing: Literal["error", "throwaway", "none"]
) -> Signer | None:
    """The signer of ``MAILER_SECRET_KEY``, and what to do when it is not set.

    ``error`` for what hands out real tokens (a send: its links must work),
    ``throwaway`` for what only shows them (a preview, a dry run, the archive:
    a random key, so no working token can appear), ``none`` for what only
    checks them (reading a bounce: without a key nothing verifies).
    """
    if config.web.secret_key:
        return Signer(config.web.secret_key)
    if missing == "throwaway":
        return Signer(secrets.token_hex(32))
    if missing == "none":
        return None
    raise ConfigError(
        "no signing key: set MAILER_SECRET_KEY (it signs the unsubscribe links and "
        "bounce addresses) before sending"
    )


def verp_address(return_path: str, token: str) -> str:
    """``bounces@example.org`` + token → ``bounces+<token>@example.org`` (also the
    replies address: ``replies+<token>@...``)."""
    local, _, domain = return_path.rpartition("@")
    return f"{local}+{token}@{domain}"


def verp_token(address: str, return_path: str) -> str | None:
    """The token inside a VERP address made from ``return_path`` (or any other base
    address, such as the replies address), or None."""
    local, _, domain = address.strip().strip("<>").rpartition("@")
    base_local, _, base_domain = return_path.rpartition("@")
    if domain.lower() != base_domain.lower():
        return None
    prefix = base_local.lower() + "+"
    if not local.lower().startswith(prefix):
        return None
    return local[len(prefix) :]


#: The local part of the List-Unsubscribe mailto address when none is configured.
DEFAULT_UNSUBSCRIBE_LOCAL = "unsubscribe"


def unsubscribe_mailbox(config: Config, domain: str) -> str:
    """The List-Unsubscribe mailto address of a letter sent from ``domain``.

    ``bounces.unsubscribe_address``, else ``unsubscribe@`` the letter's own
    sender domain; ``unsubscribe_token`` recognises exactly these.
    """
    return config.bounces.unsubscribe_address or f"{DEFAULT_UNSUBSCRIBE_LOCAL}@{domain}"


def unsubscribe_token(address: str, config: Config) -> str | None:
    """The token in an address a letter advertised for unsubscribing, or None.

    With ``bounces.unsubscribe_address`` set, only that address (plus a
    token) is one; without it the letters advertise ``unsubscribe@`` their
    sender's domain, which may differ from letter to letter, so any domain is
    taken with that local part: the signed token is what proves the request.
    """
    configured = config.bounces.unsubscribe_address
    if configured:
        return verp_token(address, configured)
    domain = address.strip().strip("<>").rpartition("@")[2]
    return verp_token(address, f"{DEFAULT_UNSUBSCRIBE_LOCAL}@{domain}") if domain else None
