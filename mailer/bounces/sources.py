"""Where mail comes from: files, standard input, an mbox, a Maildir, IMAP.

Every source yields ``Incoming`` items: the raw bytes of one message and a
short name for where it came from (stored with each event, so that a person
can find the original later). Bounces and the intake of other mail
(``mailer.inbound``) read through the same sources; the intake keeps more of
each message (``limit``: attachments matter there). Sources only read; marking a message as done
(moving it on the IMAP server) is a separate step the caller takes after the
message's events are committed, so that a crash never loses a bounce.
"""

from __future__ import annotations

import imaplib
import mailbox
import re
import ssl
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from mailer.config import ImapConfig
from mailer.errors import ConfigError, InputError, TransportError

#: No more of one message than this is kept: the parser reads its first two
#: megabytes, and the rest of a huge message is its returned attachments.
MAX_KEPT: Final = 8_000_000


@dataclass(frozen=True)
class Incoming:
    """One message as received, and where it was found."""

    raw: bytes
    source: str
    key: str = ""  # the source's own id for it (IMAP UID), to mark it done
    #: The address it was delivered to, when the mail system says (a pipe's
    #: ``ORIGINAL_RECIPIENT``); the headers are read for it too.
    envelope_to: str = ""
    #: The whole message's size in bytes; ``raw`` may be only its first ``limit``.
    size: int = 0


def message_files(paths: list[Path]) -> list[Path]:
    """The files named, a folder standing for every file in it (sorted, not recursive)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        elif path.exists():
            files.append(path)
        else:
            raise InputError("no such file or folder", path=path)
    return files


def read_file(path: Path, *, limit: int = MAX_KEPT) -> Incoming:
    """One message from one file (its first ``limit`` bytes)."""
    try:
        with path.open("rb") as stream:
            raw = stream.read(limit)
            size = len(raw) + _drain(stream)
            return Incoming(raw=raw, source=f"file:{path}", size=size)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=path) from None


def read_stdin(
    stream: BinaryIO | None = None, *, envelope_to: str = "", limit: int = MAX_KEPT
) -> Incoming:
    """One message from standard input (how an MTA pipes a message in).

    All of it is read, so that the MTA can write it whole, but only its first
    ``limit`` bytes are kept. ``envelope_to`` is the recipient the MTA names
    (Postfix's pipe sets ``ORIGINAL_RECIPIENT``).
    """
    stream = stream or sys.stdin.buffer
    data = stream.read(limit)
    size = len(data) + _drain(stream)
    return Incoming(raw=data, source="stdin", envelope_to=envelope_to, size=size)


def _drain(stream: BinaryIO) -> int:
    """Read the rest of ``stream`` without keeping it; how many bytes there were."""
    count = 0
    while chunk := stream.read(1 << 20):
        count += len(chunk)
    return count


def read_mbox(path: Path) -> Iterator[Incoming]:
    """Every message of an mbox file, in order."""
    if not path.is_file():
        raise InputError("no such mbox file", path=path)
    with path.open("rb") as stream:
        start = stream.read(5)
    if start and start != b"From ":
        # mailbox would read it as an empty mailbox and say nothing.
        raise InputError("not an mbox file (it does not start with a 'From ' line)", path=path)
    box = mailbox.mbox(str(path), create=False)
    try:
        for index, key in enumerate(box.iterkeys(), start=1):
            try:
                raw = box.get_bytes(key)
            except (OSError, KeyError):
                continue
            yield Incoming(raw=raw, source=f"mbox:{path}#{index}", size=len(raw))
    finally:
        box.close()


def read_maildir(path: Path, *, limit: int = MAX_KEPT) -> Iterator[Incoming]:
    """Every message of a Maildir (``new`` and ``cur``), oldest name first.

    Read through the standard library's ``mailbox.Maildir``; a message that
    vanishes while the folder is read (another reader took it) is passed over.
    """
    if not (path / "cur").is_dir() and not (path / "new").is_dir():
        raise InputError("not a Maildir (no cur/ or new/ inside)", path=path)
    box = mailbox.Maildir(str(path), factory=None, create=False)
    for key in sorted(box.iterkeys()):
        try:
            raw = box.get_bytes(key)
        except (OSError, KeyError):
            continue
        yield Incoming(raw=raw[:limit], source=f"maildir:{path}/{key}", size=len(raw))


class ImapSource:
    """A mailbox folder read over IMAP; processed messages are moved or flagged.

    Moving to ``processed_folder`` (when configured) or setting ``\\Seen`` and a
    ``$MailerProcessed`` keyword (otherwise) is what makes a second run skip
    what the first one handled.
    """

    KEYWORD = "$MailerProcessed"

    def __init__(self, config: ImapConfig, *, context: ssl.SSLContext | None = None) -> None:
        if not config.host or not config.username:
            raise ConfigError("[imap] needs host and username to read mail over IMAP")
        if not config.password:
            raise ConfigError("the IMAP password comes from MAILER_IMAP_PASSWORD, which is unset")
        if config.tls not in ("implicit", "starttls"):
            raise ConfigError(f"imap.tls must be implicit or starttls, not {config.tls!r}")
        self.config = config
        self.context = context or ssl.create_default_context()
        self.conn: imaplib.IMAP4 | None = None

    def __enter__(self) -> ImapSource:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        """Log in over TLS and select the folder."""
        cfg = self.config
        try:
            if cfg.tls == "implicit":
                conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    cfg.host, cfg.port, ssl_context=self.context, timeout=30
                )
            else:
                conn = imaplib.IMAP4(cfg.host, cfg.port, timeout=30)
                conn.starttls(ssl_context=self.context)
            conn.login(cfg.username, cfg.password)
            status, _ = conn.select(_quote(cfg.folder))
            if status != "OK":
                raise TransportError(f"IMAP folder {cfg.folder!r} cannot be opened")
        except (OSError, imaplib.IMAP4.error, ssl.SSLError) as exc:
            raise TransportError(f"IMAP {cfg.host}:{cfg.port}: {exc}") from None
        self.conn = conn

    def close(self) -> None:
        """Expunge moved messages and log out."""
        if self.conn is None:
            return
        try:
            if self.config.processed_folder:
                self.conn.expunge()
            self.conn.logout()
        except (OSError, imaplib.IMAP4.error):
            pass
        self.conn = None

    def _require(self) -> imaplib.IMAP4:
        if self.conn is None:
            raise TransportError("IMAP connection is not open")
        return self.conn

    def messages(self) -> Iterator[Incoming]:
        """Every message in the folder not yet processed."""
        conn = self._require()
        criteria = "ALL" if self.config.processed_folder else f"UNKEYWORD {self.KEYWORD}"
        try:
            status, data = conn.uid("SEARCH", criteria)
            if status != "OK":
                raise TransportError(f"IMAP search failed: {data!r}")
            uids = (data[0] or b"").split() if data else []
            for uid in uids:
                key = uid.decode("ascii") if isinstance(uid, bytes) else str(uid)
                status, fetched = conn.uid("FETCH", key, "(BODY.PEEK[])")
                raw = _fetched_bytes(list(fetched)) if status == "OK" else None
                if raw is None:
                    continue
                yield Incoming(
                    raw=raw, source=f"imap:{self.config.folder}/{key}", key=key, size=len(raw)
                )
        except (OSError, imaplib.IMAP4.error) as exc:
            raise TransportError(f"IMAP {self.config.host}: {exc}") from None

    def mark_done(self, key: str) -> None:
        """Move the message to the processed folder, or flag it as processed."""
        conn = self._require()
        try:
            if self.config.processed_folder:
                folder = _quote(self.config.processed_folder)
                status, _ = conn.uid("MOVE", key, folder)
                if status != "OK":
                    conn.uid("COPY", key, folder)
                    conn.uid("STORE", key, "+FLAGS", "(\\Deleted)")
            else:
                conn.uid("STORE", key, "+FLAGS", f"(\\Seen {self.KEYWORD})")
        except (OSError, imaplib.IMAP4.error) as exc:
            raise TransportError(f"IMAP {self.config.host}: {exc}") from None


def _quote(folder: str) -> str:
    return '"' + re.sub(r'(["\\])', r"\\\1", folder) + '"'


def _fetched_bytes(fetched: list[object]) -> bytes | None:
    for item in fetched:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return None
