"""``mailer serve`` against clients that never finish, too many clients, and no file descriptors.

Real server processes on loopback with short limits (``MAILER_WEB_*``), so
each case takes a second or two of real time.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.web_helpers import Server, free_port, mailer_env, start_server


@pytest.fixture
def strict_server(tmp_path: Path, db_path: Path) -> Iterator[Server]:
    port = free_port()
    env = mailer_env(
        tmp_path, port,
        MAILER_WEB_REQUEST_TIMEOUT="1", MAILER_WEB_KEEPALIVE_TIMEOUT="1",
        MAILER_WEB_MAX_CONNECTIONS="4",
    )
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


def test_a_client_that_sends_nothing_is_cut_off(strict_server: Server) -> None:
    sock = _connect(strict_server)
    assert _closed_within(sock, 4)


def test_a_client_that_trickles_its_headers_is_cut_off(strict_server: Server) -> None:
    sock = _connect(strict_server)
    started = time.monotonic()
    sock.sendall(b"GET /healthz HTTP/1.1\r\n")
    closed = False
    for index in range(8):  # one header line every half second: never finishing
        time.sleep(0.5)
        try:
            sock.sendall(f"X-Slow-{index}: a\r\n".encode())
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
    closed = closed or _closed_within(sock, 2)
    assert closed and time.monotonic() - started < 4.5


def test_headers_larger_than_16_kb_are_refused(strict_server: Server) -> None:
    sock = _connect(strict_server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
    answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
    # Sent in pieces, h11 itself refuses it once it passes 16 KB.
    sock = _connect(strict_server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
    for _ in range(20):
        try:
            sock.sendall(b"a" * 1000)
        except (BrokenPipeError, ConnectionResetError):
            break
    assert _closed_within(sock, 3)


def test_past_the_connection_cap_the_server_answers_503(strict_server: Server) -> None:
    idle = [_connect(strict_server) for _ in range(4)]
    response = httpx.get(f"{strict_server.base}/healthz", timeout=5)
    assert response.status_code == 503
    for sock in idle:
        sock.close()
    time.sleep(0.3)
    assert httpx.get(f"{strict_server.base}/healthz", timeout=5).status_code == 200


def test_out_of_file_descriptors_it_logs_one_line_a_second_at_most(
    tmp_path: Path, db_path: Path
) -> None:
    port = free_port()
    env = mailer_env(tmp_path, port, MAILER_WEB_REQUEST_TIMEOUT="30")
    server = start_server(tmp_path, db_path, env=env, port=port, open_files=48)
    held: list[socket.socket] = []
    try:
        before = server.log.read_text()
        for _ in range(120):
            try:
                held.append(_connect(server))
            except OSError:
                break
        time.sleep(3)
        log = server.log.read_text()[len(before):]
    finally:
        for sock in held:
            sock.close()
        server.stop()
    lines = [line for line in log.splitlines() if line.strip()]
    assert any("out of system resource" in line for line in lines), log[:2000]
    assert len(lines) <= 6, log[:2000]
    assert "Traceback" not in log
