"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, port 0, with faults on demand.

The sink records every message it accepts (envelope and content). Faults are
injected before a message is recorded, so "recorded" means "accepted", and a
test can check that each recipient was accepted exactly once:

- ``temp_rate``: a random share of RCPT commands answered 451 or 452;
- ``close_rate``: a random share of MAIL commands answered 421, then the
  connection is closed;
- ``drop_rate``: a random share of DATA transfers cut off by dropping the
  connection instead of answering;
- ``stall``: the first N RCPT commands never answered (until the sink stops);
- ``hold(N)`` (a method, not a fault): once N messages are accepted, the next
  ones wait at DATA until ``release()``, so that a test can stop a sender in
  the middle of a run without racing it;
- ``reject``: recipients answered ``550 5.1.1 user unknown``;
- ``defer``: recipients answered ``451 4.7.1 greylisted`` (a set the test may change
  between runs, to let some of them through);
- ``busy``: recipients answered ``452 4.5.3`` (try again later);
- ``close_at``: recipients whose RCPT is answered 421, and the connection closed;
- ``pipelining``: PIPELINING offered in the EHLO reply (as real servers do; aiosmtpd
  reads pipelined commands in order either way);
- ``refuse_all``: every new connection greeted with 421 (a relay that is down);
- ``refuse_sender``: every MAIL FROM answered 553 (a relay that will not relay for us);
- ``refuse_recipients``: every RCPT answered with this reply, ``{address}`` standing for
  the recipient (a relay that refuses every recipient, set and cleared while it runs);
- ``no_smtputf8``: SMTPUTF8 not offered (a relay that takes ASCII addresses only);
- ``refuse_content``: recipients whose message is refused after its body (554);
- ``drop_after_body``: recipients whose message's body is read and the connection then
  dropped without a reply.

For every message it reads, the sink notes whether the next ``MAIL FROM`` was
already waiting behind the body (``chained``): written in the same piece as it.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailer import membership


@dataclass
class Faults:
    """What the sink does wrong, and how often."""

    seed: int = 1
    temp_rate: float = 0.0
    close_rate: float = 0.0
    drop_rate: float = 0.0
    stall: int = 0
    reject: set[str] = field(default_factory=set)
    defer: set[str] = field(default_factory=set)
    busy: set[str] = field(default_factory=set)
    close_at: set[str] = field(default_factory=set)
    pipelining: bool = True
    refuse_all: bool = False
    refuse_sender: bool = False
    refuse_recipients: str = ""
    no_smtputf8: bool = False
    refuse_content: set[str] = field(default_factory=set)
    drop_after_body: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Received:
    """One accepted message."""

    mail_from: str
    rcpt_to: str
    data: bytes


class SinkHandler:
    """The aiosmtpd handler: applies the faults, then records what it accepts."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.rng = random.Random(faults.seed)
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.stalls_left = faults.stall
        #: Set (in the sink's loop) to let stalled and held commands go on.
        self.release: asyncio.Event | None = None
        self.released = False
        self.hold_after: int | None = None
        self.counter = 0
        #: SMTP sessions greeted with EHLO (one per connection a client opened).
        self.sessions = 0
        #: Per message read, in order: was the next MAIL FROM already behind its body?
        self.chained: list[bool] = []

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        with self.lock:
            self.sessions += 1
        if self.faults.pipelining:
            return [responses[0], "250-PIPELINING", *responses[1:]]
        return responses

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self.faults.close_rate and self.rng.random() < self.faults.close_rate:
            asyncio.get_running_loop().call_later(0.01, server.transport.close)
            return "421 4.7.0 closing connection, too busy"
        if self.faults.refuse_sender:
            return "553 5.7.1 <" + address + ">: Sender address rejected: not owned by user"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.stalls_left > 0:
            self.stalls_left -= 1
            await self.wait_for_release()
            return "451 4.4.2 stalled"
        if self.faults.refuse_recipients:
            return self.faults.refuse_recipients.replace("{address}", address)
        if address.lower() in self.faults.reject:
            return "550 5.1.1 <" + address + ">: Recipient address rejected: User unknown"
        if address.lower() in self.faults.defer:
            return "451 4.7.1 <" + address + ">: Recipient address rejected: greylisted"
        if address.lower() in self.faults.busy:
            return "452 4.5.3 <" + address + ">: too many recipients, try again later"
        if address.lower() in self.faults.close_at:
            asyncio.get_running_loop().call_later(0.01, server.transport.close)
            return "421 4.7.0 closing connection, too busy"
        if self.faults.temp_rate and self.rng.random() < self.faults.temp_rate:
            if self.rng.random() < 0.5:
                return "451 4.3.0 temporary local problem, try again later"
            return "452 4.5.3 too many recipients, slow down"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        waiting = bytes(server._reader._buffer)  # what the client wrote after the body
        with self.lock:
            self.chained.append(b"MAIL FROM:" in waiting)
        addressed = {rcpt.lower() for rcpt in envelope.rcpt_tos}
        if (
            self.faults.drop_rate and self.rng.random() < self.faults.drop_rate
        ) or addressed & self.faults.drop_after_body:
            server.transport.abort()
            return "451 4.3.0 dropped"
        if addressed & self.faults.refuse_content:
            return "554 5.7.1 message content rejected"
        if self.hold_after is not None and self.counter >= self.hold_after:
            await self.wait_for_release()
        with self.lock:
            self.counter += 1
            for rcpt in envelope.rcpt_tos:
                self.received.append(
                    Received(envelope.mail_from or "", rcpt, bytes(envelope.content or b""))
                )
            number = self.counter
        return f"250 2.0.0 Ok: queued as Q{number:06d}"

    async def wait_for_release(self) -> None:
        """Wait until the test releases the sink (or it stops); at once if it has."""
        if self.release is None:
            self.release = asyncio.Event()
        if not self.released:  # read after the event exists: see SmtpSink.release
            await self.release.wait()


class _Refusing(SMTP):  # type: ignore[misc]
    """A server that greets with 421, like a relay that is overloaded or down."""

    async def _handle_client(self) -> None:
        await self.push("421 4.3.2 service not available, closing")
        self.transport.close()


class SmtpSink(Controller):  # type: ignore[misc]
    """The controller: starts on a free loopback port and knows where it listens."""

    def __init__(
        self,
        faults: Faults | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        **smtp_options: Any,
    ) -> None:
        self.faults = faults or Faults()
        self.handler = SinkHandler(self.faults)
        super().__init__(
            self.handler,
            hostname="127.0.0.1",
            port=0,
            ready_timeout=10.0,
            ssl_context=ssl_context,
            enable_SMTPUTF8=not self.faults.no_smtputf8,
            **smtp_options,
        )

    def factory(self) -> SMTP:
        cls = _Refusing if self.faults.refuse_all else SMTP
        return cls(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        # Port 0 asked the OS for a free port: learn which one before connecting to it.
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()

    def stop(self, no_assert: bool = False) -> Any:
        self.release()
        return super().stop(no_assert=no_assert)

    def hold(self, after: int) -> None:
        """Before a run: accept ``after`` messages more, then hold the rest until ``release``."""
        with self.handler.lock:
            self.handler.hold_after = self.handler.counter + after
        self.handler.release = None
        self.handler.released = False

    def release(self) -> None:
        """Let every stalled or held command go on, and none wait from now on."""
        # The flag first, the event second: a handler that made its event after this
        # read finds the flag set and does not wait.
        self.handler.released = True
        event = self.handler.release
        if event is not None:
            self.loop.call_soon_threadsafe(event.set)

    # -- what a test asks -------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    @property
    def sessions(self) -> int:
        """How many connections a client opened and greeted (EHLO)."""
        with self.handler.lock:
            return self.handler.sessions

    def counts(self) -> Counter[str]:
        """How many times each recipient was accepted."""
        return Counter(r.rcpt_to for r in self.received)


# -- the world a sending test needs: a list of subscribers and a letter -----------------

LETTER = """---
subject: "Spring meeting"
list: members
---

Dear {{ subscriber.name or "member" }},

the spring meeting is on Saturday.
"""


def populate(
    store: Any,
    list_name: str,
    count: int,
    *,
    domain: str = "example.com",
    attributes: Any = None,
) -> list[str]:
    """Create ``list_name`` (if needed) with ``count`` confirmed subscribers; their addresses."""
    from mailer.contacts.addresses import normalize_address
    from mailer.errors import ConflictError
    from mailer.store.lists import create_list, get_list
    from mailer.store.models import Consent


    try:
        mailing_list = create_list(store, list_name)
    except ConflictError:
        mailing_list = get_list(store, list_name)
    emails = []
    for number in range(count):
        email = f"member{number:05d}@{domain}"
        membership.add(
            store,
            mailing_list,
            normalize_address(email),
            name=f"Member {number}",
            attributes=attributes(number) if attributes else {},
            consent=Consent(method="test"),
            confirmed=True,
        )
        emails.append(email)
    return emails


def sink_environment(port: int, **extra: str) -> dict[str, str]:
    """``MAILER_*`` settings that point mailer at a sink on ``port``."""
    return {
        "MAILER_SECRET_KEY": "test-secret",
        "MAILER_SMTP_HOST": "127.0.0.1",
        "MAILER_SMTP_PORT": str(port),
        "MAILER_SMTP_TLS": "none",
        "MAILER_SMTP_TIMEOUT": "10",  # generous: a loaded machine must not read as a fault
        "MAILER_SMTP_CONNECTIONS": "4",
        **extra,
    }
