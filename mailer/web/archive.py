"""``/archive/``: the letters sent to public lists, and their Atom feed.

A letter in the archive is rendered for a neutral sample subscriber: no name,
an example address, only the placeholder attributes of the letter's own
``sample:`` (so that its template renders), and a signer holding a throwaway
key, so no working unsubscribe token can appear; links to ``/u/...`` are also pointed at
the list's subscribe page, which is what a reader of the archive wants anyway.
A campaign is archived once it is done, or while it is sending once at least
one message went out. A letter's page speaks its list's default language; the
index and the feed, which belong to no list, the visitor's.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mailer import clock, tokens
from mailer.config import Config
from mailer.errors import MailerError
from mailer.i18n import translations
from mailer.letters.compile import compile_letter, sample_recipient
from mailer.letters.source import parse_letter
from mailer.store import campaigns
from mailer.store.campaigns import ArchivedLetter
from mailer.store.models import Recipient
from mailer.web.context import context_of
from mailer.web.pages import visitor_language
from mailer.web.security import ARCHIVE_CSP

SAMPLE_ADDRESS = "subscriber@example.org"
_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.DOTALL | re.IGNORECASE)


class ArchiveRenderer:
    """Renders archived letters for the sample subscriber, keeping the last few."""

    def __init__(self, config: Config) -> None:
        self.config = config
        # A key nobody knows: any token in an archived letter is worthless.
        self._signer = tokens.signer_for(Config(), missing="throwaway")
        self._cache: dict[tuple[int, str], str] = {}
        self._lock = threading.Lock()

    def body_html(self, letter: ArchivedLetter) -> str:
        """The HTML inside the letter's ``<body>``, rendered for the sample subscriber."""
        key = (letter.id, letter.letter_hash)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        html = self._render(letter)
        with self._lock:
            if len(self._cache) > 200:
                self._cache.clear()
            self._cache[key] = html
        return html

    def _render(self, letter: ArchivedLetter) -> str:
        parsed = parse_letter(letter.letter_source, Path(letter.letter_path or "letter.md"))
        compiled = compile_letter(
            parsed,
            config=self.config,
            mailing_list=letter.mailing_list,
            signer=self._signer,
            campaign_id=letter.id,
        )
        # The letter's sample attributes let its template render; no name, no real address.
        sample = Recipient(
            email=SAMPLE_ADDRESS, attributes=dict(sample_recipient(parsed).attributes)
        )
        html, _text = compiled.render(sample)
        match = _BODY.search(html)
        body = match.group(1) if match else html
        base = re.escape(self.config.web.base_url.rstrip("/"))
        subscribe_url = f"{self.config.web.base_url.rstrip('/')}/s/{letter.mailing_list.name}"
        return re.sub(base + r"/u/[A-Za-z0-9_-]+", subscribe_url, body)


def _renderer(request: Request) -> ArchiveRenderer:
    renderer: ArchiveRenderer = request.app.state.archive
    return renderer


async def archive_index(request: Request) -> Response:
    """GET /archive/: every archived letter, newest first."""
    web = context_of(request)
    letters = await web.stores.run(campaigns.archived)
    language = visitor_language(request)
    response = web.pages.page(
        "archive_index.html.j2",
        language=language,
        title=translations(language).gettext("Archive"),
        letters=letters,
    )
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Vary"] = "Accept-Language"
    return response


async def archive_letter(request: Request) -> Response:
    """GET /archive/{campaign}: one letter as the sample subscriber would have read it."""
    web = context_of(request)
    campaign_id = int(request.path_params["campaign"])
    letter = await web.stores.run(lambda store: campaigns.archived_one(store, campaign_id))
    if letter is None:
        language = visitor_language(request)
        _ = translations(language).gettext
        return web.pages.message(
            _("Not found"), _("There is no archived letter at this address."),
            language=language, status=404,
        )
    language = letter.mailing_list.language
    try:
        # Rendering takes tens of milliseconds: off the event loop, so other pages go on.
        body = await run_in_threadpool(_renderer(request).body_html, letter)
    except MailerError:
        return web.pages.message(
            letter.subject,
            translations(language).gettext("This letter cannot be shown in the archive."),
            language=language,
            status=500,
        )
    response = web.pages.page(
        "archive_letter.html.j2", language=language, letter=letter, body=body
    )
    response.headers["Content-Security-Policy"] = ARCHIVE_CSP
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


async def archive_feed(request: Request) -> Response:
    """GET /archive/feed.atom: the archive as an Atom feed (newest 50 letters)."""
    web = context_of(request)
    letters = await web.stores.run(lambda store: campaigns.archived(store, limit=50))
    renderer = _renderer(request)

    def render_all() -> list[tuple[ArchivedLetter, str]]:
        entries = []
        for letter in letters:
            try:
                content = renderer.body_html(letter)
            except MailerError:
                content = ""
            entries.append((letter, content))
        return entries

    entries = await run_in_threadpool(render_all)
    updated = letters[0].sent_at if letters else clock.iso(datetime(2000, 1, 1, tzinfo=UTC))
    text = web.pages.render(
        "feed.atom.j2", language=visitor_language(request), entries=entries, updated=updated
    )
    return Response(
        text,
        media_type="application/atom+xml; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", "Vary": "Accept-Language"},
    )


def routes() -> list[Route]:
    """The archive routes."""
    return [
        Route("/archive/", archive_index, methods=["GET"]),
        Route("/archive/feed.atom", archive_feed, methods=["GET"]),
        Route("/archive/{campaign:int}", archive_letter, methods=["GET"]),
    ]
