"""``POST /hooks/ses``: SES's notifications through SNS, SNS's signature and handshake.

The SNS messages are signed here with a certificate of a test CA that the
app is given as its trust anchor; the certificate and the subscription URL
are fetched from ``Network``, a dictionary in the test process.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailer.config import load_config
from mailer.errors import ConfigError
from mailer.web.hooks import hooks_for
from tests.clocks import FakeClock
from tests.provider_helpers import (
    ANN,
    CERT_URL,
    SUBSCRIBE_URL,
    TOPIC,
    Network,
    acted_on_ann,
    bounce_rows,
    letter_to_ann,
    pki,
    ses_bounce,
    sns_message,
)
from tests.web_helpers import Web

HOOK = "/hooks/ses"


def _user_unknown(message_id: str = "", feedback_id: str = "0100017a-feedback-1") -> str:
    recipient = {"emailAddress": ANN, "action": "failed", "status": "5.1.1",
                 "diagnosticCode": "smtp; 550 5.1.1 <ann@example.org>: user unknown"}
    return ses_bounce([recipient], message_id=message_id, feedback_id=feedback_id)


@pytest.mark.parametrize("version", ["1", "2"])
async def test_a_signed_bounce_marks_the_subscriber_and_names_the_campaign(
    hook_web: Web, version: str
) -> None:
    ann, campaign, message_id = letter_to_ann(hook_web)
    body = sns_message(_user_unknown(message_id), version=version)
    response = await hook_web.client.post(HOOK, content=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": 1, "duplicates": 0, "ignored": 0}
    row = acted_on_ann(hook_web, ann, campaign)
    assert (row["kind"], row["reason"], row["status"]) == ("hard", "userunknown", "5.1.1")
    assert (row["message_id"], row["source"]) == ("ses:0100017a-feedback-1", "webhook:ses")


async def test_without_the_message_id_the_subscriber_is_found_by_address(hook_web: Web) -> None:
    ann, _, _ = letter_to_ann(hook_web)
    response = await hook_web.client.post(HOOK, content=sns_message(_user_unknown()))
    assert response.status_code == 200
    acted_on_ann(hook_web, ann, None)


async def test_a_transient_bounce_scores_instead_of_disabling(hook_web: Web) -> None:
    letter_to_ann(hook_web)
    full = {"emailAddress": ANN, "diagnosticCode": "smtp; 452 4.2.2 mailbox full"}
    body = sns_message(ses_bounce([full], bounce_type="Transient", subtype="MailboxFull"))
    assert (await hook_web.client.post(HOOK, content=body)).status_code == 200
    assert hook_web.status(ANN) == "active"
    row = hook_web.store.one("SELECT bounce_score FROM subscribers WHERE email_key = ?", (ANN,))
    assert row is not None and row[0] == 1
    assert [(r["kind"], r["reason"]) for r in bounce_rows(hook_web)] == [("soft", "mailboxfull")]


async def test_a_complaint_unsubscribes_and_suppresses(hook_web: Web) -> None:
    letter_to_ann(hook_web)
    complaint = json.dumps({
        "notificationType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": ANN}], "feedbackId": "c-1",
                      "complaintFeedbackType": "abuse"},
        "mail": {"messageId": "x"},
    })
    response = await hook_web.client.post(HOOK, content=sns_message(complaint))
    assert response.status_code == 200
    assert hook_web.status(ANN) == "complained"
    suppressed = hook_web.store.one("SELECT reason FROM suppressions WHERE value = ?", (ANN,))
    assert suppressed is not None and suppressed[0] == "complaint"


async def test_a_delivery_changes_nobody(hook_web: Web) -> None:
    letter_to_ann(hook_web)
    delivery = json.dumps({"notificationType": "Delivery", "delivery": {"recipients": [ANN]},
                           "mail": {}})
    response = await hook_web.client.post(HOOK, content=sns_message(delivery))
    assert response.json() == {"stored": 0, "duplicates": 0, "ignored": 1}
    assert bounce_rows(hook_web) == []


async def test_the_same_event_delivered_twice_is_stored_once(hook_web: Web) -> None:
    letter_to_ann(hook_web)
    first = await hook_web.client.post(HOOK, content=sns_message(_user_unknown()))
    again = await hook_web.client.post(
        HOOK, content=sns_message(_user_unknown(), message_id="another-sns-delivery")
    )
    assert first.json()["stored"] == 1
    assert again.json() == {"stored": 0, "duplicates": 1, "ignored": 0}
    assert len(bounce_rows(hook_web)) == 1


async def test_the_certificate_is_fetched_once_for_many_notifications(
    hook_web: Web, network: Network
) -> None:
    letter_to_ann(hook_web)
    for feedback in ("f-1", "f-2", "f-3"):
        body = sns_message(_user_unknown(feedback_id=feedback))
        assert (await hook_web.client.post(HOOK, content=body)).status_code == 200
    assert network.fetched == [CERT_URL]
    assert len(bounce_rows(hook_web)) == 3


async def test_a_wrong_signature_is_refused_and_stores_nothing(hook_web: Web) -> None:
    letter_to_ann(hook_web)
    forged = sns_message(_user_unknown(), key=pki().root.key)
    response = await hook_web.client.post(HOOK, content=forged)
    assert response.status_code == 401
    assert "signature" in response.json()["error"]
    assert bounce_rows(hook_web) == []
    assert hook_web.status(ANN) == "active"


async def test_a_message_changed_after_signing_is_refused(hook_web: Web) -> None:
    letter_to_ann(hook_web)
    data = json.loads(sns_message(_user_unknown()))
    data["Message"] = data["Message"].replace("0100017a-feedback-1", "0100017a-feedback-2")
    response = await hook_web.client.post(HOOK, content=json.dumps(data))
    assert response.status_code == 401
    assert bounce_rows(hook_web) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.org/SimpleNotificationService-0123abcd.pem",
        "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123abcd.pem",
        "https://sns.eu-west-1.amazonaws.com.evil.example.org/cert.pem",
        "https://sns.eu-west-1.amazonaws.com@evil.example.org/cert.pem",
        "https://sns.eu-west-1.amazonaws.com:8443/cert.pem",
    ],
)
async def test_a_certificate_off_the_sns_hosts_is_never_fetched(
    hook_web: Web, network: Network, url: str
) -> None:
    letter_to_ann(hook_web)
    network.pages[url] = pki().sns_pem
    response = await hook_web.client.post(HOOK, content=sns_message(_user_unknown(), cert_url=url))
    assert response.status_code == 401
    assert "not on an SNS host" in response.json()["error"]
    assert network.fetched == []
    assert bounce_rows(hook_web) == []


@pytest.mark.parametrize(
    ("pem", "complaint"),
    [
        (lambda: pki().impostor.pem, "does not chain to a trusted CA"),
        (lambda: pki().sns.pem, "does not chain to a trusted CA"),  # the intermediate missing
        (lambda: pki().other_name.pem + pki().intermediate.pem, "not issued to SNS"),
        (lambda: b"not a certificate", "cannot be read"),
    ],
    ids=["another-ca", "no-intermediate", "another-name", "garbage"],
)
async def test_a_certificate_that_is_not_sns_proves_nothing(
    hook_web: Web, network: Network, pem: object, complaint: str
) -> None:
    letter_to_ann(hook_web)
    url = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-other.pem"
    assert callable(pem)
    network.pages[url] = pem()
    response = await hook_web.client.post(HOOK, content=sns_message(_user_unknown(), cert_url=url))
    assert response.status_code == 401
    assert complaint in response.json()["error"]
    assert bounce_rows(hook_web) == []


async def test_a_certificate_that_cannot_be_fetched_asks_for_a_retry(
    hook_web: Web, network: Network
) -> None:
    url = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-gone.pem"
    response = await hook_web.client.post(HOOK, content=sns_message(_user_unknown(), cert_url=url))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "60"
    assert network.fetched == [url]


async def test_a_message_of_another_topic_is_refused_before_anything_is_fetched(
    hook_web: Web, network: Network
) -> None:
    letter_to_ann(hook_web)
    other = TOPIC.replace("mailer-bounces", "someone-elses")
    response = await hook_web.client.post(
        HOOK, content=sns_message(_user_unknown(), topic=other)
    )
    assert response.status_code == 403
    assert network.fetched == []
    assert bounce_rows(hook_web) == []


async def test_our_topics_subscription_is_confirmed_at_its_url(
    hook_web: Web, network: Network
) -> None:
    body = sns_message("You have chosen to subscribe", kind="SubscriptionConfirmation")
    response = await hook_web.client.post(HOOK, content=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"confirmed": TOPIC}
    assert network.fetched == [CERT_URL, SUBSCRIBE_URL]


async def test_another_topics_subscription_is_refused_and_nothing_fetched(
    hook_web: Web, network: Network
) -> None:
    other = TOPIC.replace("mailer-bounces", "someone-elses")
    url = SUBSCRIBE_URL.replace(TOPIC, other)
    network.pages[url] = b"<ConfirmSubscriptionResponse/>"
    body = sns_message("subscribe?", kind="SubscriptionConfirmation", topic=other,
                       subscribe_url=url)
    response = await hook_web.client.post(HOOK, content=body)
    assert response.status_code == 403
    assert network.fetched == []


@pytest.mark.parametrize(
    "url",
    [
        f"https://evil.example.org/?Action=ConfirmSubscription&TopicArn={TOPIC}",
        f"http://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}",
        "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"
        "&TopicArn=arn:aws:sns:eu-west-1:999999999999:other",
        f"https://sns.eu-west-1.amazonaws.com/?Action=Publish&TopicArn={TOPIC}",
    ],
)
async def test_a_subscribe_url_that_is_not_our_topics_on_sns_is_not_fetched(
    hook_web: Web, network: Network, url: str
) -> None:
    """Even in a genuine message of our topic: the handshake fetches nothing but its own URL."""
    network.pages[url] = b"<ConfirmSubscriptionResponse/>"
    body = sns_message("subscribe?", kind="SubscriptionConfirmation", subscribe_url=url)
    response = await hook_web.client.post(HOOK, content=body)
    assert response.status_code == 403
    assert network.fetched == [CERT_URL]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"Type": "Notification", "TopicArn": TOPIC}).encode(),
        json.dumps({"Type": "Advertisement"}).encode(),
    ],
)
async def test_a_request_that_is_not_an_sns_message_is_malformed(
    hook_web: Web, body: bytes
) -> None:
    response = await hook_web.client.post(HOOK, content=body)
    assert response.status_code == 400
    assert bounce_rows(hook_web) == []


async def test_a_signed_notification_that_is_not_from_ses_is_malformed(hook_web: Web) -> None:
    response = await hook_web.client.post(HOOK, content=sns_message("hello, not JSON"))
    assert response.status_code == 400
    bounce_without_recipients = json.dumps({"notificationType": "Bounce", "bounce": {}})
    response = await hook_web.client.post(HOOK, content=sns_message(bounce_without_recipients))
    assert response.status_code == 400
    assert bounce_rows(hook_web) == []


def test_the_ca_file_setting_is_the_trust_anchor(
    tmp_path: Path, db_path: Path, network: Network
) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(pki().root.pem)
    env = {"MAILER_WEBHOOKS_SES_TOPIC_ARN": TOPIC, "MAILER_WEBHOOKS_SES_CA_FILE": str(bundle)}
    hooks = hooks_for(load_config(env=env, db=db_path), fetch=network.fetch)
    assert hooks.sns is not None
    assert hooks.sns.certificates.public_key(CERT_URL) is not None
    bundle.write_bytes(pki().impostor.pem)  # read when the hooks were made, not now
    assert hooks.sns.certificates.public_key(CERT_URL) is not None


def test_a_ca_file_without_certificates_stops_the_start(tmp_path: Path, db_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("nothing here\n")
    env = {"MAILER_WEBHOOKS_SES_TOPIC_ARN": TOPIC, "MAILER_WEBHOOKS_SES_CA_FILE": str(bundle)}
    with pytest.raises(ConfigError, match="holds no PEM certificate"):
        hooks_for(load_config(env=env, db=db_path))
    with pytest.raises(ConfigError, match="cannot read"):
        hooks_for(load_config(env={**env, "MAILER_WEBHOOKS_SES_CA_FILE": "missing.pem"}))


async def test_an_unsubscribe_confirmation_is_acknowledged(
    hook_web: Web, network: Network
) -> None:
    body = sns_message("You have unsubscribed", kind="UnsubscribeConfirmation")
    response = await hook_web.client.post(HOOK, content=body)
    assert response.json() == {"unsubscribed": TOPIC}
    assert network.fetched == [CERT_URL]


async def test_an_unknown_signature_version_proves_nothing(hook_web: Web) -> None:
    data = json.loads(sns_message(_user_unknown()))
    data["SignatureVersion"] = "3"
    response = await hook_web.client.post(HOOK, content=json.dumps(data))
    assert response.status_code == 401
    data["SignatureVersion"], data["Signature"] = "1", "not base64!"
    assert (await hook_web.client.post(HOOK, content=json.dumps(data))).status_code == 400


async def test_a_kept_certificate_is_not_trusted_past_its_validity(
    hook_web: Web, network: Network, fake_clock: FakeClock
) -> None:
    letter_to_ann(hook_web)
    first = sns_message(_user_unknown(feedback_id="f-1"))
    assert (await hook_web.client.post(HOOK, content=first)).status_code == 200
    fake_clock.now = datetime(2041, 1, 1, tzinfo=UTC)  # the test certificates end in 2040
    later = sns_message(_user_unknown(feedback_id="f-2"))
    response = await hook_web.client.post(HOOK, content=later)
    assert response.status_code == 401
    assert network.fetched == [CERT_URL, CERT_URL]
    assert len(bounce_rows(hook_web)) == 1
