"""What the signed tokens in a bounce prove: which letter it answers, and to whom.

The bounce address is public, so a report proves nothing by what it says;
it proves itself only by a token of ours that verifies (docs/bounces.md,
the trust rule). Finding those tokens is this module's one job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from mailer import tokens
from mailer.bounces import mime
from mailer.bounces.addresses import addresses_in
from mailer.bounces.mime import Part
from mailer.errors import TokenError
from mailer.tokens import Signer

#: Headers of a bounce that may hold the address it was delivered to (a VERP
#: address, or the List-Unsubscribe mailto address).
VERP_HEADERS: Final = (
    "to", "delivered-to", "x-original-to", "envelope-to", "x-envelope-to", "x-rcpt-to",
    "original-recipient", "x-original-rcpt-to",
)


@dataclass(frozen=True)
class TokenProof:
    """What the signed tokens in a message prove: which letter to whom, and how."""

    campaign: int | None = None
    subscriber: int | None = None
    how: str = ""  # "verp", "message-id" or "" (nothing proven)
    tampered: bool = False


#: Of a message attached whole, the head read for tokens.
_NESTED_TEXT: Final = 20_000
#: Text of a message read for tokens: enough for the headers of a returned letter
#: however long the notice in front of it.
_TOKEN_TEXT: Final = 200_000


def prove(
    msg: Part, parts: mime.Parts, return_path: str, signer: Signer | None, envelope_to: str
) -> TokenProof:
    """The campaign and subscriber a signed token of ours names, and where it was.

    A VERP address (the envelope recipient the bounce came back to) is the
    first proof; a Message-ID that mailer signed, quoted anywhere in the
    report (the returned letter's headers, an inline copy, a provider's
    JSON), is the second. Anything else proves nothing. ``tampered`` says a
    token was there but its signature failed: mail that claims to answer our
    letter but cannot show it.
    """
    if signer is None:
        return TokenProof()
    envelope: list[str] = addresses_in(envelope_to)
    for name in VERP_HEADERS:
        for value in mime.headers(msg, name):
            envelope += addresses_in(value)
    for original in parts.original:
        envelope += addresses_in(mime.header(original, "return-path"))
    for text in parts.original_headers:
        match = re.search(r"^return-path\s*:(.*)$", text, re.I | re.M)
        if match:
            envelope += addresses_in(match.group(1))
    tampered = False
    if return_path:
        for address in dict.fromkeys(envelope):
            token = tokens.verp_token(address, return_path)
            if not token:
                continue
            try:
                claim = signer.verify(token, tokens.VERP)
                return TokenProof(claim.integer(0), claim.integer(1), "verp")
            except TokenError:
                tampered = True
    quoted = [mime.header(msg, "in-reply-to"), mime.header(msg, "references")]
    quoted += [mime.header(original, "message-id") for original in parts.original]
    quoted += parts.original_headers + parts.feedback + parts.delivery_status
    quoted += parts.notice + parts.html
    # A report forwarded as an attachment quotes the letter inside itself.
    quoted += [raw[:_NESTED_TEXT].decode("latin-1") for raw in parts.original_raw]
    text = "\n".join(quoted)[:_TOKEN_TEXT]
    quoted_id = tokens.quoted_message_id(signer, text)
    if quoted_id is not None:
        return TokenProof(
            quoted_id.integer(0) or None, quoted_id.integer(1) or None, "message-id"
        )
    return TokenProof(tampered=tampered)
