"""Shared fixtures: a fresh database, the command line, a fake clock, the web app."""

from __future__ import annotations

import contextlib
import itertools
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from mailer import clock
from mailer.cli import cli
from mailer.config import Config
from mailer.store import Store, open_store
from mailer.tokens import Signer
from mailer.web import create_app
from mailer.web.hooks import hooks_for
from mailer.web.limits import SubscribeLimits
from tests import provider_helpers, web_helpers
from tests.clocks import FakeClock
from tests.dns_server import DnsServer, Zones, serving
from tests.imap_server import Imap, run_dovecot
from tests.provider_helpers import Network, pki
from tests.report_world import World, mixed_campaign
from tests.smtp_sink import LETTER, Faults, SmtpSink, sink_environment
from tests.web_helpers import Web, web_config

Invoke = Callable[..., Result]


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test sees the developer's MAILER_* settings or writes into the checkout."""
    import os

    for name in list(os.environ):
        if name.startswith("MAILER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield
    clock.set_clock(None)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A database created the way a user creates it (``mailer init``)."""
    path = tmp_path / "mailer.db"
    result = CliRunner().invoke(cli, ["--db", str(path), "init"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    opened = open_store(db_path)
    yield opened
    opened.close()


@pytest.fixture
def invoke(db_path: Path) -> Invoke:
    """Run ``mailer --db <db> ARGS``; returns click's Result (exit code, output)."""

    def run(*args: str, input: str | None = None, catch: bool = True) -> Result:
        runner = CliRunner()
        return runner.invoke(
            cli, ["--db", str(db_path), *args], input=input, catch_exceptions=catch
        )

    return run


#: The signing key of the tests that send (bounces then prove themselves with it).
SECRET = "test-secret"
MailList = Callable[[str], None]


@pytest.fixture
def mail_list(invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MailList:
    """``mail_list(NAME)`` sends a short letter to list NAME through the Maildir outbox.

    A bounce or complaint without a token acts only on someone mailed lately,
    so the bounce tests first send a letter the way a coordinator does.
    """
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    letter = tmp_path / "letter-for-bounces.md"

    def send(list_name: str) -> None:
        letter.write_text(
            f'---\nsubject: "News for {list_name}"\n---\n\nDear {{{{ subscriber.name }}}},\n\n'
            "the news.\n",
            encoding="utf-8",
        )
        result = invoke("send", str(letter), "--list", list_name, "--yes", "--again")
        assert result.exit_code == 0, result.output

    return send


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpSink]:
    """A running SMTP sink, and mailer's settings (``MAILER_*``) pointing at it."""
    running = SmtpSink(Faults())
    running.start()
    for name, value in sink_environment(running.port).items():
        monkeypatch.setenv(name, value)
    yield running
    running.stop()


@pytest.fixture
def start_sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., SmtpSink]]:
    """``start_sink(**faults)`` starts an SMTP sink with those faults and points mailer's
    settings at it; every sink started is stopped after the test."""
    started: list[SmtpSink] = []

    def start(**faults: object) -> SmtpSink:
        sink = SmtpSink(Faults(**faults))  # type: ignore[arg-type]
        sink.start()
        started.append(sink)
        for name, value in sink_environment(sink.port).items():
            monkeypatch.setenv(name, value)
        return sink

    yield start
    for sink in started:
        sink.stop()


@pytest.fixture
def spring_letter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The spring meeting letter (``smtp_sink.LETTER``, to list members) on disk, and the
    signing key a send needs set."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    path = tmp_path / "spring.md"
    path.write_text(LETTER, encoding="utf-8")
    return path


@pytest.fixture
def dns_server(tmp_path: Path) -> Iterator[Callable[[Zones], DnsServer]]:
    """``dns_server(ZONES)`` starts a real DNS server (NSD) on loopback serving ZONES
    (``tests.dns_server``); every one started is stopped after the test."""
    numbers = itertools.count(1)
    with contextlib.ExitStack() as stack:

        def start(zones: Zones) -> DnsServer:
            return stack.enter_context(serving(tmp_path / f"dns-{next(numbers)}", zones))

        yield start


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    """A fake clock installed as mailer's clock (``mailer.clock``) for one test."""
    fake = FakeClock()
    clock.set_clock(fake)
    yield fake
    clock.set_clock(None)


async def _serve(
    config: Config, db_path: Path, store: Store, *, network: Network | None = None
) -> AsyncIterator[Web]:
    """The app on ``config``, an HTTP client for it, and one fake clock for its limits.

    With ``network``, the providers' hooks fetch from it and trust the test CA.
    """
    signer = Signer(web_helpers.SECRET)
    limit_clock = FakeClock()
    provider_hooks = None
    if network is not None:
        provider_hooks = hooks_for(
            config, fetch=network.fetch, anchors=lambda: [pki().root.certificate],
            clock=limit_clock.monotonic,
        )
    app = create_app(
        config,
        store_path=db_path,
        signer=signer,
        limits=SubscribeLimits(config.web.subscribe_limit, clock=limit_clock.monotonic),
        provider_hooks=provider_hooks,
    )
    transport = httpx.ASGITransport(app=app, client=(web_helpers.CLIENT_IP, 40000))
    async with httpx.AsyncClient(transport=transport, base_url=web_helpers.BASE) as client:
        yield Web(app, client, config, store, signer, limit_clock)
    app.state.web.stores.close_all()


@pytest.fixture
async def web(tmp_path: Path, db_path: Path, store: Store) -> AsyncIterator[Web]:
    """The web app on a fresh database (no provider configured), with an HTTP client."""
    async for served in _serve(web_config(tmp_path, db_path), db_path, store):
        yield served


@pytest.fixture
def network() -> Network:
    """SNS as the hooks reach it: its signing certificate and our topic's confirmation URL."""
    return Network({
        provider_helpers.CERT_URL: pki().sns_pem,
        provider_helpers.SUBSCRIBE_URL: b"<ConfirmSubscriptionResponse/>",
    })


@pytest.fixture
async def hook_web(
    tmp_path: Path, db_path: Path, store: Store, network: Network
) -> AsyncIterator[Web]:
    """The web app with every provider configured, SNS reached through ``network``."""
    config = web_config(
        tmp_path, db_path,
        MAILER_WEBHOOKS_SES_TOPIC_ARN=provider_helpers.TOPIC,
        MAILER_WEBHOOKS_POSTMARK_PASSWORD=provider_helpers.POSTMARK_PASSWORD,
        MAILER_WEBHOOKS_MAILGUN_KEY=provider_helpers.MAILGUN_KEY,
        MAILER_WEBHOOKS_SENDGRID_PUBLIC_KEY=provider_helpers.sendgrid_public_key(),
        MAILER_WEBHOOKS_RATE_LIMIT="20",
    )
    async for served in _serve(config, db_path, store, network=network):
        yield served


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Imap]:
    """A real IMAP server (``tests/imap_server.py``), shared by a module's tests."""
    # Not under pytest's tmp_path: its folders are private to root, and
    # Dovecot's own processes (auth, mail) run as other users.
    root = Path(tempfile.mkdtemp(prefix="mailer-dovecot-"))
    try:
        yield from run_dovecot(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def mixed_world(
    store: Store, invoke: Invoke, tmp_path: Path, fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    """Campaign 1 with mixed outcomes, its bounces and leavers (``tests/report_world.py``)."""
    made = mixed_campaign(store, invoke, tmp_path, fake_clock, monkeypatch)
    yield made
    made.sink.stop()
