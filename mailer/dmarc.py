"""DMARC (RFC 7489): a domain's published policy, and whether two domains align.

Alignment compares a domain that authenticated (the SPF envelope domain, a
DKIM signature's d=) with the From domain: strictly, the same name;
relaxed (the default), the same organisational domain, which is the
registered name under a public suffix (``lists.example.co.uk`` →
``example.co.uk``). The public suffixes come from the Public Suffix List as
shipped inside the ``publicsuffixlist`` package, read once and never fetched;
a name under a suffix the list does not know counts its last label as the
suffix.

The policy is looked up at ``_dmarc.<domain>``, and when there is none, at
``_dmarc.<organisational domain>``, as receivers do.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from publicsuffixlist import PublicSuffixList

from mailer.dns import Resolver


@functools.cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()


def organizational_domain(domain: str) -> str:
    """The registered domain ``domain`` is under (itself for a public suffix)."""
    name = domain.strip().rstrip(".").lower()
    return str(_suffixes().privatesuffix(name) or name)


def aligned(authenticated: str, from_domain: str, *, strict: bool = False) -> bool:
    """Whether ``authenticated`` aligns with ``from_domain`` (relaxed unless ``strict``)."""
    one, other = authenticated.rstrip(".").lower(), from_domain.rstrip(".").lower()
    if strict:
        return one == other
    return organizational_domain(one) == organizational_domain(other)


@dataclass(frozen=True)
class DmarcPolicy:
    """A published DMARC record, read: where it was found and what it asks for."""

    domain: str
    record: str
    policy: str
    subdomain_policy: str
    strict_dkim: bool
    strict_spf: bool
    percent: int
    reports: str

    def applies(self, from_domain: str) -> str:
        """The policy for mail from ``from_domain`` (``sp=`` when it is a subdomain)."""
        return self.policy if from_domain.lower() == self.domain else self.subdomain_policy


def parse_record(domain: str, text: str) -> DmarcPolicy | None:
    """A DMARC record's tags, or None when ``text`` is not one (``v=DMARC1`` first,
    and a valid ``p=``); unknown tags are ignored, as RFC 7489 asks."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        name, equals, value = part.strip().partition("=")
        if equals:
            tags.setdefault(name.strip().lower(), value.strip())
    if next(iter(tags), "") != "v" or tags["v"] != "DMARC1":  # v=DMARC1 comes first
        return None
    policy = tags.get("p", "").lower()
    if policy not in ("none", "quarantine", "reject"):
        return None
    subdomain = tags.get("sp", "").lower()
    try:
        percent = int(tags.get("pct", "100"))
    except ValueError:
        percent = 100
    return DmarcPolicy(
        domain=domain,
        record=text,
        policy=policy,
        subdomain_policy=subdomain if subdomain in ("none", "quarantine", "reject") else policy,
        strict_dkim=tags.get("adkim", "r").lower() == "s",
        strict_spf=tags.get("aspf", "r").lower() == "s",
        percent=max(0, min(100, percent)),
        reports=tags.get("rua", ""),
    )


def find_policy(resolver: Resolver, domain: str) -> DmarcPolicy | None:
    """The DMARC policy mail from ``domain`` is judged by, or None when none is published.

    Raises ``DnsError`` when DNS gives no answer. Several DMARC records at
    one name are no policy at all (RFC 7489 6.6.3).
    """
    name = domain.rstrip(".").lower()
    for candidate in dict.fromkeys((name, organizational_domain(name))):
        records = [
            text for text in resolver.txt(f"_dmarc.{candidate}")
            if text.replace(" ", "").startswith("v=DMARC1")
        ]
        if len(records) == 1:
            return parse_record(candidate, records[0])
        if records:
            return None
    return None
