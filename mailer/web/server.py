"""Running the web app under uvicorn, with the limits a public server needs.

- A request (its headers and body) must arrive within ``request_timeout``
  seconds of the connection opening, or of the previous answer: a client
  that trickles one byte at a time (slowloris) is cut off instead of holding
  a connection for ever. An idle keep-alive connection is closed after
  ``keepalive_timeout``. Headers larger than 16 KB are refused by h11.
- At most ``max_connections`` connections are served at once; beyond that
  uvicorn answers 503.
- When the process runs out of file descriptors, asyncio's accept loop
  reports the same error thousands of times a second, each with a
  traceback. The loop's exception handler here says it once a second, in one
  line, with how many times it happened; repeated log lines of the server
  and the app are limited the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import time
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("mailer.web")

#: The largest request head (request line and headers) h11 takes.
MAX_HEAD = 16 * 1024


@dataclass(frozen=True)
class ServerLimits:
    """How long a client may take and how many may be served at once."""

    request_timeout: float = 10.0
    keepalive_timeout: int = 5
    max_connections: int = 200


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for each request to arrive in full."""

    request_timeout: float = ServerLimits.request_timeout
    #: Past this many open connections a new one is closed at once, before it costs
    #: more than its file descriptor; up to it, uvicorn answers 503 over the cap.
    hard_cap: int = 2 * ServerLimits.max_connections

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        if len(self.connections) > self.hard_cap:
            transport.close()
            return
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._too_slow)

    def _disarm(self) -> None:
        deadline = getattr(self, "_deadline", None)
        if deadline is not None:
            deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        """Close the connection if the request is still not in (headers or body missing)."""
        self._deadline = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            self.transport.close()


class OncePerSecond(logging.Filter):
    """Let each kind of log line through at most once a second, counting the rest."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = self._clock()
        if now - self._last.get(key, -1e9) < 1.0:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            record.msg = f"{record.msg} (and {held} more like it in the last second)"
        if len(self._last) > 10_000:
            self._last.clear()
        return True


def _loop_errors(limiter: OncePerSecond) -> Any:
    """An asyncio exception handler: one line, no traceback, at most once a second."""
    report = logging.getLogger("mailer.server")

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", "event loop error"))
        record = logging.makeLogRecord({"name": "asyncio", "msg": message})
        if limiter.filter(record):
            exc = context.get("exception")
            report.error("%s%s", record.msg, f": {exc}" if exc is not None else "")

    return handle


def _more_file_descriptors(wanted: int) -> None:
    """Raise the soft limit on open files towards ``wanted`` (never above the hard limit).

    Connections are capped well below the limit, so that accepting one never
    meets an exhausted process.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def run(app: Starlette, listening: socket.socket, *, forwarded_allow_ips: str,
        limits: ServerLimits) -> None:
    """Serve ``app`` on the bound socket until SIGINT or SIGTERM."""
    protocol = type(
        "GuardedH11",
        (GuardedH11Protocol,),
        {"request_timeout": limits.request_timeout, "hard_cap": 2 * limits.max_connections},
    )
    _more_file_descriptors(4 * limits.max_connections + 64)
    config = uvicorn.Config(
        app,
        http=protocol,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        server_header=False,
        log_level="info",
        timeout_keep_alive=limits.keepalive_timeout,
        limit_concurrency=limits.max_connections,
        h11_max_incomplete_event_size=MAX_HEAD,
        # asyncio's accept loop tries this many accepts per wake-up, also when the
        # process is out of file descriptors; a smaller batch wastes less then.
        backlog=128,
    )
    limiter = OncePerSecond()
    for name in ("uvicorn.error", "mailer.web"):
        logging.getLogger(name).addFilter(limiter)
    server = uvicorn.Server(config)
    handler = _loop_errors(limiter)

    async def serve() -> None:
        asyncio.get_running_loop().set_exception_handler(handler)
        await server.serve(sockets=[listening])

    asyncio.run(serve())
