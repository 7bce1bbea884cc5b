"""Amazon SNS: the signed messages SES's notifications arrive in, and the subscription handshake.

SNS signs every message (RSA; SHA1 for ``SignatureVersion`` 1, SHA256 for
2) over a string made of some of its fields, and serves the certificate of
its key at the message's ``SigningCertURL``. Anyone can post a message
naming a certificate of their own, so a message proves itself only when:

1. it belongs to our topic (``[webhooks] ses_topic_arn``): a message of
   another account's topic is SNS's genuine word about someone else's mail,
   and could name our subscribers; checked first, so that a stranger's post
   costs no fetch;
2. its ``SigningCertURL`` is an https URL on an SNS host
   (``sns.<region>.amazonaws.com``), fetched over verified TLS;
3. that certificate chains to a trusted CA (the system's, or
   ``ses_ca_file``) and is issued to an SNS name;
4. its signature verifies with that certificate's key.

A certificate is fetched once per URL and kept (SNS signs with one for a
long time), so a burst of notifications costs one fetch. A subscription is
confirmed by fetching its ``SubscribeURL``, and only our topic's, on an SNS
host: the endpoint can never be made to fetch another address.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import verification

from mailer import clock
from mailer.bounces.providers.https import Fetch, TrustAnchors
from mailer.bounces.providers.report import mapping, read_json, text
from mailer.errors import MalformedReport, Refused, Unverified

PROVIDER = "ses"

#: The hosts SNS serves certificates and confirmations from.
_SNS_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?")
#: The names an SNS signing certificate is issued to (with or without a region).
_SNS_NAME = re.compile(r"sns(?:\.[a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?")

NOTIFICATION = "Notification"
SUBSCRIPTION = "SubscriptionConfirmation"
UNSUBSCRIPTION = "UnsubscribeConfirmation"
#: The fields each type of message signs, in the order of the string to sign.
_SIGNED = {
    NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    SUBSCRIPTION: ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                   "Type"),
}
_SIGNED[UNSUBSCRIPTION] = _SIGNED[SUBSCRIPTION]
_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}


@dataclass(frozen=True)
class SnsMessage:
    """One SNS message as posted, with the string its signature is over."""

    type: str
    topic_arn: str
    message_id: str
    message: str
    signature_version: str
    signature: bytes
    signing_cert_url: str
    subscribe_url: str
    signed: bytes


def read_message(body: bytes) -> SnsMessage:
    """The SNS message in a request body; ``MalformedReport`` when it is not one."""
    data = mapping(PROVIDER, read_json(PROVIDER, body), "the SNS message")
    kind = text(PROVIDER, data, "Type")
    if kind not in _SIGNED:
        raise MalformedReport(PROVIDER, f"unknown SNS message type {kind[:40]!r}")
    lines: list[str] = []
    for name in _SIGNED[kind]:
        if name == "Subject" and data.get(name) is None:
            continue  # signed only when the message has one
        lines += [name, text(PROVIDER, data, name, required=name != "Subject")]
    try:
        signature = base64.b64decode(text(PROVIDER, data, "Signature"), validate=True)
    except binascii.Error:
        raise MalformedReport(PROVIDER, "the signature is not base64") from None
    return SnsMessage(
        type=kind,
        topic_arn=text(PROVIDER, data, "TopicArn"),
        message_id=text(PROVIDER, data, "MessageId"),
        message=text(PROVIDER, data, "Message"),
        signature_version=text(PROVIDER, data, "SignatureVersion"),
        signature=signature,
        signing_cert_url=text(PROVIDER, data, "SigningCertURL"),
        subscribe_url=text(PROVIDER, data, "SubscribeURL", required=kind != NOTIFICATION),
        signed="".join(f"{line}\n" for line in lines).encode("utf-8"),
    )


def is_sns_url(url: str) -> bool:
    """Whether ``url`` is an https URL on an SNS host (no other port, no user name)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and parts.hostname is not None
        and _SNS_HOST.fullmatch(parts.hostname) is not None
        and port in (None, 443)
        and parts.username is None
    )


class SigningCertificates:
    """SNS signing certificates by URL: fetched once, their chain and name checked, kept."""

    def __init__(self, fetch: Fetch, anchors: TrustAnchors, *, keep: int = 16) -> None:
        self._fetch = fetch
        self._anchors = anchors
        self._store: verification.Store | None = None
        self._keep = keep
        self._keys: OrderedDict[str, tuple[x509.Certificate, rsa.RSAPublicKey]] = OrderedDict()
        self._lock = threading.Lock()

    def public_key(self, url: str) -> rsa.RSAPublicKey:
        """The key of the certificate at ``url``, once it proved to be SNS's."""
        if not is_sns_url(url):
            raise Unverified(PROVIDER, "the signing certificate is not on an SNS host")
        with self._lock:
            cached = self._keys.get(url)
            if cached is not None and cached[0].not_valid_after_utc > clock.now():
                self._keys.move_to_end(url)
                return cached[1]
            certificate = self._checked(self._fetch(url))
            key = certificate.public_key()
            if not isinstance(key, rsa.RSAPublicKey):
                raise Unverified(PROVIDER, "the signing certificate's key is not RSA")
            self._keys[url] = (certificate, key)
            while len(self._keys) > self._keep:
                self._keys.popitem(last=False)
            return key

    def _checked(self, pem: bytes) -> x509.Certificate:
        """The first certificate of ``pem``, once it chains to an anchor and names SNS.

        Certificates after the first are taken as intermediates towards an anchor.
        """
        try:
            leaf, *intermediates = x509.load_pem_x509_certificates(pem)
        except ValueError:
            raise Unverified(PROVIDER, "the signing certificate cannot be read") from None
        if self._store is None:
            self._store = verification.Store(list(self._anchors()))
        verifier = (
            verification.PolicyBuilder()
            .store(self._store)
            .time(clock.now())
            .extension_policies(
                ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
                ee_policy=verification.ExtensionPolicy.permit_all(),
            )
            .build_client_verifier()
        )
        try:
            verifier.verify(leaf, intermediates)
        except verification.VerificationError as exc:
            raise Unverified(
                PROVIDER, f"the signing certificate does not chain to a trusted CA ({exc})"
            ) from None
        if not any(_SNS_NAME.fullmatch(name.lower()) for name in _names(leaf)):
            raise Unverified(PROVIDER, "the signing certificate is not issued to SNS")
        return leaf


def _names(certificate: x509.Certificate) -> list[str]:
    """The DNS names a certificate is issued to (its common name where it has none)."""
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        return list(extension.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return [str(name.value) for name in names]


class SnsVerifier:
    """Checks that an SNS message is SNS's, about our topic; and our topic's handshake URL."""

    def __init__(self, topic_arn: str, certificates: SigningCertificates) -> None:
        self.topic_arn = topic_arn
        self.certificates = certificates

    def verify(self, message: SnsMessage) -> None:
        """Raise ``Refused`` for another topic, ``Unverified`` for anything not proven SNS's."""
        if message.topic_arn != self.topic_arn:
            raise Refused(PROVIDER, f"the message is of topic {message.topic_arn[:300]}, not ours")
        algorithm = _HASHES.get(message.signature_version)
        if algorithm is None:
            raise Unverified(PROVIDER, "unknown SignatureVersion")
        key = self.certificates.public_key(message.signing_cert_url)
        try:
            key.verify(message.signature, message.signed, padding.PKCS1v15(), algorithm())
        except InvalidSignature:
            raise Unverified(PROVIDER, "the signature does not verify") from None

    def confirmation_url(self, message: SnsMessage) -> str:
        """The verified message's SubscribeURL, when it confirms our topic on an SNS host."""
        query = parse_qs(urlsplit(message.subscribe_url).query)
        if (
            not is_sns_url(message.subscribe_url)
            or query.get("Action") != ["ConfirmSubscription"]
            or query.get("TopicArn") != [self.topic_arn]
        ):
            raise Refused(PROVIDER, "the SubscribeURL is not our topic's confirmation on SNS")
        return message.subscribe_url
