"""Reaching out to a provider: an HTTPS GET, and the CA certificates a chain is checked against.

Only SNS needs this (its signing certificate, its subscription handshake).
The fetch is deliberately narrow: HTTPS only, the server's certificate
checked against the system's CAs, no redirects followed (a URL was checked
before it was fetched; a redirect would lead elsewhere), a timeout and a
size limit, so that a report naming a URL cannot make ``mailer serve`` hang
or read without end.
"""

from __future__ import annotations

import http.client
import re
import ssl
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import utils, x509

from mailer.errors import ConfigError, FetchFailed

#: GET an https URL and return the body; ``FetchFailed`` when that cannot be done.
Fetch = Callable[[str], bytes]
#: The CA certificates a signing certificate must chain to (asked for once, when first needed).
TrustAnchors = Callable[[], Sequence[x509.Certificate]]

_PEM_BLOCK = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL
)


def https_get(
    url: str,
    *,
    timeout: float = 10.0,
    limit: int = 256 * 1024,
    context: ssl.SSLContext | None = None,
) -> bytes:
    """The body of a GET of ``url`` (HTTPS, status 200, at most ``limit`` bytes)."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise FetchFailed("ses", f"{url}: only https URLs are fetched")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection = http.client.HTTPSConnection(
            parts.hostname, parts.port or 443, timeout=timeout,
            context=context or ssl.create_default_context(),
        )
    except ValueError as exc:
        raise FetchFailed("ses", f"{url}: {exc}") from None
    try:
        connection.request("GET", target, headers={"User-Agent": "mailer"})
        response = connection.getresponse()
        body = response.read(limit + 1)
    except (OSError, http.client.HTTPException) as exc:
        raise FetchFailed("ses", f"{url}: {exc or type(exc).__name__}") from None
    finally:
        connection.close()
    if response.status != 200:
        raise FetchFailed("ses", f"{url}: HTTP {response.status}")
    if len(body) > limit:
        raise FetchFailed("ses", f"{url}: more than {limit} bytes")
    return body


def certificates_in(pem: bytes) -> list[x509.Certificate]:
    """The certificates in a PEM bundle, skipping any this library cannot read.

    CA bundles carry a few old certificates that newer versions of the
    library refuse (or warn about); one of them must not cost all the others.
    """
    found = []
    for block in _PEM_BLOCK.findall(pem):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", utils.CryptographyDeprecationWarning)
            try:
                found.append(x509.load_pem_x509_certificate(block))
            except ValueError:
                continue
    return found


def ca_file(path: Path) -> TrustAnchors:
    """The CA certificates in the PEM file at ``path`` (``[webhooks] ses_ca_file``), read now."""
    try:
        anchors = certificates_in(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"webhooks.ses_ca_file: cannot read {path}: {exc.strerror}") from None
    if not anchors:
        raise ConfigError(f"webhooks.ses_ca_file: {path} holds no PEM certificate")
    return lambda: anchors


def system_anchors() -> list[x509.Certificate]:
    """The CA certificates the system trusts (its OpenSSL bundle, else its folder of them)."""
    paths = ssl.get_default_verify_paths()
    for name in (paths.cafile, paths.openssl_cafile):
        if name and Path(name).is_file():
            return certificates_in(Path(name).read_bytes())
    anchors: list[x509.Certificate] = []
    for folder in (paths.capath, paths.openssl_capath):
        if folder and Path(folder).is_dir():
            for file in sorted(Path(folder).iterdir()):
                if file.is_file():
                    anchors += certificates_in(file.read_bytes())
    return anchors
