"""``/moderate/{token}`` and ``/post/confirm/{token}``: deciding on a post from a link.

The link a moderator is mailed names the post (signed, purpose
``MODERATE``, expiring when the post would); the page shows the post safely
(its text, and its HTML cleaned of scripts, styles, images and remote
content by ``posting.moderation.clean_html``, under the app's CSP that
loads nothing) with a form to approve, reject with a reason, or discard.
The poster's link (purpose ``CONFIRM_POST``) shows a button that confirms
the post. A GET never changes anything (link scanners follow GETs); each
POST carries the page's CSRF token (``security.form_is_ours``). The poster's
page speaks the poster's language (``moderation.poster_language``); the
moderator's is in English, like the command line and the notice that links
to it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mailer.errors import ConflictError
from mailer.i18n import N_, translations
from mailer.posting import moderation
from mailer.store.database import Store
from mailer.store.models import Post, PostStatus
from mailer.tokens import CONFIRM_POST, MODERATE
from mailer.web.context import WebContext, context_of
from mailer.web.security import form_is_ours

_STALE = N_("The page was too old to use. Please open the link again.")
#: What the poster is told when the post was decided on before they confirmed it.
_DECIDED = N_("Nothing was done: the message was confirmed or decided on already.")
#: A post's status as its page says it.
_STATUS = {
    PostStatus.HELD: N_("held for a moderator"),
    PostStatus.UNCONFIRMED: N_("waiting for its sender to confirm it"),
    PostStatus.APPROVED: N_("sent to the list"),
    PostStatus.REJECTED: N_("not sent to the list"),
    PostStatus.DISCARDED: N_("discarded"),
}

Decide = Callable[[WebContext, int, FormData], Awaitable[str]]
Language = Callable[[Store, Post], str]


@dataclass(frozen=True)
class _Flow:
    """Whose page it is: its template, the token's purpose, what its form does, and the
    language it speaks to whom it is for."""

    template: str
    purpose: str
    decide: Decide
    language: Language
    #: The notice when someone decided first: the error's own words, or this text.
    decided: str = ""
    #: Whether the page says why the post has its status (mailer's words, in English):
    #: the moderator's does; to the poster, the status says enough.
    reasons: bool = True


def _post_id(web: WebContext, token: str, purpose: str) -> int:
    return web.signer.verify(token, purpose).integer(0)


async def _show(
    request: Request, web: WebContext, flow: _Flow, post_id: int, *, status: int = 200,
    notice: str = "",
) -> Response:
    """The page, in its reader's language; ``notice`` is in English, translated here."""

    def read(store: Store) -> tuple[moderation.HeldPost, str]:
        found = moderation.read(store, post_id)
        return found, flow.language(store, found.post)

    found, language = await web.stores.run(read)
    _ = translations(language).gettext
    post = found.post
    return web.form_page(
        request, flow.template, status=status, language=language, post=post, text=found.text,
        html=Markup(found.html), attachments=found.attachments,
        status_text=_(_STATUS[post.status]), reason=post.reason if flow.reasons else "",
        waiting=post.status in ("held", "unconfirmed"), notice=_(notice) if notice else "",
    )


def _page(flow: _Flow) -> Callable[[Request], Awaitable[Response]]:
    """GET: the post and its form; changes nothing."""

    async def page(request: Request) -> Response:
        web = context_of(request)
        post_id = _post_id(web, request.path_params["token"], flow.purpose)
        return await _show(request, web, flow, post_id)

    return page


def _decision(flow: _Flow) -> Callable[[Request], Awaitable[Response]]:
    """POST: the page's own form (its CSRF token checked) makes ``decide`` act; the page
    again, with what was done (or why nothing was)."""

    async def post(request: Request) -> Response:
        web = context_of(request)
        post_id = _post_id(web, request.path_params["token"], flow.purpose)
        form = await request.form()
        if not form_is_ours(request, web.signer, web.base_url, form.get("csrf")):
            return await _show(request, web, flow, post_id, status=400, notice=_STALE)
        try:
            notice = await flow.decide(web, post_id, form)
        except ConflictError as exc:
            notice = flow.decided or str(exc)
            return await _show(request, web, flow, post_id, status=409, notice=notice)
        return await _show(request, web, flow, post_id, notice=notice)

    return post


async def _moderate(web: WebContext, post_id: int, form: FormData) -> str:
    """Approve, reject (the poster is told, with the reason) or discard."""
    action = str(form.get("action", ""))
    reason = " ".join(str(form.get("reason", "")).split())[:500]
    if action == "approve":
        await web.stores.run(lambda store: moderation.approve(store, post_id))
        return "Approved: the post is on its way to the list."
    if action == "reject":
        await web.stores.run(lambda store: moderation.reject(web.config, store, post_id, reason))
        return "Rejected: the poster was answered."
    if action == "discard":
        await web.stores.run(lambda store: moderation.discard(store, post_id))
        return "Discarded."
    raise ConflictError("choose approve, reject or discard")


async def _confirm(web: WebContext, post_id: int, form: FormData) -> str:
    """The poster confirms: the post goes to the list."""
    await web.stores.run(lambda store: moderation.confirm(store, post_id))
    return N_("Thank you: your message is on its way to the list.")


def _in_english(store: Store, post: Post) -> str:
    return ""


_MODERATE = _Flow("moderate.html.j2", MODERATE, _moderate, _in_english)
_CONFIRM = _Flow("confirm_post.html.j2", CONFIRM_POST, _confirm, moderation.poster_language,
                 decided=_DECIDED, reasons=False)


def routes() -> list[Route]:
    """The moderation and confirmation routes."""
    return [
        Route("/moderate/{token}", _page(_MODERATE), methods=["GET"]),
        Route("/moderate/{token}", _decision(_MODERATE), methods=["POST"]),
        Route("/post/confirm/{token}", _page(_CONFIRM), methods=["GET"]),
        Route("/post/confirm/{token}", _decision(_CONFIRM), methods=["POST"]),
    ]
