"""A real IMAP server for tests: Dovecot started on loopback, with one mailbox.

Dovecot comes from Debian (``.ci/apt-packages`` lists it for CI); where the
binary is absent a test that needs it is skipped and says so. The server gets
a throwaway configuration, a self-signed certificate and one mailbox, all in
a temporary folder; the certificate is trusted through ``SSL_CERT_FILE``, the
way a user would trust a private CA. ``conftest`` offers it as the module-wide
``dovecot`` fixture; test modules that use it add ``NEEDS_DOVECOT`` to their
``pytestmark``.
"""

from __future__ import annotations

import imaplib
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DOVECOT = shutil.which("dovecot") or (
    "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
)
OPENSSL = shutil.which("openssl")
NEEDS_DOVECOT = [
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


def run_dovecot(root: Path) -> Iterator[Imap]:
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


def append(imap: Imap, *messages: bytes, folder: str = "INBOX") -> None:
    conn = imap.client()
    try:
        for raw in messages:
            status, _ = conn.append(folder, None, None, raw)
            assert status == "OK"
    finally:
        conn.logout()


def count(imap: Imap, folder: str) -> int:
    conn = imap.client()
    try:
        status, data = conn.select(folder, readonly=True)
        assert status == "OK", data
        return int(data[0] or 0)
    finally:
        conn.logout()


def folders(imap: Imap, *names: str) -> None:
    """Fresh folders for one test (the server is shared by the module's tests)."""
    conn = imap.client()
    try:
        for name in names:
            assert conn.create(name)[0] == "OK"
    finally:
        conn.logout()


def config_text(imap: Imap, folder: str, processed: str = "") -> str:
    """The ``[imap]`` section of a mailer.toml that reads ``folder`` of this server."""
    return (
        "[imap]\n"
        f'host = "127.0.0.1"\nport = {imap.port}\nusername = "{USER}"\n'
        f'folder = "{folder}"\nprocessed_folder = "{processed}"\ntls = "implicit"\n'
    )
