"""``/moderate/{token}`` and ``/post/confirm/{token}``: deciding on a post from a link.

The link a moderator is mailed names the post (signed, purpose
``MODERATE``, expiring when the post would); the page shows the post safely
(its text, and its HTML cleaned of scripts, styles, images and remote
content by ``posting.moderation.clean_html``, under the app's CSP that
loads nothing) with a form to approve, reject with a reason, or discard.
The poster's link (purpose ``CONFIRM_POST``) shows a button that confirms
the post. A GET never changes anything (link scanners follow GETs); each
POST carries the page's CSRF token (``security.form_is_ours``). The pages
are for the list's people and speak English.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mailer.errors import ConflictError
from mailer.posting import moderation
from mailer.tokens import CONFIRM_POST, MODERATE
from mailer.web.context import WebContext, context_of
from mailer.web.security import form_is_ours

_STALE = "The page was too old to use. Please open the link again."


def _post_id(web: WebContext, token: str, purpose: str) -> int:
    return web.signer.verify(token, purpose).integer(0)


async def _show(
    request: Request, web: WebContext, post_id: int, template: str, *, status: int = 200,
    notice: str = "",
) -> Response:
    found = await web.stores.run(lambda store: moderation.read(store, post_id))
    return web.form_page(
        request, template, status=status, post=found.post, text=found.text,
        html=Markup(found.html), attachments=found.attachments,
        waiting=found.post.status in ("held", "unconfirmed"), notice=notice,
    )


Decide = Callable[[WebContext, int, FormData], Awaitable[str]]


def _page(template: str, purpose: str) -> Callable[[Request], Awaitable[Response]]:
    """GET: the post and its form; changes nothing."""

    async def page(request: Request) -> Response:
        web = context_of(request)
        post_id = _post_id(web, request.path_params["token"], purpose)
        return await _show(request, web, post_id, template)

    return page


def _decision(
    template: str, purpose: str, decide: Decide
) -> Callable[[Request], Awaitable[Response]]:
    """POST: the page's own form (its CSRF token checked) makes ``decide`` act; the page
    again, with what was done (or why nothing was)."""

    async def post(request: Request) -> Response:
        web = context_of(request)
        post_id = _post_id(web, request.path_params["token"], purpose)
        form = await request.form()
        if not form_is_ours(request, web.signer, web.base_url, form.get("csrf")):
            return await _show(request, web, post_id, template, status=400, notice=_STALE)
        try:
            notice = await decide(web, post_id, form)
        except ConflictError as exc:
            return await _show(request, web, post_id, template, status=409, notice=str(exc))
        return await _show(request, web, post_id, template, notice=notice)

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
    return "Thank you: your message is on its way to the list."


_MODERATE_PAGE = "moderate.html.j2"
_CONFIRM_PAGE = "confirm_post.html.j2"


def routes() -> list[Route]:
    """The moderation and confirmation routes."""
    return [
        Route("/moderate/{token}", _page(_MODERATE_PAGE, MODERATE), methods=["GET"]),
        Route("/moderate/{token}", _decision(_MODERATE_PAGE, MODERATE, _moderate),
              methods=["POST"]),
        Route("/post/confirm/{token}", _page(_CONFIRM_PAGE, CONFIRM_POST), methods=["GET"]),
        Route("/post/confirm/{token}", _decision(_CONFIRM_PAGE, CONFIRM_POST, _confirm),
              methods=["POST"]),
    ]
