"""Checking mailer's DKIM signatures with two verifiers that are not mailer's: dkimpy and
OpenDKIM (``opendkim-testmsg``, which finds the public key through DNS, here a real
server holding the key's record: see ``dns_server.run_with_zones``)."""

from __future__ import annotations

import base64
import mailbox
import shutil
from collections.abc import Sequence
from pathlib import Path

import dkim
import pytest

from mailer.dispatch.dkim_keys import DkimKey, generate, write_key
from tests.dns_server import private_network_problem, run_with_zones, txt

OPENDKIM_TESTMSG = shutil.which("opendkim-testmsg") or "/usr/sbin/opendkim-testmsg"
DOMAIN = "example.org"

#: A multipart/mixed message with a base64 attachment, as a letter with a file looks.
ATTACHMENT = base64.encodebytes(bytes(range(256)) * 8).replace(b"\n", b"\r\n")
MIXED = (
    b"From: News <news@example.org>\r\n"
    b"To: member@example.com\r\n"
    b"Subject: The agenda, attached\r\n"
    b"Date: Mon, 30 Nov 2026 10:00:00 +0000\r\n"
    b"Message-ID: <m2.mixed@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="=_b1"\r\n'
    b"\r\n"
    b"--=_b1\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"The agenda is attached.\r\n"
    b"--=_b1\r\n"
    b'Content-Type: application/pdf; name="agenda.pdf"\r\n'
    b'Content-Disposition: attachment; filename="agenda.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n" + ATTACHMENT + b"--=_b1--\r\n"
)


def new_key(algorithm: str, selector: str, domain: str = DOMAIN) -> DkimKey:
    """A fresh key: ``rsa-sha256`` (2048 bits) or ``ed25519-sha256``."""
    return DkimKey(algorithm, domain, selector, generate(algorithm.split("-")[0]))


def key_file(folder: Path, key: DkimKey) -> Path:
    """``key`` written to a new file of mode 0600, as ``mailer dkim keygen`` writes it."""
    path = folder / f"{key.domain}-{key.selector}.key"
    write_key(path, key.private_key)
    return path


def key_records(keys: Sequence[DkimKey]) -> dict[str, list[str]]:
    """Zones publishing each key's TXT record under its selector."""
    zones: dict[str, list[str]] = {}
    for key in keys:
        name = key.record_name.removesuffix("." + key.domain)
        zones.setdefault(key.domain, []).append(f"{name} IN TXT {txt(key.record_value)}")
    return zones


def dkimpy_results(message: bytes, keys: Sequence[DkimKey]) -> list[bool]:
    """dkimpy's verdict on each DKIM-Signature of ``message``, top down."""
    records = {f"{key.record_name}.".encode(): key.record_value.encode() for key in keys}

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return records.get(name)

    verifier = dkim.DKIM(message)
    count = sum(1 for line in message.split(b"\r\n\r\n")[0].split(b"\r\n")
                if line.lower().startswith(b"dkim-signature:"))
    return [_verified(verifier, index, dnsfunc) for index in range(count)]


def _verified(verifier: dkim.DKIM, index: int, dnsfunc: object) -> bool:
    """dkimpy answers False for a bad signature, and raises for a body that does not match."""
    try:
        return bool(verifier.verify(idx=index, dnsfunc=dnsfunc))
    except dkim.ValidationError:
        return False


def opendkim_problem() -> str | None:
    """Why OpenDKIM cannot verify here, or None."""
    if not Path(OPENDKIM_TESTMSG).exists():
        return "opendkim-testmsg is not installed (Debian package opendkim-tools)"
    return private_network_problem()


def opendkim_verdicts(
    folder: Path, messages: Sequence[bytes], keys: Sequence[DkimKey]
) -> list[str]:
    """For each message, ``"pass"`` or what ``opendkim-testmsg`` said was wrong with it.

    One DNS server (and namespace) serves the whole batch: starting one takes a second.
    """
    problem = opendkim_problem()
    if problem is not None:
        pytest.skip(problem)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for number, message in enumerate(messages):
        path = folder / f"message-{number}.eml"
        path.write_bytes(message)
        files.append(str(path))
    script = (
        'for f in "$@"; do if out=$("$0" < "$f" 2>&1); then echo pass; '
        'else echo "${out:-failed}" | tr "\\n" " "; echo; fi; done'
    )
    result = run_with_zones(
        folder / "dns", key_records(keys), ["sh", "-c", script, OPENDKIM_TESTMSG, *files], b""
    )
    verdicts = [line.strip() for line in result.stdout.decode(errors="replace").splitlines()]
    assert len(verdicts) == len(messages), result.stderr.decode(errors="replace")
    return verdicts


def without_signature(message: bytes, index: int) -> bytes:
    """``message`` without its ``index``-th DKIM-Signature field (to verify the others alone)."""
    head, _, body = message.partition(b"\r\n\r\n")
    fields: list[list[bytes]] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)
        else:
            fields.append([line])
    signatures = [i for i, f in enumerate(fields) if f[0].lower().startswith(b"dkim-signature:")]
    del fields[signatures[index]]
    return b"\r\n".join(b"\r\n".join(f) for f in fields) + b"\r\n\r\n" + body


def outbox_messages(path: Path) -> list[bytes]:
    """The messages in a Maildir as written, without the envelope lines the outbox adds."""
    box = mailbox.Maildir(str(path), create=False)
    found = []
    for key in sorted(box.keys()):
        with box.get_file(key) as handle:
            data = handle.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        found.append(data.split(b"\r\n", 2)[2])  # Return-Path, Delivered-To
    return found
