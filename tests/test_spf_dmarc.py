"""SPF records read and judged as receivers judge them, and DMARC's domains and policies,
against a real DNS server on loopback."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mailer.dmarc import aligned, find_policy, organizational_domain, parse_record
from mailer.dns import Nameserver, Resolver, parse_nameserver
from mailer.doctor.spf import read_spf
from tests.dns_server import DnsServer, Zones, txt

StartDns = Callable[[Zones], DnsServer]


def resolver_for(dns_server: StartDns, zones: Zones) -> Resolver:
    return Resolver(parse_nameserver(dns_server(zones).nameserver))


def spf_zone(**records: str) -> list[str]:
    """TXT records by relative name ("apex" for the zone's own name)."""
    return [f"{'@' if name == 'apex' else name.replace('_', '-')} IN TXT {txt(value)}"
            for name, value in records.items()]


@pytest.fixture
def spf(dns_server: StartDns) -> Resolver:
    zone = [
        *spf_zone(
            apex="v=spf1 ip4:192.0.2.0/25 include:inc.example.org a:web.example.org/30 "
                 "mx/24 ?ip4:192.0.2.200 ~all",
            inc="v=spf1 ip6:2001:db8::/48 -all",
            redir="v=spf1 redirect=example.org",
            loop1="v=spf1 include:loop2.example.org -all",
            loop2="v=spf1 include:loop1.example.org -all",
            macro="v=spf1 exists:%{i}.rbl.example.org -all",
            ptr="v=spf1 ptr -all",
            empty_include="v=spf1 include:nothing.example.org -all",
            voids="v=spf1 a:v1.example.org a:v2.example.org a:v3.example.org -all",
            plain_fail="v=spf1 -all",
        ),
        "two IN TXT " + txt("v=spf1 -all"),
        "two IN TXT " + txt("v=spf1 +all"),
        "web IN A 198.51.100.9",
        "@ IN MX 10 mx.example.org.",
        "mx IN A 203.0.113.77",
    ]
    return resolver_for(dns_server, {"example.org": zone})


@pytest.mark.parametrize(
    ("address", "result"),
    [
        ("192.0.2.1", "pass"),          # ip4:192.0.2.0/25
        ("2001:db8::1", "pass"),        # include: whose record passes it
        ("198.51.100.10", "pass"),      # a:web/30 covers .8 to .11
        ("198.51.100.12", "softfail"),  # just outside it
        ("203.0.113.1", "pass"),        # mx/24
        ("192.0.2.200", "neutral"),     # ?ip4:
        ("2001:db9::1", "softfail"),    # the include fails it: no match, on to ~all
    ],
)
def test_an_address_is_judged_by_the_first_term_that_matches(
    spf: Resolver, address: str, result: str
) -> None:
    report = read_spf(spf, "example.org")
    assert report.errors == []
    assert report.lookups == 3  # include, a, mx
    assert report.result_for(address) == result


def test_redirect_takes_the_other_records_verdict(spf: Resolver) -> None:
    report = read_spf(spf, "redir.example.org")
    assert report.lookups == 4
    assert report.result_for("192.0.2.1") == "pass"
    assert report.result_for("198.51.100.12") == "softfail"


@pytest.mark.parametrize(
    ("domain", "error"),
    [
        ("two.example.org", "two.example.org has 2 SPF records (one is allowed)"),
        ("loop1.example.org", "include loop1.example.org: a loop"),
        ("empty-include.example.org", "include nothing.example.org: no SPF record there"),
        ("voids.example.org", "3 look-ups find nothing, over the limit of 2"),
    ],
)
def test_records_receivers_treat_as_errors(spf: Resolver, domain: str, error: str) -> None:
    report = read_spf(spf, domain)
    assert any(e.startswith(error) for e in report.errors), report.errors
    assert report.result_for("192.0.2.1") == ("none" if not report.found else "permerror")


@pytest.mark.parametrize("domain", ["macro.example.org", "ptr.example.org"])
def test_terms_that_depend_on_the_message_are_not_guessed(spf: Resolver, domain: str) -> None:
    assert read_spf(spf, domain).result_for("192.0.2.1") == "unknown"


def test_no_record_is_none(spf: Resolver) -> None:
    report = read_spf(spf, "web.example.org")
    assert not report.found
    assert report.result_for("192.0.2.1") == "none"
    assert read_spf(spf, "plain-fail.example.org").result_for("192.0.2.1") == "fail"


# -- DMARC ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "organisation"),
    [
        ("lists.example.org", "example.org"),
        ("a.b.lists.example.co.uk", "example.co.uk"),
        ("example.org", "example.org"),
        ("co.uk", "co.uk"),
        ("x.lists.example.test", "example.test"),
        ("Lists.Example.ORG.", "example.org"),
    ],
)
def test_the_organisational_domain_comes_from_the_public_suffix_list(
    domain: str, organisation: str
) -> None:
    assert organizational_domain(domain) == organisation


def test_alignment_relaxed_and_strict() -> None:
    assert aligned("bounces.example.org", "lists.example.org")
    assert not aligned("bounces.example.org", "lists.example.org", strict=True)
    assert aligned("example.co.uk", "news.example.co.uk")
    assert not aligned("other.co.uk", "example.co.uk")


@pytest.mark.parametrize(
    ("text", "policy"),
    [
        ("v=DMARC1; p=reject; sp=none; adkim=s; pct=50", ("reject", "none", True, 50)),
        ("v=DMARC1;p=quarantine", ("quarantine", "quarantine", False, 100)),
        ("v=DMARC1; p=none; unknown=tag", ("none", "none", False, 100)),
    ],
)
def test_a_dmarc_record_is_read(text: str, policy: tuple[str, str, bool, int]) -> None:
    found = parse_record("example.org", text)
    assert found is not None
    assert (found.policy, found.subdomain_policy, found.strict_dkim, found.percent) == policy


@pytest.mark.parametrize("text", ["v=DMARC1", "p=reject; v=DMARC1", "v=DMARC1; p=maybe"])
def test_what_is_no_dmarc_record(text: str) -> None:
    assert parse_record("example.org", text) is None


def test_the_policy_is_found_at_the_domain_or_its_organisation(dns_server: StartDns) -> None:
    resolver = resolver_for(dns_server, {"example.org": [
        "_dmarc IN TXT " + txt("v=DMARC1; p=none; sp=quarantine"),
        "_dmarc.own IN TXT " + txt("v=DMARC1; p=reject"),
        "_dmarc.twice IN TXT " + txt("v=DMARC1; p=reject"),
        "_dmarc.twice IN TXT " + txt("v=DMARC1; p=none"),
    ], "example.net": []})
    own = find_policy(resolver, "own.example.org")
    assert own is not None and (own.domain, own.applies("own.example.org")) == (
        "own.example.org", "reject",
    )
    inherited = find_policy(resolver, "lists.example.org")
    assert inherited is not None and inherited.domain == "example.org"
    assert inherited.applies("lists.example.org") == "quarantine"
    assert find_policy(resolver, "twice.example.org") is None
    assert find_policy(resolver, "example.net") is None


@pytest.mark.parametrize(
    ("text", "server"),
    [("127.0.0.1:5353", Nameserver("127.0.0.1", 5353)), ("[::1]:53", Nameserver("::1", 53)),
     ("localhost", Nameserver("127.0.0.1", 53)), ("192.0.2.1", Nameserver("192.0.2.1", 53))],
)
def test_a_resolver_is_an_address_and_a_port(text: str, server: Nameserver) -> None:
    assert parse_nameserver(text) == server
