"""``POST /hooks/{postmark,mailgun,sendgrid}``, and what every provider's endpoint shares.

Postmark's requests carry basic credentials, Mailgun's an HMAC with a
timestamp and a token, SendGrid's an ECDSA signature made here with a P-256
key of the test's own. Mailgun's window is checked on mailer's clock, moved
by the fake clock; the rate limit reads the app's fake monotonic clock.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from mailer.errors import ConfigError
from mailer.tokens import Signer
from mailer.web import create_app
from tests.clocks import FakeClock
from tests.provider_helpers import (
    ANN,
    acted_on_ann,
    bounce_rows,
    letter_to_ann,
    mailgun_body,
    pki,
    postmark_auth,
    sendgrid_headers,
    sendgrid_key,
)
from tests.web_helpers import Web, web_config

# -- Postmark --------------------------------------------------------------------------


def _postmark_bounce(kind: str = "HardBounce", details: str = "", content: str = "") -> bytes:
    return json.dumps({
        "RecordType": "Bounce", "ID": 4323372036854775807, "Type": kind, "TypeCode": 1,
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "Email": ANN,
        "Details": details or "smtp;550 5.1.1 The email account does not exist",
        "Content": content, "BouncedAt": "2026-12-01T09:00:00Z",
    }).encode()


async def test_postmark_hard_bounce_with_our_credentials_acts(hook_web: Web) -> None:
    ann, campaign, message_id = letter_to_ann(hook_web)
    body = _postmark_bounce(content=f"Message-ID: {message_id}\r\nSubject: Spring\r\n")
    response = await hook_web.client.post("/hooks/postmark", content=body,
                                          headers=postmark_auth())
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": 1, "duplicates": 0, "ignored": 0}
    row = acted_on_ann(hook_web, ann, campaign)
    assert row["message_id"] == "postmark:4323372036854775807"


async def test_postmark_spam_complaint_suppresses(hook_web: Web) -> None:
    letter_to_ann(hook_web)
    body = json.dumps({"RecordType": "SpamComplaint", "ID": 42, "Type": "SpamComplaint",
                       "Email": ANN}).encode()
    response = await hook_web.client.post("/hooks/postmark", content=body,
                                          headers=postmark_auth())
    assert response.status_code == 200
    assert hook_web.status(ANN) == "complained"


async def test_postmark_soft_bounce_only_scores(hook_web: Web) -> None:
    letter_to_ann(hook_web)
    body = _postmark_bounce("SoftBounce", details="452 4.2.2 mailbox full")
    await hook_web.client.post("/hooks/postmark", content=body, headers=postmark_auth())
    assert hook_web.status(ANN) == "active"
    assert [(r["kind"], r["reason"]) for r in bounce_rows(hook_web)] == [("soft", "mailboxfull")]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        postmark_auth(password="guess"),
        postmark_auth(user="someone", password="postmark-hook-password"),
        {"Authorization": "Bearer postmark-hook-password"},
        {"Authorization": "Basic !!!"},
    ],
    ids=["none", "wrong-password", "wrong-user", "not-basic", "garbled"],
)
async def test_postmark_without_our_credentials_is_refused(
    hook_web: Web, headers: dict[str, str]
) -> None:
    letter_to_ann(hook_web)
    response = await hook_web.client.post("/hooks/postmark", content=_postmark_bounce(),
                                          headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")
    assert bounce_rows(hook_web) == []
    assert hook_web.status(ANN) == "active"


async def test_postmark_same_bounce_twice_is_stored_once(hook_web: Web) -> None:
    letter_to_ann(hook_web)
    for _ in range(2):
        await hook_web.client.post("/hooks/postmark", content=_postmark_bounce(),
                                   headers=postmark_auth())
    assert len(bounce_rows(hook_web)) == 1


async def test_postmark_auto_reply_is_kept_and_a_delivery_ignored(hook_web: Web) -> None:
    letter_to_ann(hook_web)
    auto = _postmark_bounce("AutoResponder", details="I am away until Monday")
    delivery = json.dumps({"RecordType": "Delivery", "Email": ANN}).encode()
    for body in (auto, delivery):
        response = await hook_web.client.post("/hooks/postmark", content=body,
                                              headers=postmark_auth())
        assert response.status_code == 200
    assert response.json() == {"stored": 0, "duplicates": 0, "ignored": 1}
    assert [(r["kind"], r["reason"]) for r in bounce_rows(hook_web)] == [
        ("auto-reply", "vacation")
    ]
    assert hook_web.status(ANN) == "active"


@pytest.mark.parametrize(
    "body",
    [b"{", json.dumps({"RecordType": "Bounce", "Type": "HardBounce"}).encode(), b'"text"'],
)
async def test_postmark_malformed_is_400(hook_web: Web, body: bytes) -> None:
    response = await hook_web.client.post("/hooks/postmark", content=body,
                                          headers=postmark_auth())
    assert response.status_code == 400
    assert bounce_rows(hook_web) == []


# -- Mailgun ---------------------------------------------------------------------------


def _mailgun_failed(severity: str = "permanent", message_id: str = "", **more: Any) -> dict[
    str, Any
]:
    return {
        "event": "failed", "id": "G9Bn5sl1TC6nu79C8C0bwg", "severity": severity,
        "reason": "bounce", "recipient": ANN,
        "delivery-status": {"code": 550, "message": "5.1.1 The email account does not exist"},
        "message": {"headers": {"message-id": message_id.strip("<>"), "subject": "Spring"}},
        **more,
    }


async def test_mailgun_signed_failure_acts(hook_web: Web, fake_clock: FakeClock) -> None:
    ann, campaign, message_id = letter_to_ann(hook_web)
    body = mailgun_body(_mailgun_failed(message_id=message_id),
                        timestamp=fake_clock().timestamp())
    response = await hook_web.client.post("/hooks/mailgun", content=body)
    assert response.status_code == 200, response.text
    row = acted_on_ann(hook_web, ann, campaign)
    assert (row["kind"], row["message_id"]) == ("hard", "mailgun:G9Bn5sl1TC6nu79C8C0bwg")


async def test_mailgun_temporary_failure_is_soft(hook_web: Web, fake_clock: FakeClock) -> None:
    letter_to_ann(hook_web)
    event = _mailgun_failed("temporary", **{
        "delivery-status": {"code": 452, "message": "4.2.2 Mailbox full"}})
    body = mailgun_body(event, timestamp=fake_clock().timestamp())
    assert (await hook_web.client.post("/hooks/mailgun", content=body)).status_code == 200
    assert hook_web.status(ANN) == "active"
    assert [r["kind"] for r in bounce_rows(hook_web)] == ["soft"]


async def test_mailgun_complaint_suppresses(hook_web: Web, fake_clock: FakeClock) -> None:
    letter_to_ann(hook_web)
    event = {"event": "complained", "id": "c-1", "recipient": ANN, "message": {}}
    body = mailgun_body(event, timestamp=fake_clock().timestamp())
    assert (await hook_web.client.post("/hooks/mailgun", content=body)).status_code == 200
    assert hook_web.status(ANN) == "complained"


async def test_mailgun_wrong_signature_is_refused(hook_web: Web, fake_clock: FakeClock) -> None:
    letter_to_ann(hook_web)
    body = mailgun_body(_mailgun_failed(), timestamp=fake_clock().timestamp(), key="key-guess")
    response = await hook_web.client.post("/hooks/mailgun", content=body)
    assert response.status_code == 401
    unsigned = json.dumps({"event-data": _mailgun_failed()}).encode()
    assert (await hook_web.client.post("/hooks/mailgun", content=unsigned)).status_code == 401
    assert bounce_rows(hook_web) == []
    assert hook_web.status(ANN) == "active"


async def test_mailgun_replayed_token_is_refused(hook_web: Web, fake_clock: FakeClock) -> None:
    letter_to_ann(hook_web)
    body = mailgun_body(_mailgun_failed(severity="temporary"),
                        timestamp=fake_clock().timestamp())
    assert (await hook_web.client.post("/hooks/mailgun", content=body)).status_code == 200
    fake_clock.advance(30)
    replay = await hook_web.client.post("/hooks/mailgun", content=body)
    assert replay.status_code == 401
    assert "replayed" in replay.json()["error"]
    assert len(bounce_rows(hook_web)) == 1


async def test_mailgun_request_outside_the_window_is_refused(
    hook_web: Web, fake_clock: FakeClock
) -> None:
    letter_to_ann(hook_web)
    stale = mailgun_body(_mailgun_failed(), timestamp=fake_clock().timestamp() - 301)
    early = mailgun_body(_mailgun_failed(), timestamp=fake_clock().timestamp() + 301,
                         token="other-token")
    for body in (stale, early):
        response = await hook_web.client.post("/hooks/mailgun", content=body)
        assert response.status_code == 401
        assert "s off" in response.json()["error"]
    assert bounce_rows(hook_web) == []


async def test_mailgun_signature_without_its_fields_or_a_numeric_time_is_refused(
    hook_web: Web, fake_clock: FakeClock
) -> None:
    body = json.loads(mailgun_body(_mailgun_failed(), timestamp=fake_clock().timestamp()))
    del body["signature"]["token"]
    assert (await hook_web.client.post("/hooks/mailgun", json=body)).status_code == 401
    odd = mailgun_body(_mailgun_failed(), timestamp="soon")
    response = await hook_web.client.post("/hooks/mailgun", content=odd)
    assert response.status_code == 401
    assert "not a number" in response.json()["error"]


async def test_mailgun_malformed_is_400_and_frees_its_token(
    hook_web: Web, fake_clock: FakeClock
) -> None:
    letter_to_ann(hook_web)
    broken = {"event": "failed", "id": "x"}  # no recipient
    response = await hook_web.client.post(
        "/hooks/mailgun", content=mailgun_body(broken, timestamp=fake_clock().timestamp())
    )
    assert response.status_code == 400
    assert (await hook_web.client.post("/hooks/mailgun", content=b"[")).status_code == 400
    # The token of the request that was not taken is free for the provider's retry.
    retry = mailgun_body(_mailgun_failed(), timestamp=fake_clock().timestamp())
    assert (await hook_web.client.post("/hooks/mailgun", content=retry)).status_code == 200


# -- SendGrid --------------------------------------------------------------------------


def _sendgrid_events(message_id: str = "", event_id: str = "sg-1") -> bytes:
    return json.dumps([
        {"email": ANN, "event": "bounce", "type": "bounce", "sg_event_id": event_id,
         "status": "5.1.1", "reason": "550 5.1.1 user unknown", "smtp-id": message_id,
         "timestamp": 1796115600},
        {"email": ANN, "event": "delivered", "sg_event_id": "sg-0"},
    ]).encode()


async def test_sendgrid_signed_bounce_acts(hook_web: Web) -> None:
    ann, campaign, message_id = letter_to_ann(hook_web)
    body = _sendgrid_events(message_id)
    response = await hook_web.client.post("/hooks/sendgrid", content=body,
                                          headers=sendgrid_headers(body))
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": 1, "duplicates": 0, "ignored": 1}
    assert acted_on_ann(hook_web, ann, campaign)["message_id"] == "sendgrid:sg-1"


async def test_sendgrid_blocked_and_spamreport(hook_web: Web) -> None:
    letter_to_ann(hook_web)
    body = json.dumps([
        {"email": ANN, "event": "bounce", "type": "blocked", "sg_event_id": "b-1",
         "reason": "550 5.7.1 blocked by policy"},
        {"email": ANN, "event": "spamreport", "sg_event_id": "s-1"},
    ]).encode()
    response = await hook_web.client.post("/hooks/sendgrid", content=body,
                                          headers=sendgrid_headers(body))
    assert response.status_code == 200
    assert [r["kind"] for r in bounce_rows(hook_web)] == ["soft", "complaint"]
    assert hook_web.status(ANN) == "complained"


async def test_sendgrid_wrong_or_missing_signature_is_refused(hook_web: Web) -> None:
    letter_to_ann(hook_web)
    body = _sendgrid_events()
    signed_other = sendgrid_headers(body.replace(b"sg-1", b"sg-2"))
    for headers in ({}, signed_other, {**sendgrid_headers(body), **{
        "X-Twilio-Email-Event-Webhook-Timestamp": "1796115601"}}):
        response = await hook_web.client.post("/hooks/sendgrid", content=body, headers=headers)
        assert response.status_code == 401
    assert bounce_rows(hook_web) == []


async def test_sendgrid_same_event_twice_is_stored_once(hook_web: Web) -> None:
    letter_to_ann(hook_web)
    body = _sendgrid_events()
    for _ in range(2):
        await hook_web.client.post("/hooks/sendgrid", content=body,
                                   headers=sendgrid_headers(body))
    assert len(bounce_rows(hook_web)) == 1


@pytest.mark.parametrize("body", [b"{}", b"[]", b"[1]", b'[{"event": "bounce"}]', b"nope"])
async def test_sendgrid_malformed_is_400(hook_web: Web, body: bytes) -> None:
    response = await hook_web.client.post("/hooks/sendgrid", content=body,
                                          headers=sendgrid_headers(body))
    assert response.status_code == 400


# -- every provider --------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["ses", "postmark", "mailgun", "sendgrid", "other"])
async def test_a_provider_not_configured_is_not_found(web: Web, provider: str) -> None:
    response = await web.client.post(f"/hooks/{provider}", content=b"{}")
    assert response.status_code == 404


async def test_a_flood_from_one_client_is_rate_limited(hook_web: Web) -> None:
    """The fixture allows 20 requests a minute per client address; others go on."""
    for _ in range(20):
        response = await hook_web.client.post("/hooks/postmark", content=b"{}")
        assert response.status_code == 401
    flooded = await hook_web.client.post("/hooks/postmark", content=b"{}")
    assert flooded.status_code == 429
    assert flooded.headers["retry-after"] == "60"
    async with hook_web.client_from("192.0.2.7") as other:
        assert (await other.post("/hooks/postmark", content=b"{}")).status_code == 401
    hook_web.limit_clock.advance(60)
    assert (await hook_web.client.post("/hooks/postmark", content=b"{}")).status_code == 401


async def test_a_report_may_be_larger_than_a_form_but_not_without_end(hook_web: Web) -> None:
    big = json.dumps([{"event": "processed", "sg_event_id": f"p-{n}", "email": ANN}
                      for n in range(2000)]).encode()
    assert 16 * 1024 < len(big) < 1024 * 1024
    response = await hook_web.client.post("/hooks/sendgrid", content=big,
                                          headers=sendgrid_headers(big))
    assert response.status_code == 200
    assert response.json()["ignored"] == 2000
    huge = b"[" + b" " * (1024 * 1024) + b"]"
    response = await hook_web.client.post("/hooks/sendgrid", content=huge,
                                          headers=sendgrid_headers(huge))
    assert response.status_code == 413


async def test_a_get_is_not_allowed(hook_web: Web) -> None:
    assert (await hook_web.client.get("/hooks/ses")).status_code == 405


@pytest.mark.parametrize(
    "key",
    [
        "bm90IGEga2V5",  # base64, but of no key
        "not base64 at all!",
        base64.b64encode(pki().sns.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )).decode(),  # a key, but RSA
    ],
    ids=["no-key", "no-base64", "rsa"],
)
def test_a_sendgrid_key_that_is_not_p256_stops_the_start(
    tmp_path: Path, db_path: Path, key: str
) -> None:
    config = web_config(tmp_path, db_path, MAILER_WEBHOOKS_SENDGRID_PUBLIC_KEY=key)
    with pytest.raises(ConfigError, match="not a P-256 public key"):
        create_app(config, store_path=db_path, signer=Signer("k"))


def test_the_sendgrid_key_may_be_given_as_pem(tmp_path: Path, db_path: Path) -> None:
    pem = sendgrid_key().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    config = web_config(tmp_path, db_path, MAILER_WEBHOOKS_SENDGRID_PUBLIC_KEY=pem)
    app = create_app(config, store_path=db_path, signer=Signer("k"))
    assert app.state.hooks.sendgrid.public_numbers() == sendgrid_key().public_key().public_numbers()
    app.state.web.stores.close_all()
