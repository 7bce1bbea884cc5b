"""``mailer serve`` as a real uvicorn process on a loopback port.

Also: the server, ``mailer send`` and an import writing to one database at the
same time, none of them failing with "database is locked".
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Invoke
from tests.web_helpers import (
    SECRET,
    Server,
    confirm_link,
    free_port,
    mailer_env,
    start_server,
    wait_for_messages,
    without_csrf,
)

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def server(tmp_path: Path, db_path: Path) -> Iterator[Server]:
    running = start_server(tmp_path, db_path)
    yield running
    running.stop()


def test_serve_refuses_to_start_without_a_secret_key(invoke: Invoke) -> None:
    with busy_port() as port:  # were it to start anyway, it would fail at once, not run on
        result = invoke("serve", "--port", str(port))
    assert result.exit_code == 1
    assert "MAILER_SECRET_KEY" in result.output
    assert "--dev" in result.output
    assert "Traceback" not in result.output


def test_serve_without_a_database_says_so(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mailer.cli import cli

    result = CliRunner().invoke(
        cli, ["--db", str(tmp_path / "none.db"), "serve"], env={"MAILER_SECRET_KEY": "k"}
    )
    assert result.exit_code == 1
    assert "mailer init" in result.output


def test_dev_flag_starts_with_a_throwaway_key_and_says_so(tmp_path: Path, db_path: Path) -> None:
    port = free_port()
    env = mailer_env(tmp_path, port)
    del env["MAILER_SECRET_KEY"]
    server = start_server(tmp_path, db_path, "--dev", env=env, port=port)
    output = server.stop()
    assert "throwaway key" in output


def test_real_server_health_headers_and_friendly_errors(server: Server) -> None:
    health = httpx.get(f"{server.base}/healthz")
    assert health.json()["status"] == "ok"
    assert "server" not in health.headers
    page = httpx.get(f"{server.base}/u/forged-token")
    assert page.status_code == 400
    assert "This link does not work" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert httpx.get(f"{server.base}/nowhere").status_code == 404


def test_real_server_one_click_unsubscribe(server: Server, invoke: Invoke, db_path: Path) -> None:
    assert invoke("lists", "create", "news", "--public").exit_code == 0
    assert invoke("subscribers", "add", "ann@example.org", "--list", "news").exit_code == 0
    from mailer.tokens import Signer

    with sqlite3.connect(db_path) as conn:
        sid, lid = conn.execute("SELECT subscriber_id, list_id FROM subscriptions").fetchone()
    url = f"{server.base}/u/{Signer(SECRET).unsubscribe(sid, lid, 1)}"
    assert "Unsubscribe from" in httpx.get(url).text
    for _ in range(2):
        response = httpx.post(url, data=ONE_CLICK)
        assert response.status_code == 200
        assert "set-cookie" not in response.headers
    with sqlite3.connect(db_path) as conn:
        (status,) = conn.execute("SELECT status FROM subscriptions").fetchone()
    assert status == "unsubscribed"


def test_real_server_subscribe_confirm_and_no_enumeration(
    server: Server, invoke: Invoke, db_path: Path, tmp_path: Path
) -> None:
    assert invoke("lists", "create", "news", "--public", "--double-optin").exit_code == 0
    assert invoke("subscribers", "add", "known@example.org", "--list", "news").exit_code == 0

    def answer(address: str, forwarded_for: str) -> httpx.Response:
        # uvicorn trusts X-Forwarded-For from 127.0.0.1 (a local proxy) by default.
        headers = {"X-Forwarded-For": forwarded_for}
        form = httpx.get(f"{server.base}/s/news", headers=headers)
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf
        return httpx.post(
            f"{server.base}/s/news",
            data={"email": address, "csrf": csrf.group(1)},
            headers=headers,
        )

    known = answer("known@example.org", "198.51.100.1")
    unknown = answer("known2@example.org", "198.51.100.2")
    assert known.status_code == unknown.status_code == 200
    assert without_csrf(known.text).replace("known@", "X@") == without_csrf(unknown.text).replace(
        "known2@", "X@"
    )
    # Both get a link: the known address is still unconfirmed (added on a double opt-in list).
    # The server mails it after answering, so wait for the outbox to fill.
    messages = wait_for_messages(tmp_path / "outbox", 2)
    (message,) = [m for m in messages if m["To"] == "known2@example.org"]
    link = confirm_link(message, server.base)
    page = httpx.get(f"{server.base}{link}", headers={"X-Forwarded-For": "198.51.100.2"})
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    done = httpx.post(
        f"{server.base}{link}",
        data={"csrf": csrf.group(1)},
        headers={"X-Forwarded-For": "198.51.100.2", "User-Agent": "Test/2"},
    )
    assert done.status_code == 200, done.text
    assert "You are subscribed" in done.text, done.text
    with sqlite3.connect(db_path) as conn:
        row = conn.execute(
            "SELECT s.status, s.consent_source, s.consent_detail FROM subscriptions s "
            "JOIN subscribers p ON p.id = s.subscriber_id WHERE p.email = 'known2@example.org'"
        ).fetchone()
    assert row[0] == "confirmed"
    assert row[1] == "198.51.100.2"
    assert json.loads(row[2])["user_agent"] == "Test/2"


def test_serve_send_and_import_run_at_once_without_lock_failures(
    tmp_path: Path, db_path: Path, invoke: Invoke
) -> None:
    """Three writers on one file: the web app, a campaign being sent, a CSV import."""
    assert invoke("lists", "create", "news", "--public", "--no-double-optin").exit_code == 0
    assert invoke("lists", "create", "imported").exit_code == 0
    first = tmp_path / "first.csv"
    first.write_text(
        "email,name\n" + "".join(f"r{i}@example.org,R {i}\n" for i in range(1500)),
        encoding="utf-8",
    )
    assert invoke("subscribers", "import", str(first), "--list", "news").exit_code == 0
    big = tmp_path / "big.csv"
    big.write_text(
        "email,name\n" + "".join(f"i{i}@example.net,I {i}\n" for i in range(20000)),
        encoding="utf-8",
    )
    letter = tmp_path / "letter.md"
    letter.write_text(
        '---\nsubject: "Autumn news"\nlist: news\n---\n\nDear {{ subscriber.name }}, hello.\n',
        encoding="utf-8",
    )

    port = free_port()
    env = mailer_env(tmp_path, port, MAILER_WEB_SUBSCRIBE_LIMIT="0")
    server = start_server(tmp_path, db_path, env=env, port=port)
    from mailer.tokens import Signer

    signer = Signer(SECRET)
    with sqlite3.connect(db_path) as conn:
        members = conn.execute(
            "SELECT subscriber_id, list_id FROM subscriptions ORDER BY subscriber_id"
        ).fetchall()
    statuses: list[int] = []

    others_done = threading.Event()
    done_members: list[int] = []

    def web_writer() -> None:
        """Unsubscribe and subscribe through the server until send and import have ended."""
        with httpx.Client(base_url=server.base, timeout=60) as client:
            for number, (sid, lid) in enumerate(members):
                if others_done.is_set() and number >= 50:
                    break
                done_members.append(sid)
                statuses.append(
                    client.post(f"/u/{signer.unsubscribe(sid, lid)}", data=ONE_CLICK).status_code
                )
                form = client.get("/s/news")
                csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
                assert csrf
                statuses.append(
                    client.post(
                        "/s/news",
                        data={"email": f"web{number}@example.com", "csrf": csrf.group(1)},
                    ).status_code
                )

    base_cmd = [sys.executable, "-m", "mailer", "--db", str(db_path)]
    web_thread = threading.Thread(target=web_writer)
    try:
        web_thread.start()
        send = subprocess.Popen(
            [*base_cmd, "send", str(letter), "--list", "news", "--yes", "--concurrency", "4"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        load = subprocess.Popen(
            [*base_cmd, "subscribers", "import", str(big), "--list", "imported"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        send_out, _ = send.communicate(timeout=600)
        load_out, _ = load.communicate(timeout=600)
    finally:
        others_done.set()
        web_thread.join(timeout=600)
        log = server.stop()
    assert send.returncode == 0, send_out.decode()
    assert load.returncode == 0, load_out.decode()
    assert statuses == [200] * (2 * len(done_members))
    assert "locked" not in (send_out + load_out).decode().lower()
    assert "locked" not in log.lower() and "Traceback" not in log
    with sqlite3.connect(db_path) as conn:
        imported = conn.execute(
            "SELECT count(*) FROM subscriptions s JOIN lists l ON l.id = s.list_id "
            "WHERE l.name = 'imported'"
        ).fetchone()[0]
        web_joined = conn.execute(
            "SELECT count(*) FROM subscribers WHERE email LIKE 'web%@example.com'"
        ).fetchone()[0]
        left = conn.execute(
            "SELECT count(*) FROM subscriptions WHERE status = 'unsubscribed'"
        ).fetchone()[0]
        states = dict(conn.execute("SELECT state, count(*) FROM deliveries GROUP BY state"))
        skipped = conn.execute(
            "SELECT d.last_text FROM deliveries d JOIN subscriptions s "
            "ON s.subscriber_id = d.subscriber_id WHERE d.state = 'failed' "
            "AND s.status = 'unsubscribed'"
        ).fetchall()
        assert len(skipped) == states.get("failed", 0)
        recipients = conn.execute("SELECT recipients FROM campaigns").fetchone()[0]
    assert imported == 20000
    assert web_joined == len(done_members)
    assert left == len(done_members)
    # Whoever unsubscribed through the web while the campaign ran is skipped, not mailed.
    assert set(states) <= {"sent", "failed"}, send_out.decode()
    assert sum(states.values()) == recipients
    assert {reason for (reason,) in skipped} <= {"skipped: no longer subscribed (unsubscribed)"}
    assert recipients > 1000


@contextlib.contextmanager
def busy_port() -> Iterator[int]:
    """A loopback port something else listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield int(busy.getsockname()[1])


def test_serve_refuses_a_blank_secret_key(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_SECRET_KEY", "   ")
    with busy_port() as port:  # were the key taken, serving would fail at once, not run on
        result = invoke("serve", "--port", str(port))
    assert result.exit_code == 1
    assert "MAILER_SECRET_KEY" in result.output
    assert "Traceback" not in result.output


def test_serve_refuses_a_base_url_links_cannot_use(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    for bad in ("lists.example.org", "ftp://lists.example.org", "https://"):
        monkeypatch.setenv("MAILER_WEB_BASE_URL", bad)
        with busy_port() as port:
            result = invoke("serve", "--port", str(port))
        assert result.exit_code == 1, bad
        assert "base_url" in result.output and repr(bad) in result.output, bad
        assert "Traceback" not in result.output


def test_serve_warns_about_a_short_secret_key(tmp_path: Path, db_path: Path) -> None:
    port = free_port()
    server = start_server(
        tmp_path, db_path, env=mailer_env(tmp_path, port, MAILER_SECRET_KEY="k3y"), port=port
    )
    output = server.stop()
    assert "MAILER_SECRET_KEY is short" in output


def test_serve_on_a_busy_port_fails_with_one_line_and_exit_1(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    with busy_port() as port:
        result = invoke("serve", "--host", "127.0.0.1", "--port", str(port))
    assert result.exit_code == 1
    assert f"127.0.0.1:{port}" in result.output
    assert "in use" in result.output
    assert "Traceback" not in result.output
