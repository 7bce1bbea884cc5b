"""The Starlette app: routes, error pages, security headers, and its lifetime.

``create_app`` builds one app per configuration. Everything foreseeable that
goes wrong inside a handler ends as a friendly page: a bad link (tampered,
expired or meant for something else) is a 400, an unknown path a 404, a body
too large to be one of our forms a 413, a broken database or anything else a
500 (a plain-text one when even the error page cannot be rendered). No
traceback ever reaches a visitor. Nothing here redirects, so there is no
redirect to abuse. Error pages speak the visitor's language (their
browser's, when mailer has a catalogue for it).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router

from mailer.config import Config
from mailer.dispatch.run import send_one
from mailer.errors import MailerError, StoreError, TokenError
from mailer.i18n import N_, translations
from mailer.tokens import Signer
from mailer.web import archive, hooks, subscribe, unsubscribe
from mailer.web.context import Deliver, WebContext, context_of
from mailer.web.limits import SubscribeLimits
from mailer.web.pages import Pages, plain_error, visitor_language
from mailer.web.pool import StorePool
from mailer.web.security import BodyLimit, SecurityHeaders, add_security_headers

log = logging.getLogger("mailer.web")

_TRY_LATER = N_("The request could not be handled just now. Please try again later.")


async def healthz(request: Request) -> Response:
    """Liveness and readiness in one: the app answers and the database can be read."""
    web = context_of(request)

    try:
        schema = await web.stores.run(lambda store: store.schema_version())
    except MailerError as exc:
        log.error("health check failed: %s", exc)
        return JSONResponse({"status": "error", "database": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok", "schema": schema})


async def stylesheet(request: Request) -> Response:
    """The one stylesheet (a template, so it is overridable like the pages)."""
    web = context_of(request)
    css = web.pages.env.get_template("web/style.css").render()
    return Response(
        css,
        media_type="text/css; charset=utf-8",
        headers={"Cache-Control": "public, max-age=3600"},
    )


def _error_page(
    request: Request, title: str, text: str, status: int, **values: str
) -> Response:
    """An error page in the visitor's language; ``title`` and ``text`` are in English
    (``text`` may hold ``%(name)s`` for ``values``, which are translated already).

    If even that cannot be rendered (a broken override), plain text.
    """
    language = visitor_language(request)
    _ = translations(language).gettext
    title, text = _(title), _(text) % values
    try:
        return context_of(request).pages.message(title, text, language=language, status=status)
    except Exception as exc:  # the last resort must not fail in turn
        log.error("error page for %s %s failed: %s", request.method, request.url.path, exc)
        return plain_error(status, f"{title}. {text}")


async def _bad_token(request: Request, exc: Exception) -> Response:
    reason = translations(visitor_language(request)).gettext(str(exc) or "")
    return _error_page(
        request,
        N_("This link does not work"),
        N_(
            "%(reason)s. If you copied it from a message, make sure you copied all of it; "
            "if it has expired, ask again for a new one."
        ),
        400,
        reason=f"{reason[:1].upper()}{reason[1:]}",
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        return _error_page(
            request, N_("Not found"), N_("There is no page at this address."), 404
        )
    if status == 405:
        return _error_page(
            request, N_("Not allowed"), N_("This page cannot be used that way."), 405
        )
    if status == 413:
        return _error_page(
            request, N_("Too large"), N_("What was sent is too large for this page."), 413
        )
    return _error_page(
        request, N_("Something went wrong"), N_("The request could not be handled."), status
    )


async def _mailer_error(request: Request, exc: Exception) -> Response:
    log.error("%s %s: %s", request.method, request.url.path, exc)
    if isinstance(exc, StoreError):
        # The database cannot be written just now (read-only, full, locked): it may pass.
        response = _error_page(request, N_("Please try again later"), _TRY_LATER, 503)
        response.headers["Retry-After"] = "300"
        return response
    return _error_page(request, N_("Something went wrong"), _TRY_LATER, 500)


async def _unexpected(request: Request, exc: Exception) -> Response:
    """Any other error (a bug): the same friendly page, no details.

    Starlette answers these outside the app's middleware, so the security
    headers are added here.
    """
    log.exception("%s %s failed", request.method, request.url.path)
    response = _error_page(request, N_("Something went wrong"), _TRY_LATER, 500)
    add_security_headers(response.headers)
    return response


def create_app(
    config: Config,
    *,
    store_path: Path,
    signer: Signer,
    deliver_message: Deliver = send_one,
    limits: SubscribeLimits | None = None,
    provider_hooks: hooks.Hooks | None = None,
) -> Starlette:
    """The web app on the database at ``store_path``, signing with ``signer``.

    ``provider_hooks`` defaults to the providers ``config`` turns on, reached
    over the network, SNS's certificates checked against the system's CAs.
    """
    stores = StorePool(store_path, busy_timeout=config.database.busy_timeout)
    # Open (and check the schema of) the database now, so a wrong path fails at start,
    # as does a provider's key that cannot be read.
    stores.get()
    provider_hooks = provider_hooks or hooks.hooks_for(config)
    web = WebContext(
        config=config,
        signer=signer,
        stores=stores,
        pages=Pages(config),
        limits=limits or SubscribeLimits(config.web.subscribe_limit),
        deliver=deliver_message,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        stores.close_all()

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/style.css", stylesheet, methods=["GET"]),
        *unsubscribe.routes(),
        *subscribe.routes(),
        *archive.routes(),
        *hooks.routes(),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders), Middleware(BodyLimit)],
        exception_handlers={
            TokenError: _bad_token,
            HTTPException: _http_error,
            MailerError: _mailer_error,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
    # Never answer "/archive" with a redirect built from the Host header.
    router = app.router
    assert isinstance(router, Router)
    router.redirect_slashes = False
    app.state.web = web
    app.state.archive = archive.ArchiveRenderer(config)
    app.state.hooks = provider_hooks
    return app
