"""SMTP over TLS (STARTTLS and implicit) and AUTH, against aiosmtpd with a throwaway certificate."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from mailer.config import SmtpConfig
from mailer.dispatch.transports.smtp import SmtpTransport
from mailer.errors import TransportError
from mailer.store import Store
from tests.conftest import Invoke
from tests.smtp_sink import LETTER, SmtpSink, populate, sink_environment

MESSAGE = b"Subject: hello\r\n\r\nhello\r\n"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made on the spot."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certificate[0]), str(certificate[1]))
    return context


def client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


class Logins:
    """An aiosmtpd authenticator that knows one user and remembers who logged in."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"mailer",
            b"s3cret",
        ):
            self.seen.append(data.login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@pytest.fixture
def starttls_sink(certificate: tuple[Path, Path]) -> Iterator[tuple[SmtpSink, Logins]]:
    logins = Logins()
    sink = SmtpSink(
        tls_context=server_context(certificate),
        require_starttls=True,
        authenticator=logins,
        auth_required=True,
    )
    sink.start()
    yield sink, logins
    sink.stop()


def send_one(transport: SmtpTransport) -> int:
    async def go() -> int:
        channel = await transport.open()
        try:
            reply = await channel.send("s@example.org", "r@example.com", MESSAGE, False)
        finally:
            await channel.close()
        return reply.code

    return asyncio.run(go())


def test_starttls_and_auth(
    starttls_sink: tuple[SmtpSink, Logins], certificate: tuple[Path, Path]
) -> None:
    sink, logins = starttls_sink
    config = SmtpConfig(
        host="127.0.0.1", port=sink.port, tls="starttls", username="mailer", password="s3cret"
    )
    assert send_one(SmtpTransport(config, tls_context=client_context(certificate))) == 250
    assert logins.seen == ["mailer"]
    assert sink.counts() == {"r@example.com": 1}


def test_a_wrong_password_is_a_transport_error_with_the_code(
    starttls_sink: tuple[SmtpSink, Logins], certificate: tuple[Path, Path]
) -> None:
    sink, _ = starttls_sink
    config = SmtpConfig(
        host="127.0.0.1", port=sink.port, tls="starttls", username="mailer", password="wrong"
    )
    with pytest.raises(TransportError, match="535"):
        send_one(SmtpTransport(config, tls_context=client_context(certificate)))
    assert sink.received == []


def test_a_certificate_that_is_not_trusted_is_refused(
    starttls_sink: tuple[SmtpSink, Logins],
) -> None:
    sink, _ = starttls_sink
    config = SmtpConfig(host="127.0.0.1", port=sink.port, tls="starttls")
    with pytest.raises(TransportError, match="no SMTP relay could be reached"):
        send_one(SmtpTransport(config))


def test_implicit_tls(certificate: tuple[Path, Path]) -> None:
    sink = SmtpSink(ssl_context=server_context(certificate))
    sink.start()
    try:
        config = SmtpConfig(host="127.0.0.1", port=sink.port, tls="implicit")
        assert send_one(SmtpTransport(config, tls_context=client_context(certificate))) == 250
        assert sink.counts() == {"r@example.com": 1}
    finally:
        sink.stop()


def test_a_refused_login_says_authentication_failed_not_unreachable(
    starttls_sink: tuple[SmtpSink, Logins], certificate: tuple[Path, Path],
    invoke: Invoke, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink, _ = starttls_sink
    populate(store, "members", 3)
    for name, value in sink_environment(
        sink.port, MAILER_SMTP_TLS="starttls", MAILER_SMTP_USERNAME="mailer",
        MAILER_SMTP_PASSWORD="wrong",
    ).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    letter = tmp_path / "letter.md"
    letter.write_text(LETTER, encoding="utf-8")
    result = invoke("send", str(letter), "--list", "members", "--yes")
    assert result.exit_code == 1
    assert f"SMTP authentication failed at 127.0.0.1:{sink.port}: 535" in result.output
    assert "could be reached" not in result.output
    assert "3 recipients not yet sent" in result.output and "campaigns resume 1" in result.output
    assert sink.received == []
