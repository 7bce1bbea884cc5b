"""``/s/{list}`` (the subscribe form) and ``/c/{token}`` (the confirmation).

The answer to a subscribe form is the same page whatever happens behind it
(new address, already subscribed, unsubscribed earlier, suppressed, or over the
per-address limit), and it goes out before any of that work is done, so
neither its text nor its timing tells anyone who is on a list. The
confirmation link's GET only shows a button; its POST confirms and stores the
proof of consent.

The form is in the language the visitor asked for (``?lang=``, else their
browser's ``Accept-Language``) among the list's languages, else the list's
default; a list that offers several shows a menu of them. That language is
the new subscriber's, and the confirmation's. The confirmation pages speak
the subscriber's language.
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
from mailer.i18n import catalogue_language, catalogue_languages, language_name, translations
from mailer.languages import choose_first, normalize_tag
from mailer.membership import (
    Proof,
    confirm_subscription,
    confirmation_message,
    membership,
    request_subscription,
)
from mailer.store import Store
from mailer.store.lists import get_list
from mailer.store.models import MailingList
from mailer.tokens import CONFIRM, Claim
from mailer.web.context import WebContext, context_of
from mailer.web.pages import accepted_languages, client_address, user_agent, visitor_language
from mailer.web.security import form_is_ours

log = logging.getLogger("mailer.web")


def _public_list(store: Store, name: str) -> MailingList | None:
    try:
        mailing_list = get_list(store, name)
    except NotFoundError:
        return None
    return mailing_list if mailing_list.public else None


def _not_found(web: WebContext, request: Request) -> Response:
    language = visitor_language(request)
    _ = translations(language).gettext
    return web.pages.message(
        _("No such list"),
        _("There is no list here to subscribe to. Check the link."),
        language=language,
        status=404,
    )


def form_language(request: Request, mailing_list: MailingList, asked: str = "") -> str:
    """The language of a list's form: the one asked for (``asked``, or ``?lang=``), else
    the browser's, among the list's languages, else the list's default.

    A list that offers no language takes the browser's among mailer's own
    catalogues, and "" (English, and no language stored) when none fits.
    """
    wanted = [asked or request.query_params.get("lang", "")]
    try:
        wanted = [normalize_tag(wanted[0])]
    except InputError:
        wanted = []
    wanted += accepted_languages(request)
    if mailing_list.languages:
        return choose_first(wanted, mailing_list.languages, mailing_list.language) or (
            mailing_list.languages[0]
        )
    found = choose_first(wanted, catalogue_languages())
    return found or ""


def _form(
    request: Request,
    web: WebContext,
    mailing_list: MailingList,
    language: str,
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
        language=language,
        chosen=language,
        mailing_list=mailing_list,
        languages=[(tag, language_name(tag)) for tag in mailing_list.languages],
        error=error,
        email=email,
        name=name,
    )


async def subscribe_page(request: Request) -> Response:
    """GET: the form (email, name, language) for a public list; 404 for any other name."""
    web = context_of(request)
    name = request.path_params["list"]
    mailing_list = await web.stores.run(lambda store: _public_list(store, name))
    if mailing_list is None:
        return _not_found(web, request)
    return _form(request, web, mailing_list, form_language(request, mailing_list))


async def subscribe_post(request: Request) -> Response:
    """POST: check the form, then subscribe or send a confirmation, answering the same."""
    web = context_of(request)
    list_name = request.path_params["list"]
    mailing_list = await web.stores.run(lambda store: _public_list(store, list_name))
    if mailing_list is None:
        return _not_found(web, request)
    form = await request.form()
    email = str(form.get("email", ""))[:320]
    typed_name = str(form.get("name", ""))[:1000]
    language = form_language(request, mailing_list, str(form.get("language", ""))[:40])
    _ = translations(language).gettext
    client = client_address(request)
    shown_name = " ".join(typed_name.split())[:200]

    def again(error: str, name: str = shown_name) -> Response:
        """The form once more, filled in as it was sent, with what to correct."""
        return _form(
            request, web, mailing_list, language, status=400, error=error, email=email, name=name
        )

    if not form_is_ours(request, web.signer, web.base_url, form.get("csrf")):
        return again(_("The form was too old to use. Please send it again."))
    if not web.limits.allow_client(client):
        return web.pages.message(
            _("Too many attempts"),
            _("This form was sent too often from your network. Please try again in an hour."),
            language=language,
            status=429,
        )
    try:
        address = normalize_address(
            email, allow_special_use=web.config.import_.allow_special_use_domains
        )
    except AddressError:
        return again(_("That does not look like an e-mail address. Please check it."))
    try:
        name = check_name(typed_name)
    except InputError as exc:
        return again(_("Please check the name: %(reason)s.") % {"reason": _(exc.reason)}, "")
    response = web.pages.page(
        "subscribe_sent.html.j2",
        language=language,
        mailing_list=mailing_list,
        email=address.email,
    )
    if web.limits.allow_target(address.key):
        proof = Proof(client, user_agent(request), f"{web.base_url}/s/{mailing_list.name}")
        response.background = BackgroundTask(
            _join, web, mailing_list, address, name, proof, language
        )
    return response


async def _join(
    web: WebContext,
    mailing_list: MailingList,
    address: Address,
    name: str,
    proof: Proof,
    language: str,
) -> None:
    """Record the request and mail the confirmation link, after the answer went out.

    How much work this is depends on whether the address is known (a new one is
    written, a confirmed one is not), so none of it may happen before the answer:
    its timing would tell who is subscribed. Failures are logged, never shown.
    """
    try:
        outcome = await web.stores.run(
            lambda store: request_subscription(
                store, mailing_list, address, name, proof, language=language
            )
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


def _confirm_claim(web: WebContext, token: str) -> tuple[int, int, str, int, str]:
    """Subscriber, list, binding, time of issue and language of a confirmation link."""
    claim: Claim = web.signer.verify(token, CONFIRM)
    fields = claim.fields
    binding = fields[2] if len(fields) > 2 else ""
    issued = fields[3] if len(fields) > 3 else ""
    issued_at = int(issued[1:]) if issued[:1] == "t" and issued[1:].isdigit() else 0
    language = fields[4][1:] if len(fields) > 4 and fields[4][:1] == "l" else ""
    return claim.integer(0), claim.integer(1), binding, issued_at, language


async def _reader(
    web: WebContext, subscriber_id: int, list_id: int, asked: str
) -> tuple[MailingList | None, str]:
    """The link's list, and the language to speak: the subscriber's, the link's, the list's."""
    found = await web.stores.run(lambda store: membership(store, subscriber_id, list_id))
    default = found.mailing_list.language if found.mailing_list else ""
    return found.mailing_list, catalogue_language(found.language, asked, default)


async def confirm_page(request: Request) -> Response:
    """GET: a button to confirm; changes nothing."""
    web = context_of(request)
    subscriber_id, list_id, _binding, _issued, asked = _confirm_claim(
        web, request.path_params["token"]
    )
    mailing_list, language = await _reader(web, subscriber_id, list_id, asked)
    if mailing_list is None:
        return _gone(web, language)
    return _confirm_form(request, web, mailing_list, language)


def _confirm_form(
    request: Request,
    web: WebContext,
    mailing_list: MailingList,
    language: str,
    *,
    status: int = 200,
    notice: str = "",
) -> Response:
    return web.form_page(
        request,
        "confirm.html.j2",
        status=status,
        language=language,
        list_title=mailing_list.display_title,
        notice=notice,
    )


def _gone(web: WebContext, language: str) -> Response:
    _ = translations(language).gettext
    return web.pages.message(
        _("Nothing to confirm"),
        _("This subscription cannot be confirmed: the list or the address is no longer here."),
        language=language,
        status=400,
    )


async def confirm_post(request: Request) -> Response:
    """POST: confirm the subscription and keep the proof of consent."""
    web = context_of(request)
    token = request.path_params["token"]
    subscriber_id, list_id, binding, issued_at, asked = _confirm_claim(web, token)
    form = await request.form()
    client = client_address(request)
    mailing_list, language = await _reader(web, subscriber_id, list_id, asked)
    if mailing_list is None:
        return _gone(web, language)
    if not form_is_ours(request, web.signer, web.base_url, form.get("csrf")):
        notice = translations(language).gettext(
            "The page was too old to use. Please press the button again."
        )
        return _confirm_form(request, web, mailing_list, language, status=400, notice=notice)
    proof = Proof(client, user_agent(request), f"{web.base_url}/s/{mailing_list.name}")
    outcome = await web.stores.run(
        lambda store: confirm_subscription(
            store, subscriber_id, list_id, proof, binding=binding, issued_at=issued_at,
            language=asked,
        )
    )
    if outcome.status == "refused" or outcome.mailing_list is None:
        return _gone(web, language)
    response = web.pages.page(
        "confirmed.html.j2",
        language=language,
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
