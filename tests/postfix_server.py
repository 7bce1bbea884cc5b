"""A real Postfix (Debian's package) for tests: an instance of its own, on loopback.

    with postfix_instance(folder, port, pipe=script, mailboxes=[...], trusted_domain=...) as mx:
        ...                     # SMTP on 127.0.0.1:port
        mx.wait_for_log("relay=mailer")

The instance has its own configuration, queue and data folders under
``folder`` (``postfix -c``), listens on 127.0.0.1 and ``port`` only, takes
mail for ``lists.example.org`` into the ``mailer`` pipe transport (the
script ``pipe``, run as ``nobody``, the way a list address is piped into
``mailer inbound -``), and delivers mail for ``mailboxes`` to Maildirs
under ``folder/mail/<local part>/``. Its ``Authentication-Results``, as
OpenDMARC would write them, are stood in for by a ``header_checks`` rule
that puts one above Postfix's own ``Received`` header for ``trusted_domain``.
Postfix must start as root; the test is skipped, saying why, when it cannot
run here (it comes from the Debian package ``postfix``, listed in
.ci/apt-packages).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
NOBODY = 65534
#: How long the tests wait for Postfix to take, pipe or deliver a message.
WAIT_SECONDS = 60.0
POLL = 0.2
#: The queues a message waits in between acceptance and delivery.
QUEUES = ("maildrop", "incoming", "active", "deferred", "hold")

_SERVICES = """\
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
virtual   unix  - n n - - virtual
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def why_not() -> str:
    """Why Postfix cannot run here, or ""."""
    if not Path(POSTFIX).exists():
        return "postfix is not installed (Debian package postfix, listed in .ci/apt-packages)"
    if os.geteuid() != 0:
        return "Postfix starts as root only"
    return ""


@dataclass(frozen=True)
class Postfix:
    """A running instance: its folder and port."""

    folder: Path
    port: int

    @property
    def log(self) -> Path:
        return self.folder / "postfix.log"

    def maildir(self, local_part: str) -> Path:
        return self.folder / "mail" / local_part

    def wait_for_log(self, text: str) -> str:
        """The log once it holds ``text`` (AssertionError, with the log, after a while)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            logged = self.log.read_text(errors="replace") if self.log.exists() else ""
            if text in logged:
                return logged
            time.sleep(POLL)
        raise AssertionError(f"{text!r} never appeared in the Postfix log:\n{logged}")

    def queued(self) -> int:
        """How many messages Postfix holds that it has not yet delivered (or bounced)."""
        spool = self.folder / "spool"
        return sum(
            1
            for queue in QUEUES
            if (spool / queue).exists()
            for path in (spool / queue).rglob("*")
            if path.is_file()
        )

    def wait_until_delivered(self) -> None:
        """Return once every message Postfix accepted is delivered: its queue is empty."""
        deadline = time.monotonic() + WAIT_SECONDS
        while self.queued():
            if time.monotonic() > deadline:
                log = self.log.read_text(errors="replace") if self.log.exists() else ""
                raise AssertionError(f"{self.queued()} messages still queued\n{log}")
            time.sleep(POLL / 4)

    def delivered(self) -> dict[str, list[Path]]:
        """The messages in each Maildir (new and cur), by local part."""
        mail = self.folder / "mail"
        return {
            box.name: sorted([*(box / "new").glob("*"), *(box / "cur").glob("*")])
            for box in sorted(mail.iterdir())
            if box.is_dir()
        }

    def taken(self) -> int:
        """How many messages Postfix has taken so far: delivered or still queued.

        A queue file exists from the MAIL command on, so this counts a message
        as soon as its transaction starts, however slowly delivery follows.
        """
        return sum(len(paths) for paths in self.delivered().values()) + self.queued()

    def empty_maildirs(self) -> None:
        """Remove every Maildir, for the next test (the queue must be empty first)."""
        self.wait_until_delivered()
        for box in (self.folder / "mail").iterdir():
            shutil.rmtree(box)

    def wait_for_mail(self, local_part: str, count: int) -> list[bytes]:
        """The messages in a Maildir once it holds ``count`` of them."""
        new = self.maildir(local_part) / "new"
        deadline = time.monotonic() + WAIT_SECONDS
        found: list[Path] = []
        while time.monotonic() < deadline:
            found = sorted(new.iterdir()) if new.exists() else []
            if len(found) >= count:
                return [path.read_bytes() for path in found]
            time.sleep(POLL)
        log = self.log.read_text(errors="replace") if self.log.exists() else ""
        raise AssertionError(f"{local_part}: {len(found)} of {count} messages\n{log}")


def _postfix(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Postfix writes its errors to stderr only on a terminal; ``script`` gives it one.
    command = " ".join([POSTFIX, "-c", str(config), *args])
    return subprocess.run(["script", "-qc", command, "/dev/null"], capture_output=True,
                          text=True, timeout=60, check=False)


def _main_cf(folder: Path, mailboxes: Sequence[str], *, piped: bool) -> str:
    local_domains = sorted({address.partition("@")[2] for address in mailboxes})
    # Without a pipe, lists.example.org is no domain of this instance's at all.
    relay = (
        f"relay_domains = lists.example.org\ntransport_maps = texthash:{folder}/etc/transport\n"
        if piped else "relay_domains =\n"
    )
    return f"""\
compatibility_level = 3.6
queue_directory = {folder}/spool
data_directory = {folder}/data
mail_owner = postfix
myhostname = mx.lists.example.org
mydomain = lists.example.org
myorigin = lists.example.org
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
{relay}virtual_mailbox_domains = {", ".join(local_domains)}
virtual_mailbox_base = {folder}/mail
virtual_mailbox_maps = texthash:{folder}/etc/mailboxes
virtual_uid_maps = static:{NOBODY}
virtual_gid_maps = static:{NOBODY}
header_checks = regexp:{folder}/etc/header_checks
maillog_file_prefixes = {folder}
maillog_file = {folder}/postfix.log
alias_maps =
alias_database =
smtputf8_enable = no
biff = no
"""


@contextlib.contextmanager
def postfix_instance(
    folder: Path,
    port: int,
    *,
    mailboxes: Sequence[str],
    pipe: Path | None = None,
    trusted_domain: str = "",
) -> Iterator[Postfix]:
    """A running instance as the module's docstring describes; stopped afterwards.

    Without ``pipe`` it takes mail for the ``mailboxes`` only (a last hop in front
    of Maildirs); without ``trusted_domain`` it adds no ``Authentication-Results``.
    """
    reason = why_not()
    if reason:
        pytest.skip(reason)
    etc = folder / "etc"
    for name in ("etc", "spool", "data", "mail"):
        (folder / name).mkdir(parents=True)
    shutil.chown(folder / "data", "postfix")
    os.chown(folder / "mail", NOBODY, NOBODY)
    (etc / "main.cf").write_text(_main_cf(folder, mailboxes, piped=pipe is not None))
    piped = (
        "mailer    unix  - n n - - pipe\n"
        f"  flags=Rq user=nobody argv={pipe} ${{original_recipient}}\n"
    ) if pipe is not None else ""
    (etc / "master.cf").write_text(
        f"127.0.0.1:{port} inet n - n - - smtpd\n{_SERVICES}{piped}"
    )
    (etc / "transport").write_text("lists.example.org mailer:\n")
    (etc / "mailboxes").write_text(
        "".join(f"{address} {address.partition('@')[0]}/\n" for address in mailboxes)
    )
    (etc / "header_checks").write_text(
        r"/^Received: from .*[[:space:]]by mx\.lists\.example\.org / PREPEND "
        "Authentication-Results: "
        f"mx.lists.example.org; dkim=pass header.d={trusted_domain}; "
        f"dmarc=pass header.from={trusted_domain}\n"
        if trusted_domain else ""
    )
    started = _postfix(etc, "start")
    if started.returncode != 0:
        pytest.fail(f"Postfix did not start: {started.stdout}{started.stderr}")
    try:
        yield Postfix(folder, port)
    finally:
        _postfix(etc, "stop")
