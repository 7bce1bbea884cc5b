"""Forward and reverse DNS of the addresses the letters leave from.

Gmail asks it of every sender: a receiving server looks up the PTR record of
the connecting address, then the addresses of the name it gives, and the two
must agree (forward-confirmed reverse DNS). Where the relay delivers the
letters itself, its addresses are the ones seen; a provider's submission
server hands them to servers of its own, whose records the provider keeps, so
a missing record here is a warning, not a failure.
"""

from __future__ import annotations

import ipaddress

from mailer.config import Config
from mailer.dispatch.transports.smtp import is_loopback, relays_of
from mailer.dns import Resolver
from mailer.doctor.findings import Facts, Finding, Status
from mailer.doctor.preflight import envelope_provider
from mailer.doctor.records import failing_without_dns, is_address

CHECK = "reverse DNS"


@failing_without_dns(CHECK)
def reverse_findings(config: Config, resolver: Resolver, facts: Facts) -> list[Finding]:
    """A line per relay: each of its addresses named by a PTR record that resolves back."""
    if not (config.smtp.host or config.smtp.relays):
        return []
    provider = envelope_provider(config)
    if provider:
        return [Finding(
            CHECK, Status.UNKNOWN,
            f"{provider} delivers the letters from addresses of its own, whose reverse DNS "
            "it keeps",
        )]
    findings = [_relay_reverse(relay.host, resolver) for relay in relays_of(config.smtp)]
    statuses = {finding.status for finding in findings}
    facts.reverse_dns = (
        False if Status.WARN in statuses else True if statuses == {Status.PASS} else None
    )
    return findings


def _relay_reverse(host: str, resolver: Resolver) -> Finding:
    if is_loopback(host):
        return Finding(
            CHECK, Status.UNKNOWN,
            f"the relay {host} is this machine's MTA: the public address it sends from, "
            "and that address's PTR record, cannot be seen from here",
            "make sure this server's public address has a PTR record naming a host that "
            "resolves back to it (the hosting provider sets it)",
        )
    addresses = [host.strip("[]")] if is_address(host) else resolver.addresses(host)
    if not addresses:
        return Finding(CHECK, Status.UNKNOWN, f"the relay {host} has no address in DNS")
    confirmed, missing = [], []
    for address in addresses:
        names = resolver.ptr(address)
        name = next((n for n in names if _resolves_to(resolver, n, address)), None)
        if name:
            confirmed.append(f"{address} → {name}")
        elif names:
            missing.append(f"{address}: its PTR record {names[0]} does not resolve back to it")
        else:
            missing.append(f"{address}: no PTR record")
    if missing:
        return Finding(
            CHECK, Status.WARN, f"the relay {host}: {'; '.join(missing)}",
            f"if {host} delivers the letters itself, have its provider set a PTR record "
            "for each of its addresses naming a host that resolves back to it",
        )
    return Finding(CHECK, Status.PASS, f"the relay {host}: {', '.join(confirmed)}")


def _resolves_to(resolver: Resolver, name: str, address: str) -> bool:
    """Whether ``name``'s addresses include ``address`` (written either way for IPv6)."""
    wanted = ipaddress.ip_address(address)
    return any(ipaddress.ip_address(found) == wanted for found in resolver.addresses(name))
