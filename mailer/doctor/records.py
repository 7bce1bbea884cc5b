"""What DNS publishes for the sending domains: SPF, the DKIM keys, DMARC and alignment.

Each check returns its findings and notes in ``Facts`` what the bulk-sender
rules are judged by. The domains come from the configuration: the envelope
sender is ``[bounces] return_path`` (each message's VERP address is at its
domain), else the From address; the From is ``[sender] from`` (a letter's
own ``from`` is not seen here).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable

from mailer.config import Config
from mailer.dispatch.dkim_keys import (
    DEFAULT_RSA_BITS,
    DkimKey,
    load_keys,
    publishes,
    record_tags,
)
from mailer.dispatch.transports.smtp import is_loopback, relays_of
from mailer.dmarc import aligned, find_policy
from mailer.dns import DnsError, Resolver
from mailer.doctor.findings import Facts, Finding, Status
from mailer.doctor.preflight import envelope_provider
from mailer.doctor.spf import MAX_LOOKUPS, SpfReport, read_spf
from mailer.errors import MailerError
from mailer.letters.sender import sender_of


def from_domain(config: Config) -> str:
    """The domain of ``[sender] from``."""
    return sender_of(None, config)[1].rpartition("@")[2].lower()


def envelope_domain(config: Config) -> str:
    """The domain of the envelope sender: the return path's, else the From's."""
    if config.bounces.return_path:
        return config.bounces.return_path.rpartition("@")[2].lower()
    return from_domain(config)


def dns_failure(check: str, exc: DnsError) -> Finding:
    """A check DNS gave no answer for: it failed, and says which look-up."""
    return Finding(
        check, Status.FAIL, f"could not look up {exc.rtype} {exc.name}: {exc.reason}",
        "check the resolver (or --resolver) and run mailer doctor again",
    )


Check = Callable[[Config, Resolver, Facts], list[Finding]]


def failing_without_dns(check: str) -> Callable[[Check], Check]:
    """A check whose look-ups get no answer fails, in one line saying which look-up."""

    def wrap(function: Check) -> Check:
        @functools.wraps(function)
        def checked(config: Config, resolver: Resolver, facts: Facts) -> list[Finding]:
            try:
                return function(config, resolver, facts)
            except DnsError as exc:
                return [dns_failure(check, exc)]

        return checked

    return wrap


@failing_without_dns("SPF")
def spf_findings(config: Config, resolver: Resolver, facts: Facts) -> list[Finding]:
    """The envelope domain's SPF record, and what it says of each relay."""
    facts.provider = envelope_provider(config)
    if facts.provider:
        return [_provider_spf(config, facts.provider)]
    domain = envelope_domain(config)
    report = read_spf(resolver, domain)
    if not report.found:
        return [Finding(
            "SPF", Status.FAIL, f"{domain} publishes no SPF record (the envelope sender's domain)",
            f"publish a TXT record at {domain} naming your relay, e.g. "
            '"v=spf1 include:<your provider\'s SPF domain> -all"',
        )]
    if report.errors:
        return [Finding(
            "SPF", Status.FAIL, f"{domain}: {report.text!r}: {'; '.join(report.errors)}; "
            "receivers treat it as an error (permerror)",
            f"put the ip4:/ip6: ranges of includes you need in place of them, and drop the "
            f"rest, until at most {MAX_LOOKUPS} look-ups are left"
            if report.lookups > MAX_LOOKUPS else "correct the record",
        )]
    found = Finding(
        "SPF", Status.PASS,
        f"{domain}: {report.text!r} ({report.lookups} of {MAX_LOOKUPS} DNS look-ups)",
    )
    return [found, *_relay_findings(config, resolver, report, facts)]


def _provider_spf(config: Config, provider: str) -> Finding:
    """SPF where a provider's envelope sender carries the letters: the provider's own."""
    domain = from_domain(config)
    return Finding(
        "SPF", Status.UNKNOWN,
        f"the envelope sender is {provider}'s (no [bounces] return_path), so SPF is checked "
        f"against {provider}'s domain, which aligns with {domain} only where {provider} "
        f"sends from a custom MAIL FROM domain under it",
        f"set up a custom MAIL FROM domain under {domain} at {provider} for SPF alignment; "
        "DKIM carries DMARC meanwhile",
    )


def _relay_findings(
    config: Config, resolver: Resolver, report: SpfReport, facts: Facts
) -> list[Finding]:
    """What the SPF record says of each relay's addresses."""
    if not (config.smtp.host or config.smtp.relays):
        return [Finding(
            "SPF relay", Status.UNKNOWN,
            "no relay is set ([smtp] host): letters go to the outbox, so no sending address "
            "can be checked",
        )]
    findings = []
    verdicts: list[bool | None] = []
    for relay in relays_of(config.smtp):
        finding, passes = _relay_finding(relay.host, resolver, report)
        findings.append(finding)
        verdicts.append(passes)
    facts.spf_passes = (
        False if False in verdicts else (True if all(verdicts) else None)
    )
    return findings


def _relay_finding(
    host: str, resolver: Resolver, report: SpfReport
) -> tuple[Finding, bool | None]:
    domain = report.domain
    if is_loopback(host):
        return Finding(
            "SPF relay", Status.UNKNOWN,
            f"the relay {host} is this machine's MTA: SPF of {domain} must name this "
            "machine's public address, which cannot be seen from here",
            f"make sure {domain}'s SPF names the address this server sends from",
        ), None
    try:
        addresses = [host.strip("[]")] if is_address(host) else resolver.addresses(host)
    except DnsError as exc:
        return dns_failure("SPF relay", exc), None
    if not addresses:
        return Finding(
            "SPF relay", Status.FAIL, f"the relay {host} has no address in DNS",
            "check [smtp] host",
        ), False
    results = {address: report.result_for(address) for address in addresses}
    shown = ", ".join(f"{a}: {r}" for a, r in results.items())
    if all(r == "pass" for r in results.values()):
        return Finding("SPF relay", Status.PASS, f"{domain} authorises {host} ({shown})"), True
    if "unknown" in results.values():
        return Finding(
            "SPF relay", Status.UNKNOWN,
            f"{domain}'s SPF depends on the message for {host} ({shown})",
        ), None
    return Finding(
        "SPF relay", Status.FAIL, f"{domain}'s SPF does not authorise the relay {host} ({shown})",
        f"add your provider's SPF (include:...) or ip4:/ip6: of {host} to {domain}'s record",
    ), False


def is_address(host: str) -> bool:
    """Whether a relay's host is an IP address (``[2001:db8::1]`` too) rather than a name."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def dkim_findings(config: Config, resolver: Resolver, facts: Facts) -> list[Finding]:
    """Each configured key's record: published, and holding the key mailer signs with."""
    if not config.dkim.enabled:
        return []
    try:
        keys = load_keys(config)
    except MailerError as exc:
        facts.dkim_passes = False
        return [Finding("DKIM key", Status.FAIL, str(exc), "fix the key setting named")]
    findings = [_key_finding(key, resolver) for key in keys]
    facts.dkim_passes = any(f.status is Status.PASS for f in findings)
    return findings


def _key_finding(key: DkimKey, resolver: Resolver) -> Finding:
    name = key.record_name
    fix = f"publish at {name} the record `mailer dkim record` prints"
    try:
        records = [r for r in resolver.txt(name) if "p=" in r]
    except DnsError as exc:
        return dns_failure("DKIM key", exc)
    if not records:
        return Finding("DKIM key", Status.FAIL, f"no DKIM key record at {name}", fix)
    if len(records) > 1:
        return Finding("DKIM key", Status.FAIL, f"{len(records)} key records at {name}", fix)
    tags = record_tags(records[0])
    if not tags.get("p"):
        return Finding("DKIM key", Status.FAIL, f"the key at {name} is revoked (p= is empty)", fix)
    if not publishes(key, tags):
        return Finding(
            "DKIM key", Status.FAIL,
            f"the record at {name} holds another public key than the one mailer signs with",
            fix + " (or set the key file that belongs to the published record)",
        )
    if "y" in tags.get("t", "").split(":"):
        return Finding(
            "DKIM key", Status.WARN,
            f"{name} holds the key, in test mode (t=y): receivers may ignore the signature",
            f"drop t=y from the record at {name}",
        )
    bits = key.rsa_bits
    if bits and bits < DEFAULT_RSA_BITS:
        return Finding(
            "DKIM key", Status.WARN,
            f"{name} holds the key, an RSA key of {bits} bits: Gmail asks for "
            f"{DEFAULT_RSA_BITS}, and receivers may come to ignore shorter ones",
            f"make a {DEFAULT_RSA_BITS}-bit key under a new selector with `mailer dkim keygen`, "
            "publish it and switch to it",
        )
    return Finding(
        "DKIM key", Status.PASS, f"{name} holds the key mailer signs with ({key.algorithm})"
    )


@failing_without_dns("DMARC")
def dmarc_findings(config: Config, resolver: Resolver, facts: Facts) -> list[Finding]:
    """The From domain's DMARC policy, and whether SPF's and DKIM's domains align with it."""
    domain = from_domain(config)
    policy = find_policy(resolver, domain)
    facts.dmarc, facts.dmarc_looked_up = policy, True
    envelope = "" if facts.provider else envelope_domain(config)
    facts.spf_aligned = bool(envelope) and aligned(
        envelope, domain, strict=bool(policy and policy.strict_spf)
    )
    signer = config.dkim.domain
    facts.dkim_aligned = bool(signer) and aligned(
        signer, domain, strict=bool(policy and policy.strict_dkim)
    )
    if policy is None:
        found = Finding(
            "DMARC", Status.FAIL, f"no DMARC record at _dmarc.{domain} (the From domain)",
            f'publish a TXT record at _dmarc.{domain}: "v=DMARC1; p=none; '
            f'rua=mailto:dmarc-reports@{domain}" to begin with',
        )
    else:
        applied = policy.applies(domain)
        note = (
            ": receivers only report; move to quarantine once the reports show your mail passes"
            if applied == "none" else ""
        )
        found = Finding(
            "DMARC", Status.PASS,
            f"{domain}: {policy.record!r} at _dmarc.{policy.domain}, policy {applied}{note}",
        )
    return [found, *_alignment(domain, envelope, signer, facts)]


def _alignment(domain: str, envelope: str, signer: str, facts: Facts) -> list[Finding]:
    """One line for SPF's domain and one for DKIM's: aligned with From, or not.

    ``envelope`` is "" where a provider's envelope sender carries the letters:
    whether it aligns is the provider's setting, and cannot be seen here.
    """
    policy = facts.dmarc.applies(domain) if facts.dmarc else "none"
    either = facts.spf_aligned or facts.dkim_aligned
    missing = Status.WARN if either or not envelope else Status.FAIL
    consequence = "" if either or not envelope else (
        f": DMARC fails, and with policy {policy} receivers "
        f"{'reject' if policy == 'reject' else 'junk' if policy == 'quarantine' else 'distrust'}"
        " these letters"
    )
    unknown = [] if envelope else [Finding(
        "alignment", Status.UNKNOWN,
        f"the envelope domain is {facts.provider}'s: it aligns with {domain} only with a "
        f"custom MAIL FROM domain set at {facts.provider}",
    )]
    ways = [] if not envelope else [(
        facts.spf_aligned, f"the envelope domain {envelope}",
        f"set [bounces] return_path to an address at {domain} (or a domain under it)",
    )]
    if signer:
        ways.append((
            facts.dkim_aligned, f"the DKIM domain d={signer}",
            f"set [dkim] domain to {domain} (or the domain it is under) with a key there",
        ))
    return unknown + [
        Finding("alignment", Status.PASS, f"{what} aligns with {domain}") if is_aligned
        else Finding(
            "alignment", missing,
            f"{what} does not align with the From domain {domain}{consequence}", fix,
        )
        for is_aligned, what, fix in ways
    ]


@failing_without_dns("forwarded replies")
def forward_findings(config: Config, resolver: Resolver, facts: Facts) -> list[Finding]:
    """Whether the copies of replies pass DMARC at the coordinator's mailbox.

    They come From ``[replies] address``, which may be at another domain than
    the letters' From; DMARC then judges them by that domain's policy, and
    our signature or envelope must align with it as the letters' do with theirs.
    """
    replies = config.replies
    if not (replies.address and replies.forward_to):
        return []
    domain = replies.address.rpartition("@")[2].lower()
    if domain == from_domain(config):
        return []  # the letters' own alignment, above
    policy = find_policy(resolver, domain)
    envelope = "" if envelope_provider(config) else envelope_domain(config)
    signer = config.dkim.domain
    through = [
        what for what, authenticated, strict in (
            (f"the envelope domain {envelope}", envelope, bool(policy and policy.strict_spf)),
            (f"the DKIM domain d={signer}", signer, bool(policy and policy.strict_dkim)),
        )
        if authenticated and aligned(authenticated, domain, strict=strict)
    ]
    if through:
        found = f"copies From {replies.address} align through {' and '.join(through)}"
        return [Finding("forwarded replies", Status.PASS, found)]
    applied = policy.applies(domain) if policy else "none"
    envelope = envelope or "(the provider's)"
    return [Finding(
        "forwarded replies",
        Status.FAIL if applied in ("quarantine", "reject") else Status.WARN,
        f"copies to {replies.forward_to} come From {replies.address}, and neither the "
        f"envelope domain {envelope} nor a DKIM domain aligns with "
        f"{domain} (its DMARC policy: {applied})",
        f"set [replies] address to an address at {from_domain(config)}, or sign with a key "
        f"at {domain} (or the domain it is under)",
    )]
