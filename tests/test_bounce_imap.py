"""``bounces ingest --imap`` against a real Dovecot started on loopback by the test.

Dovecot comes from Debian (``.ci/apt-packages`` lists it for CI); where the
binary is absent the test is skipped and says so. The server gets a throwaway
configuration, a self-signed certificate and one mailbox, all under
``tmp_path``; the certificate is trusted through ``SSL_CERT_FILE``, the way
a user would trust a private CA.
"""

from __future__ import annotations

import imaplib
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailer.store import open_store
from mailer.store.subscribers import find_subscriber
from tests import bounce_samples as samples
from tests.conftest import Invoke, MailList

DOVECOT = shutil.which("dovecot") or (
    "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
)
OPENSSL = shutil.which("openssl")
pytestmark = [
    pytest.mark.skipif(DOVECOT is None, reason="dovecot is not installed "
                       "(apt-get install dovecot-imapd; CI installs .ci/apt-packages)"),
    pytest.mark.skipif(OPENSSL is None, reason="openssl is needed to make a test certificate"),
    pytest.mark.skipif(os.geteuid() != 0, reason="this Dovecot set-up must start as root"),
]

USER = "bounces"
PASSWORD = "imap-test-password"


@dataclass
class Imap:
    """A running Dovecot: its port and certificate."""

    port: int
    cert: Path

    def client(self) -> imaplib.IMAP4_SSL:
        context = ssl.create_default_context(cafile=str(self.cert))
        conn = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=context, timeout=10)
        conn.login(USER, PASSWORD)
        return conn


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Imap]:
    # Not under pytest's tmp_path: its folders are private to root, and
    # Dovecot's own processes (auth, mail) run as other users.
    root = Path(tempfile.mkdtemp(prefix="mailer-dovecot-"))
    try:
        yield from _run_dovecot(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run_dovecot(root: Path) -> Iterator[Imap]:
    for sub in ("run", "mail", "home"):
        (root / sub).mkdir(parents=True)
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(
        [str(OPENSSL), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    uid = gid = 65534  # mail is never read as root
    for path in (root / "mail", root / "home"):
        os.chown(path, uid, gid)
    os.chmod(root, 0o755)
    port = _free_port()
    config = root / "dovecot.conf"
    config.write_text(f"""
base_dir = {root}/run
state_dir = {root}/run
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
auth_mechanisms = plain
auth_failure_delay = 0
disable_plaintext_auth = yes
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0600
  }}
  unix_listener stats-writer {{
    mode = 0600
  }}
}}
""")
    process = subprocess.Popen(
        [str(DOVECOT), "-F", "-c", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        _wait_for(port, process, root / "dovecot.log")
        yield Imap(port=port, cert=cert)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until Dovecot accepts connections (it forks its services at start)."""
    for _ in range(200):
        if process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            text = log.read_text() if log.exists() else ""
            pytest.fail(f"dovecot exited: {err} {text}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail("dovecot did not start listening")


def _append(imap: Imap, *messages: bytes, folder: str = "INBOX") -> None:
    conn = imap.client()
    try:
        for raw in messages:
            status, _ = conn.append(folder, None, None, raw)
            assert status == "OK"
    finally:
        conn.logout()


def _count(imap: Imap, folder: str) -> int:
    conn = imap.client()
    try:
        status, data = conn.select(folder, readonly=True)
        assert status == "OK", data
        return int(data[0] or 0)
    finally:
        conn.logout()


def _folders(imap: Imap, *names: str) -> None:
    """Fresh folders for one test (the server is shared by the module's tests)."""
    conn = imap.client()
    try:
        for name in names:
            assert conn.create(name)[0] == "OK"
    finally:
        conn.logout()


def _config(tmp_path: Path, imap: Imap, folder: str, processed: str = "") -> str:
    path = tmp_path / "mailer.toml"
    path.write_text(
        "[imap]\n"
        f'host = "127.0.0.1"\nport = {imap.port}\nusername = "{USER}"\n'
        f'folder = "{folder}"\nprocessed_folder = "{processed}"\ntls = "implicit"\n'
    )
    return str(path)


@pytest.fixture
def subscribed(invoke: Invoke, mail_list: MailList) -> None:
    """Alice and Bob on news, sent a letter just now (so that a bounce may name them)."""
    for args in (
        ("lists", "create", "news"),
        ("subscribers", "add", "alice@example.org", "--list", "news"),
        ("subscribers", "add", "bob@example.org", "--list", "news"),
    ):
        assert invoke(*args).exit_code == 0
    mail_list("news")


def _ingest(invoke: Invoke, config: str) -> dict[str, object]:
    result = invoke("--config", config, "bounces", "ingest", "--imap", "--json")
    assert result.exit_code == 0, result.output
    report: dict[str, object] = json.loads(result.output)
    return report


def test_imap_ingest_moves_processed_mail_and_counts_nothing_twice(
    dovecot: Imap, invoke: Invoke, subscribed: None, tmp_path: Path, db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILER_IMAP_PASSWORD", PASSWORD)
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.cert))
    _folders(dovecot, "Moved", "Moved-done")
    _append(dovecot, samples.postfix_dsn_user_unknown("alice@example.org"),
            samples.arf("bob@example.org"), folder="Moved")
    config = _config(tmp_path, dovecot, "Moved", "Moved-done")

    first = _ingest(invoke, config)
    assert (first["messages"], first["events"]) == (2, 2)
    assert (_count(dovecot, "Moved"), _count(dovecot, "Moved-done")) == (0, 2)
    with open_store(db_path) as store:
        alice = find_subscriber(store, "alice@example.org")
        bob = find_subscriber(store, "bob@example.org")
    assert alice is not None and alice.status == "bounced"
    assert bob is not None and bob.status == "complained"

    assert _ingest(invoke, config)["messages"] == 0
    # The same bounce delivered again (a second copy) is recognised by its Message-ID.
    _append(dovecot, samples.postfix_dsn_user_unknown("alice@example.org"), folder="Moved")
    again = _ingest(invoke, config)
    assert (again["messages"], again["duplicates"], again["events"]) == (1, 1, 0)


def test_imap_ingest_without_a_processed_folder_flags_what_it_read(
    dovecot: Imap, invoke: Invoke, subscribed: None, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILER_IMAP_PASSWORD", PASSWORD)
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.cert))
    _folders(dovecot, "Flagged")
    _append(dovecot, samples.exim("bob@example.org"), folder="Flagged")
    config = _config(tmp_path, dovecot, "Flagged")
    assert _ingest(invoke, config)["events"] == 1
    assert _count(dovecot, "Flagged") == 1  # left in place, flagged
    assert _ingest(invoke, config)["messages"] == 0


def test_imap_wrong_password_is_a_one_line_error(
    dovecot: Imap, invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_IMAP_PASSWORD", "wrong")
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.cert))
    result = invoke("--config", _config(tmp_path, dovecot, "INBOX"), "bounces", "ingest", "--imap")
    assert result.exit_code == 1
    assert "IMAP" in result.output and "Traceback" not in result.output


def test_imap_refuses_a_certificate_it_does_not_trust(
    dovecot: Imap, invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_IMAP_PASSWORD", PASSWORD)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-ca.pem"))
    result = invoke("--config", _config(tmp_path, dovecot, "INBOX"), "bounces", "ingest", "--imap")
    assert result.exit_code == 1
    assert "certificate" in result.output.lower()
