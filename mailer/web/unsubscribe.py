"""``/u/{token}``: the unsubscribe page and RFC 8058 one-click unsubscribe.

A GET only shows a page: link scanners and previewers follow GETs, and must
never unsubscribe anyone. A POST with ``List-Unsubscribe=One-Click`` (what a
mail provider sends when the reader presses its "unsubscribe" button) takes
effect at once, with no cookies and no CSRF token, because the signed token in
the URL is the whole authority. The page's own buttons post a CSRF token too,
and offer leaving every list. The pages speak the subscriber's language, else
their list's default.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mailer.i18n import N_, catalogue_language, translations
from mailer.membership import Membership, leave, membership
from mailer.tokens import UNSUBSCRIBE, Claim
from mailer.web.context import WebContext, context_of
from mailer.web.pages import client_address
from mailer.web.security import form_is_ours


def _claim(web: WebContext, token: str) -> tuple[int, int, int]:
    """Subscriber, list, and the campaign whose letter held the link (0: none named)."""
    claim: Claim = web.signer.verify(token, UNSUBSCRIBE)
    campaign = claim.integer(2) if len(claim.fields) > 2 else 0
    return claim.integer(0), claim.integer(1), campaign


def _language(found: Membership) -> str:
    """The subscriber's language if there is a catalogue for it, else the list's default's."""
    default = found.mailing_list.language if found.mailing_list else ""
    return catalogue_language(found.language, default)


async def _show(
    request: Request, web: WebContext, token: str, *, status: int = 200, notice: str = ""
) -> Response:
    """The page; ``notice`` is a message in English, shown in the page's language."""
    subscriber_id, list_id, _ = _claim(web, token)
    found = await web.stores.run(lambda store: membership(store, subscriber_id, list_id))
    language = _language(found)
    return web.form_page(
        request,
        "unsubscribe.html.j2",
        status=status,
        language=language,
        list_title=found.mailing_list.display_title if found.mailing_list else "",
        subscribed=found.subscribed,
        notice=translations(language).gettext(notice) if notice else "",
    )


async def unsubscribe_page(request: Request) -> Response:
    """GET: name the list and offer the buttons; changes nothing."""
    web = context_of(request)
    return await _show(request, web, request.path_params["token"])


async def unsubscribe_post(request: Request) -> Response:
    """POST: one-click (RFC 8058) or the page's form; both idempotent."""
    web = context_of(request)
    token = request.path_params["token"]
    subscriber_id, list_id, campaign = _claim(web, token)
    form = await request.form()
    client = client_address(request)
    scope = str(form.get("scope", ""))
    if not scope and form.get("List-Unsubscribe") == "One-Click":
        method = "one-click"
        target: int | None = list_id
    elif form_is_ours(request, web.signer, web.base_url, form.get("csrf")):
        method = "web"
        target = None if scope == "all" else list_id
    else:
        notice = N_("The page was too old to use. Please press the button again.")
        return await _show(request, web, token, status=400, notice=notice)
    found = await web.stores.run(lambda store: membership(store, subscriber_id, list_id))
    await web.stores.run(
        lambda store: leave(
            store, subscriber_id, target, method=method, client=client,
            campaign=campaign,
        )
    )
    return web.pages.page(
        "unsubscribed.html.j2",
        language=_language(found),
        list_title=found.mailing_list.display_title if found.mailing_list else "",
        every_list=target is None,
    )


def routes() -> list[Route]:
    """The unsubscribe routes."""
    return [
        Route("/u/{token}", unsubscribe_page, methods=["GET"]),
        Route("/u/{token}", unsubscribe_post, methods=["POST"]),
    ]
