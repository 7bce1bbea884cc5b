"""``mailer serve`` against clients that never finish, too many clients, and no file descriptors.

Real server processes on loopback with short limits (``MAILER_WEB_*``). The
waits are those of the server's own deadlines, kept short; the tests watch
for what they expect (a closed socket, a log line) rather than sleep. How
often a repeated log line gets through is checked on a fake clock.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mailer.web.server import OncePerSecond
from tests.clocks import FakeClock
from tests.web_helpers import Server, free_port, mailer_env, start_server

#: The hasty server's request deadline: short, yet far above a local round trip.
REQUEST_TIMEOUT = 0.3


@pytest.fixture
def hasty_server(tmp_path: Path, db_path: Path) -> Iterator[Server]:
    """A server that gives a client ``REQUEST_TIMEOUT`` seconds to send its request."""
    port = free_port()
    env = mailer_env(tmp_path, port, MAILER_WEB_REQUEST_TIMEOUT=str(REQUEST_TIMEOUT))
    server = start_server(tmp_path, db_path, env=env, port=port)
    yield server
    server.stop()


@pytest.fixture
def capped_server(tmp_path: Path, db_path: Path) -> Iterator[Server]:
    """A server that serves four connections at once, with the default (long) deadline."""
    port = free_port()
    env = mailer_env(tmp_path, port, MAILER_WEB_MAX_CONNECTIONS="4")
    server = start_server(tmp_path, db_path, env=env, port=port)
    yield server
    server.stop()


def _connect(server: Server) -> socket.socket:
    host, port = server.base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    return sock


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``sock`` within ``seconds`` (reading whatever it sends)."""
    sock.settimeout(seconds)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if sock.recv(4096) == b"":
                return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return False


def test_a_client_that_sends_nothing_is_cut_off(hasty_server: Server) -> None:
    sock = _connect(hasty_server)
    # Within 3 s: before the idle keep-alive timeout (5 s) could be what closes it.
    assert _closed_within(sock, 3)


def test_a_client_that_trickles_its_headers_is_cut_off(hasty_server: Server) -> None:
    sock = _connect(hasty_server)
    deadline = time.monotonic() + 3
    sock.sendall(b"GET /healthz HTTP/1.1\r\n")
    closed = False
    index = 0
    # A header line every 50 ms, never finishing: each byte comes well within the
    # deadline, so only a deadline for the whole request cuts the client off.
    while not closed and time.monotonic() < deadline:
        time.sleep(REQUEST_TIMEOUT / 6)
        try:
            sock.sendall(f"X-Slow-{index}: a\r\n".encode())
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        index += 1
    assert closed or _closed_within(sock, 1)


def test_headers_larger_than_16_kb_are_refused(capped_server: Server) -> None:
    sock = _connect(capped_server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
    answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
    # Sent in pieces, h11 itself refuses it once it passes 16 KB (well before the
    # request deadline of this server, which is not what closes it).
    sock = _connect(capped_server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
    for _ in range(20):
        try:
            sock.sendall(b"a" * 1000)
        except (BrokenPipeError, ConnectionResetError):
            break
    assert _closed_within(sock, 3)


def test_past_the_connection_cap_the_server_answers_503(capped_server: Server) -> None:
    idle = [_connect(capped_server) for _ in range(4)]
    response = httpx.get(f"{capped_server.base}/healthz", timeout=5)
    assert response.status_code == 503
    for sock in idle:
        sock.close()
    # The server notices the closed connections at its own pace: ask until it has.
    deadline = time.monotonic() + 5
    while (status := httpx.get(f"{capped_server.base}/healthz", timeout=5).status_code) != 200:
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert status == 200


def test_a_repeated_log_line_gets_through_once_a_second_with_a_count_of_the_rest() -> None:
    fake = FakeClock()
    limiter = OncePerSecond(clock=fake.monotonic)

    def line(text: str) -> logging.LogRecord:
        return logging.makeLogRecord({"name": "asyncio", "msg": text})

    assert limiter.filter(line("accept failed"))
    assert not any(limiter.filter(line("accept failed")) for _ in range(50))
    assert limiter.filter(line("something else")), "other lines are not held back"
    fake.advance(0.5)
    assert not limiter.filter(line("accept failed"))
    fake.advance(0.5)
    later = line("accept failed")
    assert limiter.filter(later)
    assert later.msg == "accept failed (and 51 more like it in the last second)"
    assert not limiter.filter(line("accept failed"))


def test_out_of_file_descriptors_it_logs_one_line_a_second_at_most(
    tmp_path: Path, db_path: Path
) -> None:
    port = free_port()
    env = mailer_env(tmp_path, port, MAILER_WEB_REQUEST_TIMEOUT="30")
    server = start_server(tmp_path, db_path, env=env, port=port, open_files=48)
    held: list[socket.socket] = []
    try:
        before = server.log.read_text()
        started = time.monotonic()
        for _ in range(120):
            try:
                held.append(_connect(server))
            except OSError:
                break
        # Wait for the first report, then let the server fail to accept for a
        # moment more: unthrottled, that is a hundred lines and more.
        deadline = started + 10
        while "out of system resource" not in server.log.read_text()[len(before):]:
            assert time.monotonic() < deadline, "the server never ran out of descriptors"
            time.sleep(0.02)
        time.sleep(0.25)
        log = server.log.read_text()[len(before):]
        elapsed = time.monotonic() - started
    finally:
        for sock in held:
            sock.close()
        server.stop()
    lines = [line for line in log.splitlines() if line.strip()]
    assert any("out of system resource" in line for line in lines), log[:2000]
    assert len(lines) <= 1 + int(elapsed), log[:2000]
    assert "Traceback" not in log
