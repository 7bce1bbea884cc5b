"""``/archive/``: the letters sent to public lists, and their Atom feed.

A letter in the archive is rendered for a neutral sample subscriber: no name,
an example address, only the placeholder attributes of the letter's own
``sample:`` (so that its template renders), and a signer holding a throwaway
key, so no
working unsubscribe token can appear; links to ``/u/...`` are also pointed at
the list's subscribe page, which is what a reader of the archive wants anyway.
A campaign is archived once it is done, or while it is sending once at least
one message went out.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mailer import clock
from mailer.config import Config
from mailer.errors import MailerError
from mailer.letters.compile import compile_letter, sample_recipient
from mailer.letters.source import parse_letter
from mailer.store import Store
from mailer.store.models import MailingList, Recipient
from mailer.tokens import Signer
from mailer.web.context import context_of
from mailer.web.security import ARCHIVE_CSP

_ARCHIVED = (
    "SELECT c.id, c.subject, c.letter_source, c.letter_path, c.letter_hash, "
    "COALESCE(c.finished_at, c.started_at, c.created_at) AS sent_at, l.id AS list_id, "
    "l.name, l.title, l.description, l.double_optin, l.public, l.created_at AS list_created_at "
    "FROM campaigns c JOIN lists l ON l.id = c.list_id "
    "WHERE l.public = 1 AND (c.state = 'done' OR (c.state = 'sending' AND EXISTS "
    "(SELECT 1 FROM deliveries d WHERE d.campaign_id = c.id AND d.state = 'sent')))"
)
SAMPLE_ADDRESS = "subscriber@example.org"
#: SQLite's largest integer: a longer number in the URL names no campaign (and
#: would not even fit into the query).
_LARGEST_ID = 2**63 - 1
_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class ArchivedLetter:
    """One archived campaign, as the index and the feed list it."""

    id: int
    subject: str
    sent_at: str
    mailing_list: MailingList
    letter_source: str
    letter_path: str
    letter_hash: str

    @property
    def sent_date(self) -> str:
        return self.sent_at[:10]


def _from_row(row: sqlite3.Row) -> ArchivedLetter:
    return ArchivedLetter(
        id=row["id"],
        subject=row["subject"],
        sent_at=row["sent_at"],
        mailing_list=MailingList(
            id=row["list_id"],
            name=row["name"],
            title=row["title"],
            description=row["description"],
            double_optin=bool(row["double_optin"]),
            public=bool(row["public"]),
            created_at=row["list_created_at"],
        ),
        letter_source=row["letter_source"],
        letter_path=row["letter_path"],
        letter_hash=row["letter_hash"],
    )


def archived_letters(store: Store, *, limit: int = 500) -> list[ArchivedLetter]:
    """Archived campaigns, newest first."""
    rows = store.all(
        f"{_ARCHIVED} ORDER BY sent_at DESC, c.id DESC LIMIT ?",
        (limit,),
    )
    return [_from_row(r) for r in rows]


def archived_letter(store: Store, campaign_id: int) -> ArchivedLetter | None:
    """One archived campaign, or None when it is unknown, private, or not sent yet."""
    if not 0 < campaign_id <= _LARGEST_ID:
        return None
    row = store.one(f"{_ARCHIVED} AND c.id = ?", (campaign_id,))
    return _from_row(row) if row is not None else None


class ArchiveRenderer:
    """Renders archived letters for the sample subscriber, keeping the last few."""

    def __init__(self, config: Config) -> None:
        self.config = config
        # A key nobody knows: any token in an archived letter is worthless.
        self._signer = Signer(secrets.token_hex(32))
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
    letters = await web.stores.run(archived_letters)
    response = web.pages.page("archive_index.html.j2", title="Archive", letters=letters)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


async def archive_letter(request: Request) -> Response:
    """GET /archive/{campaign}: one letter as the sample subscriber would have read it."""
    web = context_of(request)
    campaign_id = int(request.path_params["campaign"])
    letter = await web.stores.run(lambda store: archived_letter(store, campaign_id))
    if letter is None:
        return web.pages.message(
            "Not found", "There is no archived letter at this address.", status=404
        )
    try:
        # Rendering takes tens of milliseconds: off the event loop, so other pages go on.
        body = await run_in_threadpool(_renderer(request).body_html, letter)
    except MailerError:
        return web.pages.message(
            letter.subject, "This letter cannot be shown in the archive.", status=500
        )
    response = web.pages.page("archive_letter.html.j2", letter=letter, body=body)
    response.headers["Content-Security-Policy"] = ARCHIVE_CSP
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


async def archive_feed(request: Request) -> Response:
    """GET /archive/feed.atom: the archive as an Atom feed (newest 50 letters)."""
    web = context_of(request)
    letters = await web.stores.run(lambda store: archived_letters(store, limit=50))
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
    text = web.pages.render("feed.atom.j2", entries=entries, updated=updated)
    return Response(
        text,
        media_type="application/atom+xml; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )


def routes() -> list[Route]:
    """The archive routes."""
    return [
        Route("/archive/", archive_index, methods=["GET"]),
        Route("/archive/feed.atom", archive_feed, methods=["GET"]),
        Route("/archive/{campaign:int}", archive_letter, methods=["GET"]),
    ]
