"""Rendering the app's pages from Jinja2 templates, and what a request tells us.

Templates live in ``templates/web/`` and can be overridden like the letter
templates: a file of the same name under ``config.templates_path`` wins over
the one mailer ships. Everything is autoescaped; a template that is broken
(an override with a typo) becomes a ``TemplateError``, shown as a plain page.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from mailer.config import Config
from mailer.resources import page_environment, render_page


class Pages:
    """Renders ``web/<name>`` templates into responses."""

    def __init__(self, config: Config) -> None:
        self.env = page_environment(config.templates_path)
        self.base_url = config.web.base_url.rstrip("/")
        self.organization = config.sender.organization

    def render(self, template_name: str, **context: Any) -> str:
        """The text of template ``web/<template_name>`` with ``context``."""
        return render_page(
            self.env, f"web/{template_name}",
            base_url=self.base_url, organization=self.organization, **context,
        )

    def page(self, template_name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        """An HTML page."""
        return HTMLResponse(self.render(template_name, **context), status_code=status)

    def message(self, title: str, text: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        """A page with a heading and a paragraph: thanks, errors, not found."""
        return self.page("message.html.j2", status=status, title=title, text=text, **context)


def client_address(request: Request) -> str:
    """The client's address (uvicorn puts the proxy's X-Forwarded-For here when trusted)."""
    return request.client.host if request.client else "unknown"


def user_agent(request: Request) -> str:
    """The browser's own description, cut short: it is evidence, not a free-text field."""
    return request.headers.get("user-agent", "")[:300]


def plain_error(status: int, text: str) -> Response:
    """Last-resort answer when even the error page cannot be rendered."""
    return Response(text + "\n", status_code=status, media_type="text/plain; charset=utf-8")
