"""``/archive/``: the letters sent to public lists, and their Atom feed.

A letter in the archive is rendered for a neutral sample subscriber: no name,
an example address, only the placeholder attributes of the letter's own
``sample:`` (so that its template renders), and a signer holding a throwaway
key, so no working unsubscribe token can appear; links to ``/u/...`` are also pointed at
the list's subscribe page, which is what a reader of the archive wants anyway.
The letter's attachments and images, kept with its campaign, are served under
``/archive/{campaign}/files/{name}``, and its page shows and links them there.
A campaign is archived once it is done, or while it is sending once at least
one message went out. A letter's page speaks its list's default language; the
index and the feed, which belong to no list, the visitor's.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mailer import clock, tokens
from mailer.config import Config
from mailer.errors import MailerError
from mailer.i18n import translations
from mailer.letters.compile import compile_letter, sample_recipient
from mailer.letters.files import FileSummary, LetterFile, kept_files
from mailer.letters.multipart import ascii_filename
from mailer.letters.source import parse_letter
from mailer.store import Store, campaigns
from mailer.store.campaigns import ArchivedLetter, CampaignFile
from mailer.store.models import Recipient
from mailer.web.context import context_of
from mailer.web.pages import visitor_language
from mailer.web.security import ARCHIVE_CSP

SAMPLE_ADDRESS = "subscriber@example.org"
_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class ArchivedBody:
    """An archived letter as its page shows it: the HTML of its body, and its attachments."""

    html: str
    attachments: tuple[FileSummary, ...] = ()


class ArchiveRenderer:
    """Renders archived letters for the sample subscriber, keeping the last few."""

    def __init__(self, config: Config) -> None:
        self.config = config
        # A key nobody knows: any token in an archived letter is worthless.
        self._signer = tokens.signer_for(Config(), missing="throwaway")
        self._cache: dict[tuple[int, str], ArchivedBody] = {}
        self._lock = threading.Lock()

    def cached(self, letter: ArchivedLetter) -> ArchivedBody | None:
        """The letter as rendered before, if it still is in the cache."""
        with self._lock:
            return self._cache.get((letter.id, letter.letter_hash))

    def render(self, letter: ArchivedLetter, files: Mapping[str, LetterFile]) -> ArchivedBody:
        """Render the letter (its images and attachments linked to the archive's copies)."""
        body = self._render(letter, files)
        with self._lock:
            if len(self._cache) > 200:
                self._cache.clear()
            self._cache[(letter.id, letter.letter_hash)] = body
        return body

    def _render(self, letter: ArchivedLetter, files: Mapping[str, LetterFile]) -> ArchivedBody:
        parsed = parse_letter(letter.letter_source, Path(letter.letter_path or "letter.md"))
        compiled = compile_letter(
            parsed,
            config=self.config,
            mailing_list=letter.mailing_list,
            signer=self._signer,
            campaign_id=letter.id,
            files=files,
            images="link",
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
        attachments = tuple(f.summary() for f in compiled.carried.attachments)
        return ArchivedBody(re.sub(base + r"/u/[A-Za-z0-9_-]+", subscribe_url, body), attachments)


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


async def _body(request: Request, letter: ArchivedLetter) -> ArchivedBody:
    """The letter rendered for the archive: from the cache, else with its kept files."""
    renderer = _renderer(request)
    found = renderer.cached(letter)
    if found is None:
        kept = await context_of(request).stores.run(
            lambda store: campaigns.files_of(store, letter.id)
        )
        # Rendering takes tens of milliseconds: off the event loop, so other pages go on.
        found = await run_in_threadpool(renderer.render, letter, kept_files(kept))
    return found


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
        body = await _body(request, letter)
    except MailerError:
        return web.pages.message(
            letter.subject,
            translations(language).gettext("This letter cannot be shown in the archive."),
            language=language,
            status=500,
        )
    response = web.pages.page(
        "archive_letter.html.j2", language=language, letter=letter, body=body.html,
        attachments=body.attachments,
    )
    response.headers["Content-Security-Policy"] = ARCHIVE_CSP
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def content_disposition(kind: str, name: str) -> str:
    """``attachment`` or ``inline`` with the file's name, in ASCII and (RFC 6266) in UTF-8."""
    fallback = ascii_filename(name)
    value = f'{kind}; filename="{fallback}"'
    if fallback != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value


async def archive_file(request: Request) -> Response:
    """GET /archive/{campaign}/files/{name}: an attachment or image of an archived letter.

    Only a letter the archive shows has its files served; anything else is a 404.
    """
    web = context_of(request)
    campaign_id = int(request.path_params["campaign"])
    name = request.path_params["name"]

    def find(store: Store) -> CampaignFile | None:
        if campaigns.archived_one(store, campaign_id) is None:
            return None
        return campaigns.file_of(store, campaign_id, name)

    kept = await web.stores.run(find)
    if kept is None:
        return web.pages.message("Not found", "There is no file at this address.", status=404)
    file = LetterFile.of(kept.name, kept.content)
    content_type = file.content_type + (f"; charset={file.charset}" if file.charset else "")
    disposition = "inline" if file.is_image else "attachment"
    return Response(
        file.content,
        headers={
            "Content-Type": content_type,
            "Content-Disposition": content_disposition(disposition, file.name),
            "Cache-Control": "public, max-age=300",
        },
    )


async def archive_feed(request: Request) -> Response:
    """GET /archive/feed.atom: the archive as an Atom feed (newest 50 letters)."""
    web = context_of(request)
    letters = await web.stores.run(lambda store: campaigns.archived(store, limit=50))
    entries = []
    for letter in letters:
        try:
            body = await _body(request, letter)
        except MailerError:
            body = ArchivedBody("")
        entries.append((letter, body.html, body.attachments))
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
        Route("/archive/{campaign:int}/files/{name}", archive_file, methods=["GET"]),
    ]
