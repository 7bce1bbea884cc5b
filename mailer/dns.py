"""DNS look-ups, all in one place: which resolver to ask, how long to wait, what failed.

``mailer doctor`` reads SPF, DKIM, DMARC and MX records through this module,
and so does anything else in mailer that needs DNS (a poster's DMARC policy,
say). The resolver is the system's (``/etc/resolv.conf``) or one server
named as ``HOST:PORT`` (``--resolver``), so that a check can ask a
particular server, such as a test's own on loopback. Answers are not cached:
a check must see the zone as it is now.

A name without the records asked for (no such name, or no record of that
type) is an empty answer, not an error: most look-ups here ask whether
something is published. What is an error is getting no answer at all: a
time-out (``DnsTimeout``) or a server that fails or refuses
(``DnsFailure``); both carry the name and type asked for.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.name
import dns.resolver
import dns.reversename

from mailer.errors import MailerError, UsageError

#: Seconds to wait for one server's answer, and for a whole look-up (retries included).
TIMEOUT = 2.0
LIFETIME = 5.0


class DnsError(MailerError):
    """A look-up that got no answer; carries the name, the record type and why."""

    def __init__(self, name: str, rtype: str, reason: str) -> None:
        self.name = name
        self.rtype = rtype
        self.reason = reason
        super().__init__(f"DNS {rtype} {name}: {reason}")


class DnsTimeout(DnsError):
    """No server answered in time."""


class DnsFailure(DnsError):
    """A server answered with a failure (SERVFAIL, REFUSED) or nothing could be asked."""


class BadResolver(UsageError):
    """``--resolver`` does not name a server as ``HOST:PORT``."""

    def __init__(self, value: str, reason: str) -> None:
        self.value = value
        super().__init__(f"--resolver {value!r}: {reason} (e.g. 127.0.0.1:5353 or [::1]:53)")


@dataclass(frozen=True)
class Nameserver:
    """One DNS server: an IP address and a port."""

    address: str
    port: int = 53

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


def parse_nameserver(value: str) -> Nameserver:
    """``ADDRESS:PORT``, ``[IPv6]:PORT`` or ``ADDRESS`` (port 53); ``localhost`` is 127.0.0.1.

    An address, not a host name: finding a DNS server's address would need
    DNS, and not the server named.
    """
    text = value.strip()
    host, port = text, "53"
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise BadResolver(value, "expected [ADDRESS]:PORT")
            port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise BadResolver(value, "the port must be a number from 1 to 65535")
    if host.lower() == "localhost":
        host = "127.0.0.1"
    try:
        return Nameserver(str(ipaddress.ip_address(host)), int(port))
    except ValueError:
        raise BadResolver(value, f"{host!r} is not an IP address") from None


class Resolver:
    """Asks the system's resolver, or ``nameserver`` alone, with mailer's time limits.

    Once a look-up has timed out, this resolver stops asking: each later
    look-up raises ``DnsTimeout`` at once, so that a run of checks against a
    server that is down takes one time limit, not one per name. Make a new
    ``Resolver`` to ask again.
    """

    def __init__(
        self,
        nameserver: Nameserver | None = None,
        *,
        timeout: float = TIMEOUT,
        lifetime: float = LIFETIME,
    ) -> None:
        self.nameserver = nameserver
        try:
            resolver = dns.resolver.Resolver(configure=nameserver is None)
        except dns.resolver.NoResolverConfiguration:
            raise DnsFailure(".", "-", "no resolver configured (/etc/resolv.conf)") from None
        if nameserver is not None:
            resolver.nameservers = [nameserver.address]
            resolver.port = nameserver.port
        resolver.timeout = timeout
        resolver.lifetime = lifetime
        resolver.cache = None
        self._resolver = resolver
        self._timed_out = False

    @property
    def name(self) -> str:
        """Which resolver this is, as messages name it."""
        return f"the DNS server {self.nameserver}" if self.nameserver else "the system's resolver"

    def _ask(self, name: str, rtype: str, read: Callable[[Any], Any]) -> list[Any]:
        """The records of ``rtype`` at ``name``, each through ``read``; [] when there are none."""
        if self._timed_out:
            raise DnsTimeout(name, rtype, f"{self.name} did not answer an earlier look-up")
        try:
            answer = self._resolver.resolve(
                dns.name.from_text(name), rtype, search=False, raise_on_no_answer=False
            )
        except dns.resolver.NXDOMAIN:
            return []
        except dns.exception.Timeout:
            self._timed_out = True
            raise DnsTimeout(name, rtype, f"no answer from {self.name} in time") from None
        except dns.resolver.NoNameservers:
            raise DnsFailure(name, rtype, f"{self.name} failed or refused to answer") from None
        except (dns.exception.DNSException, ValueError) as exc:
            raise DnsFailure(name, rtype, str(exc) or type(exc).__name__) from None
        return [read(record) for record in answer]

    def txt(self, name: str) -> list[str]:
        """Each TXT record at ``name``, its strings joined (as SPF, DKIM and DMARC read them)."""
        return self._ask(
            name, "TXT", lambda r: b"".join(r.strings).decode("utf-8", errors="replace")
        )

    def mx(self, name: str) -> list[tuple[int, str]]:
        """The MX records at ``name``: (preference, host without the final dot), best first."""
        found = self._ask(
            name, "MX", lambda r: (int(r.preference), r.exchange.to_text().rstrip("."))
        )
        return sorted(found)

    def addresses(self, name: str) -> list[str]:
        """The IPv4 and IPv6 addresses of ``name`` (A and AAAA records)."""
        return self.ipv4(name) + self.ipv6(name)

    def ipv4(self, name: str) -> list[str]:
        """The A records of ``name``."""
        return self._ask(name, "A", lambda r: r.address)

    def ipv6(self, name: str) -> list[str]:
        """The AAAA records of ``name``."""
        return self._ask(name, "AAAA", lambda r: r.address)

    def ptr(self, address: str) -> list[str]:
        """The names the PTR records of ``address`` give (its reverse DNS), without the dot."""
        try:
            name = dns.reversename.from_address(address).to_text()
        except (dns.exception.SyntaxError, ValueError):
            raise DnsFailure(address, "PTR", "not an IP address") from None
        return self._ask(name, "PTR", lambda r: r.target.to_text().rstrip("."))
