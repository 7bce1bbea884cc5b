"""SPF (RFC 7208), read far enough to answer what ``mailer doctor`` asks of it.

Two questions: is the domain's record valid as receivers see it (one
``v=spf1`` record, its ``include:`` and ``redirect=`` chain within the limit
of 10 DNS look-ups and 2 that find nothing, RFC 7208 4.6.4), and what does
it say of a relay's address: ``pass``, ``fail``, ``softfail``, ``neutral``,
or ``permerror``.

The whole tree is read once: every ``include:`` and ``redirect=``, and the
addresses of every ``a`` and ``mx`` term, whether or not an evaluation
would reach them, so that the count of look-ups is the most a receiver can
make (what checkers report). An address is then judged against the tree
without more DNS. Terms that depend on the message being checked (macros
such as ``%{i}``, ``exists:``, ``ptr``) are not guessed at: an evaluation
that reaches one answers ``unknown``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from mailer.dns import Resolver

#: RFC 7208 4.6.4: more look-ups than this, or look-ups that find nothing, is permerror.
MAX_LOOKUPS = 10
MAX_VOID_LOOKUPS = 2
_QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_MECHANISMS = {"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class _Term:
    qualifier: str
    mechanism: str
    value: str
    networks: list[Network] = field(default_factory=list)
    child: _Record | None = None
    #: Why this term cannot be judged without the message (a macro, ptr, exists).
    unknowable: str = ""


@dataclass
class _Record:
    domain: str
    text: str
    terms: list[_Term]
    redirect: _Record | None = None


@dataclass
class SpfReport:
    """A domain's SPF record as read: its text, the look-ups it needs, what is wrong with it."""

    domain: str
    text: str = ""
    lookups: int = 0
    void_lookups: int = 0
    errors: list[str] = field(default_factory=list)
    _tree: _Record | None = None

    @property
    def found(self) -> bool:
        """Whether the domain publishes an SPF record."""
        return bool(self.text)

    def result_for(self, address: str) -> str:
        """What the record says of mail sent from ``address``."""
        if not self.found:
            return "none"
        if self.errors or self._tree is None:
            return "permerror"
        return _evaluate(self._tree, ipaddress.ip_address(address))


def read_spf(resolver: Resolver, domain: str) -> SpfReport:
    """Read ``domain``'s SPF record and everything it refers to (``DnsError`` without answer)."""
    report = SpfReport(domain=domain.rstrip(".").lower())
    walker = _Walker(resolver, report)
    report._tree = walker.record(report.domain, depth=0)
    if report._tree is not None:
        report.text = report._tree.text
    if report.lookups > MAX_LOOKUPS:
        report.errors.insert(
            0, f"{report.lookups} DNS look-ups, over the limit of {MAX_LOOKUPS}"
        )
    if report.void_lookups > MAX_VOID_LOOKUPS:
        report.errors.append(
            f"{report.void_lookups} look-ups find nothing, over the limit of {MAX_VOID_LOOKUPS}"
        )
    return report


class _Walker:
    """Reads records and the names their terms refer to, counting look-ups as it goes."""

    def __init__(self, resolver: Resolver, report: SpfReport) -> None:
        self.resolver = resolver
        self.report = report
        self.seen: set[str] = set()

    def record(self, domain: str, depth: int) -> _Record | None:
        texts = [
            t for t in self.resolver.txt(domain)
            if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")
        ]
        if not texts:
            return None
        if len(texts) > 1:
            self.report.errors.append(f"{domain} has {len(texts)} SPF records (one is allowed)")
            return None
        self.seen.add(domain)
        record = _Record(domain, texts[0], [])
        for word in texts[0].split()[1:]:
            self._word(record, word, depth)
        return record

    def _word(self, record: _Record, word: str, depth: int) -> None:
        """One term or modifier of ``record``."""
        name, equals, value = word.partition("=")
        if equals and ":" not in name and name.lower() in ("redirect", "exp"):
            if name.lower() == "redirect":
                record.redirect = self._follow(value, "redirect", depth)
            return
        qualifier = word[0] if word[0] in _QUALIFIERS else "+"
        body = word[1:] if word[0] in _QUALIFIERS else word
        mechanism, _, argument = body.partition(":")
        if "/" in mechanism and mechanism.split("/")[0].lower() in ("a", "mx"):
            mechanism, argument = mechanism.split("/")[0], "/" + mechanism.split("/", 1)[1]
        mechanism = mechanism.lower()
        if mechanism not in _MECHANISMS:
            self.report.errors.append(f"{record.domain}: unknown term {word!r}")
            return
        term = _Term(qualifier, mechanism, argument)
        record.terms.append(term)
        if mechanism == "include":
            term.child = self._follow(argument, "include", depth)
        elif mechanism in ("a", "mx"):
            self._addresses(term, record.domain)
        elif mechanism in ("ip4", "ip6"):
            self._network(term, record.domain)
        elif mechanism in ("ptr", "exists"):
            self.report.lookups += 1
            term.unknowable = f"{mechanism} depends on the message"

    def _follow(self, target: str, kind: str, depth: int) -> _Record | None:
        """The record an ``include:`` or ``redirect=`` names (one look-up)."""
        self.report.lookups += 1
        target = target.rstrip(".").lower()
        if "%" in target or not target:
            return None  # a macro: judged unknowable where it is used
        if target in self.seen:
            self.report.errors.append(f"{kind} {target}: a loop back to a record read before")
            return None
        if depth >= MAX_LOOKUPS or self.report.lookups > MAX_LOOKUPS:
            return None
        child = self.record(target, depth + 1)
        if child is None:
            self.report.errors.append(f"{kind} {target}: no SPF record there")
        return child

    def _addresses(self, term: _Term, domain: str) -> None:
        """The networks of an ``a`` or ``mx`` term: its host's (or hosts') addresses."""
        self.report.lookups += 1
        host, _, prefix = term.value.partition("/")
        if "%" in host:
            term.unknowable = "a macro depends on the message"
            return
        host = (host or domain).rstrip(".")
        hosts = [host] if term.mechanism == "a" else [n for _, n in self.resolver.mx(host)][:10]
        addresses = [a for name in hosts for a in self.resolver.addresses(name)]
        if not hosts or not addresses:
            self.report.void_lookups += 1
        v4, _, v6 = prefix.partition("/")
        for address in addresses:
            bits = v6 if ":" in address else v4
            suffix = f"/{bits}" if bits else ""
            term.networks.append(ipaddress.ip_network(f"{address}{suffix}", strict=False))

    def _network(self, term: _Term, domain: str) -> None:
        try:
            network = ipaddress.ip_network(term.value, strict=False)
        except ValueError:
            self.report.errors.append(f"{domain}: {term.mechanism}:{term.value} is no network")
            return
        if (network.version == 4) != (term.mechanism == "ip4"):
            self.report.errors.append(f"{domain}: {term.mechanism}:{term.value} is no network")
            return
        term.networks.append(network)


def _evaluate(record: _Record, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """RFC 7208 check_host over the read tree: the first term that matches decides."""
    for term in record.terms:
        if term.unknowable:
            return "unknown"
        if term.mechanism == "include":
            if term.child is None:
                return "permerror"
            inner = _evaluate(term.child, address)
            if inner in ("permerror", "unknown"):
                return inner
            if inner != "pass":
                continue
        elif term.mechanism != "all" and not any(address in n for n in term.networks):
            continue
        return _QUALIFIERS[term.qualifier]
    if record.redirect is not None:
        return _evaluate(record.redirect, address)
    return "neutral"
