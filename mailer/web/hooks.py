"""``POST /hooks/{ses,postmark,mailgun,sendgrid}``: the reports email service providers post.

Each endpoint answers 404 until its provider is configured. A request is
counted against its client's rate first (429 past it), then must prove it
comes from the provider (401, and nothing is stored, when its signature or
credentials do not verify; 403 for an SNS message of another topic), then
must be what the provider sends (400). A proven report is the provider's
word: it is stored and acts like a bounce that proved itself (proof
``provider``, see ``bounces.ingest``). The answer is JSON: how many events
were stored, were stored before, changed nobody.

What reaches outside (the HTTPS fetch), the CA certificates SNS's
certificate must chain to and the clock of the rate limit are given to
``hooks_for``, so that a test can give its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric import ec
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mailer.bounces.ingest import ingest_reports
from mailer.bounces.providers import mailgun, postmark, sendgrid, sns
from mailer.bounces.providers.https import Fetch, TrustAnchors, ca_file, https_get, system_anchors
from mailer.bounces.providers.report import Reports, mapping, read_json
from mailer.bounces.providers.ses import ses_reports
from mailer.config import Config
from mailer.errors import FetchFailed, MalformedReport, Refused, Unverified, WebhookError
from mailer.web.context import context_of
from mailer.web.limits import SlidingWindow, client_key
from mailer.web.pages import client_address

log = logging.getLogger("mailer.web")


@dataclass
class Hooks:
    """The configured providers' checks, the fetch SNS's handshake uses, and the rate limit."""

    sns: sns.SnsVerifier | None
    fetch: Fetch
    postmark: tuple[str, str] | None
    mailgun: mailgun.MailgunVerifier | None
    sendgrid: ec.EllipticCurvePublicKey | None
    limit: SlidingWindow


def hooks_for(
    config: Config,
    *,
    fetch: Fetch = https_get,
    anchors: TrustAnchors | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Hooks:
    """The hooks ``config`` turns on; ``ConfigError`` for a key or CA file that cannot be read.

    ``anchors`` default to ``[webhooks] ses_ca_file``, else the system's CAs
    (read when the first SNS certificate is checked).
    """
    settings = config.webhooks
    verifier = None
    if settings.ses_topic_arn:
        if anchors is None:
            anchors = (
                ca_file(config.resolve(settings.ses_ca_file))
                if settings.ses_ca_file
                else system_anchors
            )
        verifier = sns.SnsVerifier(settings.ses_topic_arn, sns.SigningCertificates(fetch, anchors))
    return Hooks(
        sns=verifier,
        fetch=fetch,
        postmark=(
            (settings.postmark_user, settings.postmark_password)
            if settings.postmark_password
            else None
        ),
        mailgun=mailgun.MailgunVerifier(settings.mailgun_key) if settings.mailgun_key else None,
        sendgrid=(
            sendgrid.load_key(settings.sendgrid_public_key)
            if settings.sendgrid_public_key
            else None
        ),
        limit=SlidingWindow(settings.rate_limit, 60.0, clock=clock),
    )


T = TypeVar("T")


def _configured(value: T | None) -> T:
    """A provider's check, or a 404 (as if there were no such page) when it is not configured."""
    if value is None:
        raise HTTPException(404)
    return value


async def _store(request: Request, reports: Reports) -> Response:
    """Store the proven reports and say what became of them."""
    web = context_of(request)
    outcome = await web.stores.run(
        lambda store: ingest_reports(store, reports.events, web.config, web.signer)
    )
    for change in outcome.changes:
        log.info("%s: %s", request.url.path, change)
    return JSONResponse(
        {"stored": outcome.stored, "duplicates": outcome.duplicates, "ignored": reports.ignored}
    )


async def _ses(request: Request, hooks: Hooks) -> Response:
    """SNS messages: the subscription handshake, and SES's notifications."""
    verifier = _configured(hooks.sns)
    message = sns.read_message(await request.body())
    # The first message naming a certificate fetches it: off the event loop.
    await run_in_threadpool(verifier.verify, message)
    if message.type == sns.SUBSCRIPTION:
        url = verifier.confirmation_url(message)
        await run_in_threadpool(hooks.fetch, url)
        log.info("confirmed the subscription of %s to SNS topic %s", request.url.path,
                 verifier.topic_arn)
        return JSONResponse({"confirmed": verifier.topic_arn})
    if message.type == sns.UNSUBSCRIPTION:
        return JSONResponse({"unsubscribed": verifier.topic_arn})
    return await _store(request, ses_reports(message.message, message.message_id))


async def _postmark(request: Request, hooks: Hooks) -> Response:
    """Postmark's bounce and spam complaint webhooks, behind basic credentials."""
    user, password = _configured(hooks.postmark)
    postmark.check_credentials(request.headers.get("authorization", ""), user, password)
    return await _store(request, postmark.postmark_reports(await request.body()))


async def _mailgun(request: Request, hooks: Hooks) -> Response:
    """Mailgun's webhooks: signed, fresh, each token taken once."""
    verifier = _configured(hooks.mailgun)
    data = mapping(mailgun.PROVIDER, read_json(mailgun.PROVIDER, await request.body()),
                   "the webhook")
    token = verifier.verify(data.get("signature"))
    try:
        return await _store(request, mailgun.mailgun_reports(data))
    except Exception:
        verifier.release(token)
        raise


async def _sendgrid(request: Request, hooks: Hooks) -> Response:
    """SendGrid's signed Event Webhook."""
    key = _configured(hooks.sendgrid)
    body = await request.body()
    sendgrid.verify(
        key,
        request.headers.get(sendgrid.SIGNATURE_HEADER, ""),
        request.headers.get(sendgrid.TIMESTAMP_HEADER, ""),
        body,
    )
    return await _store(request, sendgrid.sendgrid_reports(body))


#: The answer to a request that was not taken, by the kind of error.
_STATUS: list[tuple[type[WebhookError], int]] = [
    (Unverified, 401), (Refused, 403), (MalformedReport, 400), (FetchFailed, 503),
]


_HANDLERS: dict[str, Callable[[Request, Hooks], Awaitable[Response]]] = {
    "ses": _ses, "postmark": _postmark, "mailgun": _mailgun, "sendgrid": _sendgrid,
}


async def hook(request: Request) -> Response:
    """One provider's endpoint: the client's rate, then the provider's own checks."""
    hooks: Hooks = request.app.state.hooks
    if not hooks.limit.hit(client_key(client_address(request))):
        return JSONResponse(
            {"error": "too many requests"}, status_code=429, headers={"Retry-After": "60"}
        )
    handler = _HANDLERS.get(request.path_params["provider"])
    if handler is None:
        raise HTTPException(404)
    try:
        return await handler(request, hooks)
    except WebhookError as exc:
        return _refused(request, exc)


def _refused(request: Request, exc: WebhookError) -> Response:
    """A request not taken: a status, one line of JSON, one (rate-limited) log line."""
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
    log.warning("%s refused (%d): %s", request.url.path, status, exc)
    response = JSONResponse({"error": str(exc)}, status_code=status)
    if isinstance(exc, Unverified) and exc.provider == postmark.PROVIDER:
        response.headers["WWW-Authenticate"] = 'Basic realm="mailer webhooks"'
    if isinstance(exc, FetchFailed):
        response.headers["Retry-After"] = "60"
    return response


def routes() -> list[Route]:
    """The providers' endpoints."""
    return [Route("/hooks/{provider}", hook, methods=["POST"])]
