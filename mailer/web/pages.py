"""Rendering the app's pages from Jinja2 templates, and what a request tells us.

Templates live in ``templates/web/`` and can be overridden like the letter
templates: a file of the same name under ``config.templates_path`` wins over
the one mailer ships. Everything is autoescaped; a template that is broken
(an override with a typo) becomes a ``TemplateError``, shown as a plain page.

Each page is written in one language, the one of the catalogue that serves
its reader (``mailer.i18n.catalogue_language``), and says so in ``<html
lang>``; there is one template environment per such language.
"""

from __future__ import annotations

import threading
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from mailer.config import Config
from mailer.errors import InputError
from mailer.i18n import catalogue_language
from mailer.i18n_jinja import EXTENSIONS, install
from mailer.languages import normalize_tag
from mailer.resources import page_environment, render_page

#: How many entries of an ``Accept-Language`` header are looked at (browsers send a few).
_ACCEPT_ENTRIES = 12


def template_environment(config: Config, language: str = "") -> jinja2.Environment:
    """The page templates in ``language``: the user's folder first, then the shipped defaults."""
    env = page_environment(config.templates_path, extensions=EXTENSIONS)
    install(env, language)
    return env


class Pages:
    """Renders ``web/<name>`` templates into responses, each in its reader's language."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._envs: dict[str, jinja2.Environment] = {}
        self._lock = threading.Lock()
        self.env = self.environment("")
        self.base_url = config.web.base_url.rstrip("/")
        self.organization = config.sender.organization

    def environment(self, language: str) -> jinja2.Environment:
        """The environment whose catalogue serves ``language`` (made once, then kept)."""
        tag = catalogue_language(language)
        with self._lock:
            env = self._envs.get(tag)
            if env is None:
                env = self._envs[tag] = template_environment(self._config, tag)
        return env

    def render(self, template_name: str, *, language: str = "", **context: Any) -> str:
        """The text of template ``web/<template_name>`` with ``context``, in ``language``."""
        tag = catalogue_language(language)
        return render_page(
            self.environment(tag), f"web/{template_name}",
            base_url=self.base_url, organization=self.organization, lang=tag, **context,
        )

    def page(
        self, template_name: str, *, language: str = "", status: int = 200, **context: Any
    ) -> HTMLResponse:
        """An HTML page in ``language``."""
        return HTMLResponse(
            self.render(template_name, language=language, **context), status_code=status
        )

    def message(
        self, title: str, text: str, *, language: str = "", status: int = 200, **context: Any
    ) -> HTMLResponse:
        """A page with a heading and a paragraph (already translated): thanks, errors, not found."""
        return self.page(
            "message.html.j2", language=language, status=status, title=title, text=text, **context
        )


def client_address(request: Request) -> str:
    """The client's address (uvicorn puts the proxy's X-Forwarded-For here when trusted)."""
    return request.client.host if request.client else "unknown"


def user_agent(request: Request) -> str:
    """The browser's own description, cut short: it is evidence, not a free-text field."""
    return request.headers.get("user-agent", "")[:300]


def accepted_languages(request: Request) -> list[str]:
    """The languages the browser asks for (``Accept-Language``), most wanted first.

    Entries with ``q=0``, ``*`` and anything that is not a language tag are left out.
    """
    header = request.headers.get("accept-language", "")[:1000]
    weighted: list[tuple[float, int, str]] = []
    for index, entry in enumerate(header.split(",")[:_ACCEPT_ENTRIES]):
        tag, _, parameters = entry.partition(";")
        quality = 1.0
        parameters = parameters.strip()
        if parameters.startswith("q="):
            try:
                quality = float(parameters[2:])
            except ValueError:
                continue
        if not 0 < quality <= 1:
            continue
        try:
            normalized = normalize_tag(tag)
        except InputError:
            continue
        if normalized:
            weighted.append((-quality, index, normalized))
    return [tag for _, _, tag in sorted(weighted)]


def visitor_language(request: Request) -> str:
    """The language of a page that belongs to nobody: the browser's, if there is a catalogue."""
    return catalogue_language(*accepted_languages(request))


def plain_error(status: int, text: str) -> Response:
    """Last-resort answer when even the error page cannot be rendered."""
    return Response(text + "\n", status_code=status, media_type="text/plain; charset=utf-8")
