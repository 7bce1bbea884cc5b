"""The SMTP transport: a pool of relays, each giving out reusable connections.

One channel is one connection that carries many messages (MAIL, RCPT, DATA;
RSET only after a refusal). aiosmtplib opens it (EHLO, STARTTLS or implicit
TLS, AUTH); when the server offers PIPELINING (and ``[smtp] pipelining`` is
on) a ``PipelinedChannel`` sends each message in two writes, or one when
the next message's envelope goes behind its body (``transports.pipeline``),
else an ``SmtpChannel`` uses aiosmtplib's own calls, one command and one
wait at a time. Opening connections is the
slow part of SMTP, so a channel lives until the server closes it or answers
421. Several relays may be configured with weights: a relay that cannot be
reached is left alone for a while (doubling each time) and the others carry
its share. A relay whose connections break (closed, timed out, 421) rests
the same way; its first accepted message makes it healthy again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import ssl
import time
from dataclasses import dataclass, field

import aiosmtplib
from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPException,
    SMTPResponseException,
    SMTPSenderRefused,
)

from mailer.config import RelayConfig, SmtpConfig
from mailer.dispatch.backoff import backoff
from mailer.dispatch.transports.base import (
    Channel,
    RelayAuthFailed,
    Reply,
    SenderRefused,
    Undeliverable,
    Upcoming,
    queue_id_of,
)
from mailer.dispatch.transports.pipeline import (
    ConnectionBroken,
    Envelope,
    ReplyReader,
    ServiceClosing,
    Transaction,
    transact,
    wire_body,
)
from mailer.errors import ConfigError, TransportError

TLS_MODES = ("starttls", "implicit", "none")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses, where plain SMTP is acceptable."""
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def relays_of(config: SmtpConfig) -> tuple[RelayConfig, ...]:
    """The configured relays: ``[[smtp.relays]]``, else the single ``[smtp]`` host."""
    relays = config.relays or (
        RelayConfig(
            host=config.host,
            port=config.port,
            tls=config.tls,
            username=config.username,
            password=config.password,
        ),
    )
    for relay in relays:
        if not relay.host:
            raise ConfigError("smtp: a relay has no host")
        if relay.tls not in TLS_MODES:
            raise ConfigError(
                f"smtp relay {relay.host}: tls must be starttls, implicit or none, "
                f"not {relay.tls!r}"
            )
        if relay.tls == "none" and not is_loopback(relay.host):
            # Credentials and subscriber addresses must not cross a network in clear.
            raise ConfigError(
                f'smtp relay {relay.host}: tls = "none" is only allowed for a loopback '
                "host; use starttls or implicit"
            )
        if relay.weight < 1:
            raise ConfigError(f"smtp relay {relay.host}: weight must be at least 1")
    return relays


@dataclass(frozen=True)
class RelayRest:
    """How long a relay that failed is left alone: doubling from ``first`` up to ``cap``."""

    first: float = 1.0
    cap: float = 60.0


@dataclass
class _RelayState:
    """A relay and how long it is to be left alone after failing."""

    relay: RelayConfig
    rests: RelayRest = field(default_factory=RelayRest)
    failures: int = 0
    paused_until: float = 0.0

    @property
    def label(self) -> str:
        """``host:port``, as messages name the relay."""
        return f"{self.relay.host}:{self.relay.port}"

    def rest(self) -> None:
        """The relay failed us: leave it alone for a while, twice as long as last time."""
        self.failures += 1
        pause = backoff(self.failures, self.rests.first, self.rests.cap)
        self.paused_until = time.monotonic() + pause


class SmtpChannel:
    """One open SMTP connection, reused for message after message."""

    def __init__(self, client: aiosmtplib.SMTP, relay: _RelayState) -> None:
        self._client = client
        self._relay = relay
        self.label = relay.label

    def _broken(self, message: str, code: int | None = None) -> TransportError:
        """Close the connection, rest its relay, and say what broke."""
        self._client.close()
        self._relay.rest()
        return TransportError(message, code=code)

    async def send(
        self, sender: str, recipient: str, data: bytes, smtputf8: bool, *, stuffed: bool = False,
        relaxed: bool = False,
    ) -> Reply:
        """One mail transaction; SMTP refusals come back as a ``Reply``, breakage raises.

        aiosmtplib stuffs and normalises every message itself, so ``stuffed`` changes nothing.
        """
        client = self._client
        encoding = "utf-8" if smtputf8 else "ascii"
        options = ["SMTPUTF8"] if smtputf8 else None
        try:
            if smtputf8:
                if client.last_ehlo_response is None:
                    await client.ehlo()
                if not client.supports_extension("smtputf8"):
                    # Asking anyway would read as a refused sender and stop the whole run.
                    raise Undeliverable(
                        f"not sent: {self.label} does not offer SMTPUTF8, which {recipient} needs"
                    )
            try:
                await client.mail(sender, options=options, encoding=encoding)
            except SMTPSenderRefused as exc:
                if exc.code < 500:
                    raise
                await self._reset()
                raise SenderRefused(
                    f"{self.label} refused the sender {sender}: {exc.code} {exc.message}",
                    code=exc.code,
                ) from None
            await client.rcpt(recipient, encoding=encoding)
            response = await client.data(data)
        except SMTPResponseException as exc:
            if exc.code == 421:
                raise self._broken(f"{self.label}: {exc.code} {exc.message}", 421) from None
            await self._reset()
            return Reply(exc.code, exc.message)
        except TransportError:
            raise  # already ours (and, as a ConnectionError, an OSError too)
        except (SMTPException, OSError, UnicodeError) as exc:
            raise self._broken(f"{self.label}: {_describe(exc)}") from None
        self._relay.failures = 0  # it took a message: healthy again
        return Reply(response.code, response.message, queue_id_of(response.message))

    async def _reset(self) -> None:
        """RSET after a refusal, so the connection can carry the next message."""
        try:
            await self._client.rset()
        except (SMTPException, OSError):
            self._client.close()

    async def close(self) -> None:
        """Say QUIT politely when the connection still stands; never raise."""
        try:
            if self._client.is_connected:
                await self._client.quit(timeout=2.0)
        except (SMTPException, OSError):
            pass
        finally:
            self._client.close()


class PipelinedChannel(SmtpChannel):
    """One connection to a server that offers PIPELINING: each message in two writes, or in
    one when the sender gives the next message's envelope (``then``).

    aiosmtplib opened it; from here on the connection's bytes go through a
    ``ReplyReader``, and aiosmtplib's client is only closed at the end.
    """

    chains = True

    def __init__(self, client: aiosmtplib.SMTP, relay: _RelayState, timeout: float) -> None:
        super().__init__(client, relay)
        self._timeout = timeout
        self._smtputf8 = client.supports_extension("smtputf8")
        transport = client.transport
        assert isinstance(transport, asyncio.WriteTransport)
        self._reader = ReplyReader(transport)
        #: The last transaction was refused before its end: RSET goes first next time.
        self._open_refused = False
        self.announced: Upcoming | None = None

    def _broken(self, message: str, code: int | None = None) -> TransportError:
        self.announced = None
        self._reader.close()
        return super()._broken(message, code)

    def _ahead(self, then: Upcoming | None) -> bytes:
        """The commands of ``then`` to write after the body, if they can go on this
        connection; else nothing (the next message's own ``send`` then finds out why)."""
        if then is None or (then.smtputf8 and not self._smtputf8):
            return b""
        try:
            return Envelope(then.sender, (then.recipient,), then.smtputf8).commands()
        except (ValueError, UnicodeError):
            return b""

    async def send(
        self, sender: str, recipient: str, data: bytes, smtputf8: bool, *, stuffed: bool = False,
        relaxed: bool = False, then: Upcoming | None = None,
    ) -> Reply:
        """One pipelined transaction; refusals come back as a ``Reply``, breakage raises.

        ``stuffed``: ``data`` ends its lines in CRLF and no line starts with a
        dot, so it goes on the wire as it is. ``then``: the next message's
        envelope, written after the body (``announced``).
        """
        announced, self.announced = self.announced, None
        if announced is not None and announced != Upcoming(sender, recipient, smtputf8):
            # The server waits for the announced message's body: no other can follow.
            raise self._broken(f"{self.label}: a message other than the one announced")
        if smtputf8 and not self._smtputf8:
            raise Undeliverable(
                f"not sent: {self.label} does not offer SMTPUTF8, which {recipient} needs"
            )
        try:
            envelope = Envelope(sender, (recipient,), smtputf8)
            ahead = self._ahead(then)
            done = await transact(
                self._reader, envelope, wire_body(data, stuffed=stuffed),
                timeout=self._timeout, reset=self._open_refused and announced is None,
                announced=announced is not None, then=ahead,
            )
        except ValueError as exc:
            raise Undeliverable(f"not sent: {exc}") from None
        except ServiceClosing as exc:
            raise self._broken(f"{self.label}: {exc}", 421) from None
        except ConnectionBroken as exc:
            raise self._broken(f"{self.label}: {exc}") from None
        except (OSError, UnicodeError) as exc:  # TimeoutError is an OSError
            raise self._broken(f"{self.label}: {_describe(exc)}") from None
        if done.chained:
            self.announced = then
        return self._judge(done, sender)

    def _judge(self, done: Transaction, sender: str) -> Reply:
        """The recipient's reply: the first refusal in order, else the server's last word."""
        self._open_refused = True
        if not done.sender.accepted:
            if done.sender.permanent:
                raise SenderRefused(
                    f"{self.label} refused the sender {sender}: "
                    f"{done.sender.code} {done.sender.text}",
                    code=done.sender.code,
                )
            return done.sender
        refused = [r for r in done.recipients if not r.accepted]
        if refused:
            return refused[0]
        if done.final is None:
            return done.data
        self._open_refused = False  # the transaction ended with the body, taken or not
        if done.final.accepted:
            self._relay.failures = 0  # it took a message: healthy again
        return done.final

    async def close(self) -> None:
        """Say QUIT when the connection still stands (without waiting long); never raise.

        With an envelope announced the server waits for its body, and would read
        QUIT as the message: the connection is dropped instead, which ends the
        transaction with nothing delivered.
        """
        try:
            if self.announced is not None:
                return
            await self._reader.write(b"QUIT\r\n")
            await self._reader.reply(2.0)
        except (ConnectionBroken, OSError):
            pass
        finally:
            self._reader.close()
            self._client.close()


def _describe(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, TimeoutError):
        return f"timed out ({text})"
    return text


class SmtpTransport:
    """Channels to a weighted pool of relays, skipping the ones that just failed."""

    def __init__(
        self,
        config: SmtpConfig,
        *,
        helo: str = "localhost",
        tls_context: ssl.SSLContext | None = None,
        rng: random.Random | None = None,
        rests: RelayRest | None = None,
    ) -> None:
        self._config = config
        self._relays = [_RelayState(r, rests or RelayRest()) for r in relays_of(config)]
        self._helo = helo
        self._tls_context = tls_context
        self._rng = rng or random.Random()
        self.name = "smtp " + ", ".join(r.label for r in self._relays)

    async def open(self) -> Channel:
        """A connected, greeted (and if configured, encrypted and logged-in) channel."""
        now = time.monotonic()
        ready = [r for r in self._relays if r.paused_until <= now]
        if not ready:
            # Every relay is resting: try the one that rests the shortest.
            ready = [min(self._relays, key=lambda r: r.paused_until)]
        errors: list[str] = []
        refused_login: RelayAuthFailed | None = None
        while ready:
            state = self._rng.choices(ready, weights=[r.relay.weight for r in ready])[0]
            ready.remove(state)
            try:
                client = await self._connect(state.relay)
            except RelayAuthFailed as exc:
                state.rest()
                refused_login = refused_login or exc
                continue
            except TransportError as exc:
                state.rest()
                errors.append(str(exc))
                continue
            state.paused_until = 0.0
            if self._config.pipelining and client.supports_extension("pipelining"):
                return PipelinedChannel(client, state, self._config.timeout)
            return SmtpChannel(client, state)
        if refused_login is not None:
            raise refused_login  # reached, but it will not take us: say so, not "unreachable"
        raise TransportError("no SMTP relay could be reached: " + "; ".join(errors))

    async def _connect(self, relay: RelayConfig) -> aiosmtplib.SMTP:
        label = f"{relay.host}:{relay.port}"
        client = aiosmtplib.SMTP(
            hostname=relay.host,
            port=relay.port,
            username=relay.username or None,
            password=relay.password or None if relay.username else None,
            local_hostname=self._helo,
            timeout=self._config.timeout,
            use_tls=relay.tls == "implicit",
            start_tls=relay.tls == "starttls",
            tls_context=self._tls_context,
        )
        try:
            await client.connect()
            if self._config.pipelining and client.last_ehlo_response is None:
                await client.ehlo()  # what the server offers decides which channel it gets
        except SMTPAuthenticationError as exc:
            client.close()
            raise RelayAuthFailed(
                f"SMTP authentication failed at {label}: {exc.code} {exc.message} "
                "(check [smtp] username and MAILER_SMTP_PASSWORD)",
                code=exc.code,
            ) from None
        except SMTPResponseException as exc:
            client.close()
            raise TransportError(f"{label}: {exc.code} {exc.message}", code=exc.code) from None
        except (SMTPException, OSError, ssl.SSLError) as exc:
            client.close()
            raise TransportError(f"{label}: {_describe(exc)}") from None
        return client
