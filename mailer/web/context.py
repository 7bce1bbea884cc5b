"""What every handler needs, built once per app and found on ``request.app.state``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from mailer.config import Config
from mailer.letters.mime import OutgoingMessage
from mailer.tokens import Signer
from mailer.web.limits import SubscribeLimits
from mailer.web.pages import Pages, client_address
from mailer.web.pool import StorePool
from mailer.web.security import csrf_token

Deliver = Callable[[Config, OutgoingMessage], Awaitable[None]]


@dataclass
class WebContext:
    """The configuration, the signer, the database, the pages, the limits, the mail."""

    config: Config
    signer: Signer
    stores: StorePool
    pages: Pages
    limits: SubscribeLimits
    deliver: Deliver

    @property
    def base_url(self) -> str:
        return self.config.web.base_url.rstrip("/")

    def form_page(
        self, request: Request, template: str, *, status: int = 200, **context: Any
    ) -> HTMLResponse:
        """A page with a form posting back to this page, with its CSRF token for this client."""
        token = csrf_token(self.signer, request.url.path, client_address(request))
        return self.pages.page(
            template, status=status, action=request.url.path, csrf=token, **context
        )


def context_of(request: Request) -> WebContext:
    """The app's context (set by ``create_app``)."""
    web: WebContext = request.app.state.web
    return web
