"""What the providers' tests sign with: a CA and SNS's certificate, keys, and a fake network.

Everything is made here with ``cryptography``: a root CA standing in for the
system's, an intermediate, SNS's signing certificate (issued to
``sns.amazonaws.com``, as the real one is), SNS messages signed as SNS
documents it, a SendGrid key pair, Mailgun's HMAC. The network SNS's
certificate and subscription URLs are fetched from is a dictionary in the
test process (``Network``): no request leaves it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mailer.errors import FetchFailed
from mailer.store.models import Proof
from tests.web_helpers import Web, insert_campaign

TOPIC = "arn:aws:sns:eu-west-1:123456789012:mailer-bounces"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123abcd.pem"
SUBSCRIBE_URL = (
    "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"
    f"&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e2425"
)
POSTMARK_PASSWORD = "postmark-hook-password"
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"

_VALID = (datetime(2020, 1, 1, tzinfo=UTC), datetime(2040, 1, 1, tzinfo=UTC))


@dataclass(frozen=True)
class Authority:
    """A certificate and the key it certifies."""

    certificate: x509.Certificate
    key: rsa.RSAPrivateKey

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str, key: rsa.RSAPrivateKey, issuer: Authority | None, *, ca: bool,
    dns_names: tuple[str, ...] = (),
) -> x509.Certificate:
    """A certificate as a public CA issues them (the extensions path validation asks for)."""
    public = key.public_key()
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.certificate.subject if issuer else _name(subject))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(_VALID[0])
        .not_valid_after(_VALID[1])
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()),
            critical=False,
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                          content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, encipher_only=False,
                          decipher_only=False),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in dns_names]),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(signer_key, hashes.SHA256())


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class Pki:
    """A root CA, an intermediate, SNS's certificate, and a stranger's (self-made) one."""

    root: Authority
    intermediate: Authority
    sns: Authority
    impostor: Authority
    other_name: Authority

    @property
    def sns_pem(self) -> bytes:
        """SNS's certificate with the intermediate it chains through, as a PEM file."""
        return self.sns.pem + self.intermediate.pem


@functools.cache
def pki() -> Pki:
    """Made once per test run: RSA keys take a while."""
    root_key = _key()
    root = Authority(_certificate("Test Root CA", root_key, None, ca=True), root_key)
    middle_key = _key()
    middle = Authority(_certificate("Test Issuing CA", middle_key, root, ca=True), middle_key)
    sns_key = _key()
    sns = Authority(
        _certificate("sns.amazonaws.com", sns_key, middle, ca=False,
                     dns_names=("sns.amazonaws.com",)),
        sns_key,
    )
    stranger_key = _key()
    stranger_ca = Authority(_certificate("Stranger CA", stranger_key, None, ca=True), stranger_key)
    impostor = Authority(
        _certificate("sns.amazonaws.com", sns_key, stranger_ca, ca=False,
                     dns_names=("sns.amazonaws.com",)),
        sns_key,
    )
    other = Authority(
        _certificate("hooks.example.org", sns_key, middle, ca=False,
                     dns_names=("hooks.example.org",)),
        sns_key,
    )
    return Pki(root, middle, sns, impostor, other)


@functools.cache
def server_certificate(host: str) -> Authority:
    """A TLS server's certificate for ``host``, from the test CA's intermediate."""
    key = _key()
    return Authority(
        _certificate(host, key, pki().intermediate, ca=False, dns_names=(host,)), key
    )


@dataclass
class Network:
    """The internet as the SNS checks see it: a page per URL; every fetch recorded."""

    pages: dict[str, bytes] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)

    def fetch(self, url: str) -> bytes:
        self.fetched.append(url)
        if url not in self.pages:
            raise FetchFailed("ses", f"{url}: HTTP 404")
        return self.pages[url]


_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                                 "TopicArn", "Type"),
}
_SIGNED["UnsubscribeConfirmation"] = _SIGNED["SubscriptionConfirmation"]


def sns_message(
    message: str,
    *,
    kind: str = "Notification",
    message_id: str = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
    topic: str = TOPIC,
    cert_url: str = CERT_URL,
    version: str = "1",
    key: rsa.RSAPrivateKey | None = None,
    subject: str | None = None,
    subscribe_url: str = SUBSCRIBE_URL,
) -> bytes:
    """An SNS message as SNS posts it, signed with ``key`` (SNS's by default)."""
    data: dict[str, Any] = {
        "Type": kind, "MessageId": message_id, "TopicArn": topic, "Message": message,
        "Timestamp": "2026-12-01T09:00:00.000Z", "SignatureVersion": version,
        "SigningCertURL": cert_url,
    }
    if subject is not None:
        data["Subject"] = subject
    if kind != "Notification":
        data["SubscribeURL"] = subscribe_url
        data["Token"] = "2336412f37fb687f5d51e6e2425"
    signed = "".join(
        f"{name}\n{data[name]}\n" for name in _SIGNED[kind] if name in data
    ).encode("utf-8")
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = (key or pki().sns.key).sign(signed, padding.PKCS1v15(), algorithm)
    data["Signature"] = base64.b64encode(signature).decode("ascii")
    return json.dumps(data).encode("utf-8")


def ses_bounce(
    recipients: list[dict[str, str]],
    *,
    bounce_type: str = "Permanent",
    subtype: str = "General",
    feedback_id: str = "0100017a-feedback-1",
    message_id: str = "",
) -> str:
    """An SES bounce notification (the text SNS carries), quoting ``message_id`` if given."""
    headers = [{"name": "Message-ID", "value": message_id}] if message_id else []
    return json.dumps({
        "notificationType": "Bounce",
        "bounce": {"bounceType": bounce_type, "bounceSubType": subtype,
                   "bouncedRecipients": recipients, "feedbackId": feedback_id,
                   "timestamp": "2026-12-01T09:00:00.000Z"},
        "mail": {"messageId": "0100017a-ses-id", "source": "news@example.org",
                 "headers": headers, "commonHeaders": {"messageId": message_id}},
    })


@functools.cache
def sendgrid_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def sendgrid_public_key() -> str:
    """The verification key as SendGrid's settings page gives it: base64 DER."""
    der = sendgrid_key().public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def sendgrid_headers(body: bytes, timestamp: str = "1796115600") -> dict[str, str]:
    signature = sendgrid_key().sign(timestamp.encode("ascii") + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode("ascii"),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }


def mailgun_body(
    event: dict[str, Any], *, timestamp: float | str, token: str = "a8ce0edb2dd8301d",
    key: str = MAILGUN_KEY,
) -> bytes:
    """A Mailgun webhook request body signed with ``key`` at ``timestamp`` (Unix seconds)."""
    stamp = timestamp if isinstance(timestamp, str) else str(int(timestamp))
    digest = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps({
        "signature": {"timestamp": stamp, "token": token, "signature": digest},
        "event-data": event,
    }).encode("utf-8")


def postmark_auth(user: str = "postmark", password: str = POSTMARK_PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


# -- what the tests send reports about --------------------------------------------------

ANN = "ann@example.org"


def letter_to_ann(web: Web) -> tuple[int, int, str]:
    """Ann on list news, a campaign sent to her, and the Message-ID her letter carried."""
    news = web.make_list("news")
    ann = web.subscribe(news, ANN)
    campaign = insert_campaign(web.store, news, subject="Spring", source="x", sent_to=ann)
    return ann, campaign, f"<{web.signer.message_id(campaign, ann, 'n1')}@example.org>"


def bounce_rows(web: Web) -> list[dict[str, object]]:
    """Every stored bounce row, oldest first."""
    return [dict(row) for row in web.store.all("SELECT * FROM bounces ORDER BY id")]


def acted_on_ann(web: Web, subscriber_id: int, campaign_id: int | None) -> dict[str, object]:
    """Ann bounced by one report the provider vouched for, naming her and the campaign."""
    assert web.status(ANN) == "bounced"
    [row] = bounce_rows(web)
    assert row["proof"] == Proof.PROVIDER
    assert (row["subscriber_id"], row["campaign_id"]) == (subscriber_id, campaign_id)
    return row
