"""``/s/{list}`` (the subscribe form) and ``/c/{token}`` (the confirmation).

The answer to a subscribe form is the same page whatever happens behind it
(new address, already subscribed, unsubscribed earlier, suppressed, or over the
per-address limit), and it goes out before any of that work is done, so
neither its text nor its timing tells anyone who is on a list. The
confirmation link's GET only shows a button; its POST confirms and stores the
proof of consent.
"""

from __future__ import annotations

import logging

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mailer.contacts.addresses import Address, check_name, normalize_address
from mailer.dispatch.welcome import welcome
from mailer.errors import AddressError, InputError, MailerError, NotFoundError
from mailer.membership import (
    Proof,
    confirm_subscription,
    confirmation_message,
    request_subscription,
)
from mailer.store import Store
from mailer.store.lists import find_list_by_id, get_list
from mailer.store.models import MailingList
from mailer.tokens import CONFIRM
from mailer.web.context import WebContext, context_of
from mailer.web.pages import client_address, user_agent
from mailer.web.security import form_is_ours

log = logging.getLogger("mailer.web")


def _public_list(store: Store, name: str) -> MailingList | None:
    try:
        mailing_list = get_list(store, name)
    except NotFoundError:
        return None
    return mailing_list if mailing_list.public else None


def _not_found(web: WebContext) -> Response:
    return web.pages.message(
        "No such list", "There is no list here to subscribe to. Check the link.", status=404
    )


def _form(
    request: Request,
    web: WebContext,
    mailing_list: MailingList,
    *,
    status: int = 200,
    error: str = "",
    email: str = "",
    name: str = "",
) -> Response:
    return web.form_page(
        request,
        "subscribe.html.j2",
        status=status,
        mailing_list=mailing_list,
        error=error,
        email=email,
        name=name,
    )


async def subscribe_page(request: Request) -> Response:
    """GET: the form (email, name) for a public list; 404 for any other name."""
    web = context_of(request)
    name = request.path_params["list"]
    mailing_list = await web.stores.run(lambda store: _public_list(store, name))
    if mailing_list is None:
        return _not_found(web)
    return _form(request, web, mailing_list)


async def subscribe_post(request: Request) -> Response:
    """POST: check the form, then subscribe or send a confirmation, answering the same."""
    web = context_of(request)
    list_name = request.path_params["list"]
    mailing_list = await web.stores.run(lambda store: _public_list(store, list_name))
    if mailing_list is None:
        return _not_found(web)
    form = await request.form()
    email = str(form.get("email", ""))[:320]
    typed_name = str(form.get("name", ""))[:1000]
    client = client_address(request)
    shown_name = " ".join(typed_name.split())[:200]
    if not form_is_ours(request, web.signer, web.base_url, form.get("csrf")):
        notice = "The form was too old to use. Please send it again."
        return _form(
            request, web, mailing_list, status=400, error=notice, email=email, name=shown_name
        )
    if not web.limits.allow_client(client):
        return web.pages.message(
            "Too many attempts",
            "This form was sent too often from your network. Please try again in an hour.",
            status=429,
        )
    try:
        address = normalize_address(
            email, allow_special_use=web.config.import_.allow_special_use_domains
        )
    except AddressError:
        return _form(
            request,
            web,
            mailing_list,
            status=400,
            error="That does not look like an e-mail address. Please check it.",
            email=email,
            name=shown_name,
        )
    try:
        name = check_name(typed_name)
    except InputError as exc:
        return _form(
            request,
            web,
            mailing_list,
            status=400,
            error=f"Please check the name: {exc}.",
            email=email,
            name="",
        )
    response = web.pages.page(
        "subscribe_sent.html.j2",
        mailing_list=mailing_list,
        email=address.email,
    )
    if web.limits.allow_target(address.key):
        proof = Proof(client, user_agent(request), f"{web.base_url}/s/{mailing_list.name}")
        response.background = BackgroundTask(_join, web, mailing_list, address, name, proof)
    return response


async def _join(
    web: WebContext, mailing_list: MailingList, address: Address, name: str, proof: Proof
) -> None:
    """Record the request and mail the confirmation link, after the answer went out.

    How much work this is depends on whether the address is known (a new one is
    written, a confirmed one is not), so none of it may happen before the answer:
    its timing would tell who is subscribed. Failures are logged, never shown.
    """
    try:
        outcome = await web.stores.run(
            lambda store: request_subscription(store, mailing_list, address, name, proof)
        )
        if outcome.action == "subscribed" and outcome.subscriber_id is not None:
            await _welcome(web, mailing_list.id, outcome.subscriber_id)
        if outcome.action != "confirm" or outcome.subscriber_id is None:
            return
        message = confirmation_message(web.config, web.signer, mailing_list, outcome)
        await web.deliver(web.config, message)
    except MailerError as exc:
        log.error("subscription request for list %s not handled: %s", mailing_list.name, exc)
    except Exception:  # a background task has nobody to answer: say it once, in the log
        log.exception("subscription request for list %s failed", mailing_list.name)


async def confirm_page(request: Request) -> Response:
    """GET: a button to confirm; changes nothing."""
    web = context_of(request)
    list_id = web.signer.verify(request.path_params["token"], CONFIRM).integer(1)
    mailing_list = await web.stores.run(lambda store: _list_or_none(store, list_id))
    if mailing_list is None:
        return _gone(web)
    return _confirm_form(request, web, mailing_list)


def _confirm_form(
    request: Request,
    web: WebContext,
    mailing_list: MailingList,
    *,
    status: int = 200,
    notice: str = "",
) -> Response:
    return web.form_page(
        request,
        "confirm.html.j2",
        status=status,
        list_title=mailing_list.display_title,
        notice=notice,
    )


def _list_or_none(store: Store, list_id: int) -> MailingList | None:
    return find_list_by_id(store, list_id)


def _gone(web: WebContext) -> Response:
    return web.pages.message(
        "Nothing to confirm",
        "This subscription cannot be confirmed: the list or the address is no longer here.",
        status=400,
    )


async def confirm_post(request: Request) -> Response:
    """POST: confirm the subscription and keep the proof of consent."""
    web = context_of(request)
    claim = web.signer.verify(request.path_params["token"], CONFIRM)
    subscriber_id, list_id = claim.integer(0), claim.integer(1)
    binding = claim.fields[2] if len(claim.fields) > 2 else ""
    issued = claim.fields[3] if len(claim.fields) > 3 else ""
    issued_at = int(issued[1:]) if issued[:1] == "t" and issued[1:].isdigit() else 0
    form = await request.form()
    client = client_address(request)
    if not form_is_ours(request, web.signer, web.base_url, form.get("csrf")):
        mailing_list = await web.stores.run(lambda store: _list_or_none(store, list_id))
        if mailing_list is None:
            return _gone(web)
        notice = "The page was too old to use. Please press the button again."
        return _confirm_form(request, web, mailing_list, status=400, notice=notice)
    mailing_list = await web.stores.run(lambda store: _list_or_none(store, list_id))
    form_url = f"{web.base_url}/s/{mailing_list.name}" if mailing_list else ""
    proof = Proof(client, user_agent(request), form_url)
    outcome = await web.stores.run(
        lambda store: confirm_subscription(
            store, subscriber_id, list_id, proof, binding=binding, issued_at=issued_at
        )
    )
    if outcome.status == "refused" or outcome.mailing_list is None:
        return _gone(web)
    response = web.pages.page(
        "confirmed.html.j2",
        list_title=outcome.mailing_list.display_title,
        already=outcome.status == "already",
    )
    if outcome.status == "confirmed":
        response.background = BackgroundTask(_welcome, web, list_id, subscriber_id)
    return response


async def _welcome(web: WebContext, list_id: int, subscriber_id: int) -> None:
    """Send a new member the list's welcome letter, if it has one (after the answer)."""
    try:
        await web.stores.run(lambda store: welcome(web.config, store, list_id, subscriber_id))
    except MailerError as exc:
        log.error("welcome letter of list %s not sent: %s", list_id, exc)
    except Exception:  # a background task has nobody to answer: say it once, in the log
        log.exception("welcome letter of list %s failed", list_id)


def routes() -> list[Route]:
    """The subscribe and confirm routes."""
    return [
        Route("/s/{list}", subscribe_page, methods=["GET"]),
        Route("/s/{list}", subscribe_post, methods=["POST"]),
        Route("/c/{token}", confirm_page, methods=["GET"]),
        Route("/c/{token}", confirm_post, methods=["POST"]),
    ]
