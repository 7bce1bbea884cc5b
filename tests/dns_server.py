"""A real DNS server for tests: NSD serving zone files the test writes, on a loopback port.

    server = DnsServer(tmp_path / "dns", {"example.org": ['@ TXT "v=spf1 -all"', ...]})
    server.start()          # on 127.0.0.1 and a free port; waits until it answers
    server.nameserver       # "127.0.0.1:PORT", what `mailer doctor --resolver` takes
    server.stop()

Each zone is a list of zone-file lines relative to its origin (an SOA and an
NS record are added); ``txt(value)`` writes a TXT value of any length as
strings of at most 255 octets. The ``dns_server`` fixture in conftest starts
servers like this and stops them after the test; ``serving`` does the same
for a ``with`` block (a fixture of wider scope). Both skip the test, saying
why, when NSD is not installed: it comes from the Debian package ``nsd``,
listed in .ci/apt-packages.

Programs that only ask the system's resolver (``/etc/resolv.conf``, port 53),
such as OpenDKIM's ``opendkim-testmsg``, cannot be pointed at a port: for
them ``run_with_zones`` starts a server on 127.0.0.1:53 inside a network and
mount namespace of their own (``unshare``), with a resolv.conf naming it, so
nothing outside the namespace sees either.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
import pytest

from tests.processes import stop_process

NSD = shutil.which("nsd") or "/usr/sbin/nsd"
NSD_MISSING = "nsd is not installed (Debian package nsd, listed in .ci/apt-packages)"
#: How long a server may take to answer its first query before the test fails.
START_SECONDS = 20.0

Zones = Mapping[str, Sequence[str]]


def nsd_available() -> bool:
    """Whether NSD is installed (Debian's ``nsd`` package)."""
    return Path(NSD).exists()


@contextlib.contextmanager
def serving(folder: Path, zones: Zones) -> Iterator[DnsServer]:
    """A running server for the ``with`` block; the test is skipped when NSD is missing."""
    if not nsd_available():
        pytest.skip(NSD_MISSING)
    server = DnsServer(folder, zones)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def txt(value: str) -> str:
    """A TXT record's data in zone-file form: quoted strings of at most 255 octets."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    parts = [escaped[i : i + 255] for i in range(0, len(escaped), 255)] or [""]
    return "( " + " ".join(f'"{part}"' for part in parts) + " )"


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (DNS answers on both)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port


class DnsServer:
    """NSD in the foreground, serving ``zones`` from files under ``folder``."""

    def __init__(
        self, folder: Path, zones: Zones, *, port: int | None = None, address: str = "127.0.0.1"
    ) -> None:
        self.folder = folder
        self.zones = {origin.rstrip(".").lower(): list(lines) for origin, lines in zones.items()}
        self.address = address
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def nameserver(self) -> str:
        """``HOST:PORT`` of the server."""
        return f"{self.address}:{self.port}"

    def write(self) -> Path:
        """The configuration and zone files; the configuration's path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        config = [
            "server:",
            f"  ip-address: {self.address}@{self.port}",
            "  do-ip6: no",
            '  username: ""',
            '  chroot: ""',
            f'  zonesdir: "{self.folder}"',
            '  database: ""',
            f'  pidfile: "{self.folder}/nsd.pid"',
            f'  xfrdfile: "{self.folder}/xfrd.state"',
            f'  zonelistfile: "{self.folder}/zone.list"',
            f'  xfrdir: "{self.folder}"',
            f'  logfile: "{self.folder}/nsd.log"',
            "  server-count: 1",
            "  verbosity: 1",
            "remote-control:",
            "  control-enable: no",
        ]
        for origin, lines in self.zones.items():
            (self.folder / f"{origin}.zone").write_text(_zone_text(origin, lines))
            config += ["zone:", f"  name: {origin}", f"  zonefile: {origin}.zone"]
        path = self.folder / "nsd.conf"
        path.write_text("\n".join(config) + "\n")
        return path

    def start(self) -> None:
        """Start NSD and wait until it answers for every zone."""
        config = self.write()
        with (self.folder / "nsd.stderr").open("wb") as errors:
            self._process = subprocess.Popen(
                [NSD, "-d", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=errors
            )
        for origin in self.zones:
            self._wait_for(origin)

    def _wait_for(self, origin: str) -> None:
        """Ask for the zone's SOA until the answer comes (each try waits at most 0.2 s)."""
        query = dns.message.make_query(origin + ".", dns.rdatatype.SOA)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"nsd stopped: {self.log()}")
            try:
                answer = dns.query.udp(query, self.address, timeout=0.2, port=self.port)
            except dns.exception.Timeout:
                continue
            except OSError:  # not listening yet: give it a moment, noticing if it exits
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._process.wait(timeout=0.02)
                continue
            if answer.answer:
                return
        raise RuntimeError(f"nsd did not answer for {origin} in {START_SECONDS} s: {self.log()}")

    def log(self) -> str:
        """What NSD wrote to its log and standard error (for a failing test's message)."""
        paths = [self.folder / "nsd.stderr", self.folder / "nsd.log"]
        return " ".join(p.read_text(errors="replace") for p in paths if p.exists())

    def stop(self) -> None:
        """Stop NSD (and wait for it)."""
        if self._process is None:
            return
        stop_process(self._process, 10)
        self._process = None


def _zone_text(origin: str, lines: Sequence[str]) -> str:
    head = [
        f"$ORIGIN {origin}.",
        "$TTL 60",
        f"@ IN SOA ns.{origin}. hostmaster.{origin}. 1 3600 600 86400 60",
        f"@ IN NS ns.{origin}.",
    ]
    if not any(line.split()[0] == "ns" for line in lines if line.split()):
        head.append("ns IN A 127.0.0.1")
    return "\n".join([*head, *lines]) + "\n"


# -- a private network for programs that ask the system's resolver ---------------------------


def _unshare() -> list[str]:
    """The ``unshare`` command that gives a process its own network and mounts."""
    if os.geteuid() == 0:
        return ["unshare", "--net", "--mount"]
    return ["unshare", "--user", "--map-root-user", "--net", "--mount"]


def private_network_problem() -> str | None:
    """Why ``run_with_zones`` cannot work here (None when it can)."""
    if not nsd_available():
        return NSD_MISSING
    if not shutil.which("unshare") or not shutil.which("ip"):
        return "unshare or ip is not installed (util-linux, iproute2)"
    probe = subprocess.run([*_unshare(), "true"], capture_output=True)
    if probe.returncode != 0:
        return f"cannot make a network namespace: {probe.stderr.decode().strip()}"
    return None


def run_with_zones(
    folder: Path, zones: Zones, command: Sequence[str], stdin: bytes
) -> subprocess.CompletedProcess[bytes]:
    """Run ``command`` where the system's resolver asks a DNS server holding ``zones``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zones.json").write_text(json.dumps({k: list(v) for k, v in zones.items()}))
    root = Path(__file__).resolve().parent.parent
    return subprocess.run(
        [*_unshare(), sys.executable, "-m", "tests.dns_server", str(folder), "--", *command],
        input=stdin,
        capture_output=True,
        cwd=root,
        timeout=120,
    )


def _inside(folder: Path, command: Sequence[str]) -> int:
    """In the namespace: loopback up, resolv.conf replaced, NSD on port 53, then the command."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    resolv = folder / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:2 attempts:1\n")
    subprocess.run(["mount", "--bind", str(resolv), "/etc/resolv.conf"], check=True)
    zones = json.loads((folder / "zones.json").read_text())
    server = DnsServer(folder / "nsd", zones, port=53)
    server.start()
    try:
        return subprocess.run(list(command), stdin=sys.stdin.buffer).returncode
    finally:
        server.stop()


if __name__ == "__main__":
    arguments = sys.argv[1:]
    split = arguments.index("--")
    sys.exit(_inside(Path(arguments[0]), arguments[split + 1 :]))
