"""Whether what comes back can reach mailer: the mail domains, and the web side.

Bounces, requests to leave, replies (with a ``[replies] address``) and posts
to a list's address (with an ``[inbound] domain`` of their own) arrive by
mail, so their domains must receive mail: an MX record, or an address record
that senders fall back to (RFC 5321 5.1). The unsubscribe link points at
``web.base_url``, which must answer.
"""

from __future__ import annotations

import urllib.error
import urllib.request

from mailer.config import Config
from mailer.dns import DnsError, Resolver
from mailer.doctor.findings import Facts, Finding, Status
from mailer.doctor.preflight import envelope_provider
from mailer.doctor.records import dns_failure
from mailer.letters.sender import sender_of, web_base_url
from mailer.tokens import unsubscribe_mailbox

#: Seconds ``/healthz`` has to answer.
HEALTH_TIMEOUT = 5.0


def mail_domains(config: Config) -> list[tuple[str, str]]:
    """(what comes there, domain) for each address mail comes back to."""
    sender = sender_of(None, config)[1]
    found = [
        ("requests to leave", unsubscribe_mailbox(config, sender.rpartition("@")[2])),
    ]
    if not envelope_provider(config):  # a provider reports bounces to /hooks/ instead
        found.insert(0, ("bounces", config.bounces.return_path or sender))
    if config.replies.address:
        found.append(("replies", config.replies.address))
    domains = [(what, address.rpartition("@")[2].lower()) for what, address in found]
    if config.inbound.domain:
        # Posts to `<list>@<domain>`; without a domain of their own they come to the
        # From domain, which need not receive mail when nobody writes to a list.
        domains.append(("posts to lists", config.inbound.domain.lower()))
    return domains


def mail_findings(config: Config, resolver: Resolver) -> list[Finding]:
    """A line for each address mail comes back to: does its domain receive mail?"""
    return [_receives(what, domain, resolver) for what, domain in mail_domains(config)]


def _receives(what: str, domain: str, resolver: Resolver) -> Finding:
    check = f"mail for {what}"
    fix = f"publish an MX record for {domain} naming the server that pipes mail into mailer"
    try:
        exchanges = resolver.mx(domain)
        if exchanges == [(0, "")]:
            return Finding(check, Status.FAIL, f"{domain} refuses all mail (a null MX)", fix)
        for _, host in exchanges:
            if resolver.addresses(host):
                return Finding(check, Status.PASS, f"{domain} receives mail (MX {host})")
        if exchanges:
            hosts = ", ".join(host for _, host in exchanges)
            return Finding(check, Status.FAIL, f"{domain}'s MX ({hosts}) has no address", fix)
        if resolver.addresses(domain):
            return Finding(
                check, Status.PASS,
                f"{domain} receives mail at its own address (no MX record)",
            )
    except DnsError as exc:
        return dns_failure(check, exc)
    return Finding(check, Status.FAIL, f"{domain} has neither an MX nor an address record", fix)


def web_findings(config: Config, facts: Facts) -> list[Finding]:
    """Whether ``web.base_url`` answers ``/healthz`` (the unsubscribe link's server)."""
    base = web_base_url(config)
    facts.https = base.startswith("https://")
    url = f"{base}/healthz"
    # No proxy from the environment: the question is whether the address itself answers.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=HEALTH_TIMEOUT) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return [Finding(
            "web", Status.FAIL, f"{url} does not answer: {reason}",
            "start `mailer serve` and the proxy in front of it (deployment.md)",
        )]
    if status != 200:
        return [Finding(
            "web", Status.FAIL, f"{url} answers {status}, not 200",
            "point the proxy at `mailer serve` (deployment.md)",
        )]
    facts.answers = True
    return [Finding("web", Status.PASS, f"{url} answers")]
