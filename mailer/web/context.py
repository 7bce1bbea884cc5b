"""What every handler needs, built once per app and found on ``request.app.state``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request

from mailer.config import Config
from mailer.letters.mime import OutgoingMessage
from mailer.tokens import Signer
from mailer.web.limits import SubscribeLimits
from mailer.web.pages import Pages
from mailer.web.pool import StorePool

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


def context_of(request: Request) -> WebContext:
    """The app's context (set by ``create_app``)."""
    web: WebContext = request.app.state.web
    return web
