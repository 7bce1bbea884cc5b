"""CSRF tokens for the forms, the same-origin check, and the security headers.

The app keeps no sessions and sets no cookies, so a form's CSRF token is a
signed, short-lived token (purpose ``CSRF``) bound to two things: the form it
was issued for (its path) and the client address it was issued to. A token
scraped by another site is useless from a victim's browser (other address),
and a token for one form cannot be replayed on another. Browsers also send an
``Origin`` header with a form POST; one naming a foreign site is refused.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailer import clock
from mailer.errors import TokenError
from mailer.tokens import CSRF, Signer
from mailer.web.pages import client_address

#: The largest request body read: the forms here are a few short fields.
MAX_BODY = 16 * 1024
#: The largest body a provider's report may have (SendGrid batches events up to
#: 768 KB; an SNS message is at most 256 KB).
MAX_HOOK_BODY = 1024 * 1024
#: The largest request head (all header lines together) answered.
MAX_HEADERS = 16 * 1024

#: How long a page's form stays usable after the page was shown.
CSRF_LIFETIME = timedelta(hours=2)

#: Pages of the app: nothing but our own stylesheet, no scripts, no framing.
DEFAULT_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
#: Archived letters carry inline styles (mail clients need them) and may show images.
ARCHIVE_CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' https: data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

_HEADERS = {
    "Content-Security-Policy": DEFAULT_CSP,
    "X-Content-Type-Options": "nosniff",
    # Unsubscribe and confirm URLs carry tokens: never leak them to another site.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "interest-cohort=()",
    "Cache-Control": "no-store",
}


class FormExpired(TokenError):
    """A form's CSRF token is missing, forged, expired, or from another client."""


def _tag(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def csrf_token(signer: Signer, form: str, client: str) -> str:
    """A CSRF token for the form at path ``form``, shown to ``client``."""
    return signer.sign(CSRF, _tag(form), _tag(client), expires=clock.now() + CSRF_LIFETIME)


def check_csrf(signer: Signer, token: str, form: str, client: str) -> None:
    """Raise ``FormExpired`` unless ``token`` was issued for this form and client."""
    try:
        claim = signer.verify(token or "", CSRF)
    except TokenError as exc:
        raise FormExpired(str(exc)) from None
    if claim.fields != (_tag(form), _tag(client)):
        raise FormExpired("the form was issued for another page or another client")


def form_is_ours(request: Request, signer: Signer, base_url: str, csrf: object) -> bool:
    """True when this form POST carries a fresh CSRF token for this page and client.

    A POST whose ``Origin`` names another site is not ours whatever it carries.
    """
    if not origin_allowed(request, base_url):
        return False
    try:
        check_csrf(signer, str(csrf or ""), request.url.path, client_address(request))
    except FormExpired:
        return False
    return True


def origin_allowed(request: Request, base_url: str) -> bool:
    """False when the browser says the POST came from a page of another site."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        # No claim either way; the CSRF token decides.
        return True
    allowed = {_origin_of(base_url), f"{request.url.scheme}://{request.url.netloc}".lower()}
    return origin.rstrip("/").lower() in allowed


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def add_security_headers(headers: MutableHeaders) -> None:
    """Add the security headers that ``headers`` does not set itself."""
    for name, value in _HEADERS.items():
        if name not in headers:
            headers[name] = value


class SecurityHeaders:
    """ASGI middleware: add the security headers a response does not set itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_security_headers(MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes ends in a 413, unread.

    Headers over ``MAX_HEADERS`` bytes end in a 431 before anything else.

    Every form here is a few short fields, but Starlette would read any
    urlencoded body into memory and spool any multipart file to disk. The
    declared length is checked first; a chunked body is counted as it comes.
    The providers' reports under ``/hooks/`` may be up to ``hook_limit``.
    """

    def __init__(
        self, app: ASGIApp, limit: int = MAX_BODY, hook_limit: int = MAX_HOOK_BODY
    ) -> None:
        self.app = app
        self.limit = limit
        self.hook_limit = hook_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if sum(len(name) + len(value) + 4 for name, value in scope["headers"]) > MAX_HEADERS:
            # h11 limits only a head that arrives in pieces; one sent whole is counted here.
            response = PlainTextResponse("The request's headers are too large.\n", 431)
            await response(scope, receive, send)
            return
        limit = self.hook_limit if scope["path"].startswith("/hooks/") else self.limit
        declared = Headers(scope=scope).get("content-length", "")
        too_long = declared.isdigit() and int(declared) > limit
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if too_long:
                raise HTTPException(413)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413)
            return message

        await self.app(scope, limited_receive, send)
