"""The receiving mail server's word on a post: its ``Authentication-Results`` (RFC 8601).

The From address of a message proves nothing: anyone can write anyone's. A
post is taken as its sender's only when the mail server that received it
says so: DMARC passed for the From domain, or a DKIM signature passed whose
domain (``d=``) aligns with the From domain (``dmarc.aligned``, relaxed).

Only the server's own headers count: those carrying ``[inbound]
authserv_id`` that stand above the first ``Received`` header, i.e. were
added on arrival. A header of the same name lower down came with the
message, and anyone may have written it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from mailer.dmarc import aligned

#: A comment, at most one level deep: ``(sender IP is 192.0.2.1)``.
_COMMENT = re.compile(r"\((?:[^()\\]|\\.|\([^()]*\))*\)")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_PAIR = re.compile(r"([A-Za-z0-9_.\-/]+)\s*=\s*(\"(?:[^\"\\]|\\.)*\"|[^\s;]+)")


@dataclass(frozen=True)
class Result:
    """One method's result: ``dkim=pass header.d=example.org``."""

    method: str
    result: str
    properties: dict[str, str]


@dataclass(frozen=True)
class Proof:
    """What the trusted results prove about the From domain: ``dmarc``, ``dkim`` or ""
    (nothing), and the result that did it, as the log shows it."""

    how: str
    detail: str = ""


def _strip_comments(value: str) -> str:
    previous = None
    while previous != value:
        previous, value = value, _COMMENT.sub(" ", value)
    return value


def _split(value: str) -> list[str]:
    """The ``;``-separated parts of a header value, quoted strings kept whole."""
    parts, start, position = [], 0, 0
    while position < len(value):
        quoted = _QUOTED.match(value, position)
        if quoted:
            position = quoted.end()
            continue
        if value[position] == ";":
            parts.append(value[start:position])
            start = position + 1
        position += 1
    parts.append(value[start:])
    return [part.strip() for part in parts]


def parse(value: str) -> tuple[str, list[Result]]:
    """The authserv-id of one header and its results (``none`` gives none)."""
    parts = _split(_strip_comments(" ".join(value.split())))
    authserv_id = parts[0].split()[0].lower() if parts[0].split() else ""
    results = []
    for part in parts[1:]:
        pairs = _PAIR.findall(part)
        if not pairs:
            continue
        method, result = pairs[0]
        properties = {key.lower(): raw.strip('"').lower() for key, raw in pairs[1:]}
        results.append(Result(method.split("/")[0].lower(), result.lower(), properties))
    return authserv_id, results


def trusted(headers: Iterable[tuple[str, str]], authserv_id: str) -> list[Result]:
    """The results of the headers our server added: ``authserv_id``'s, above the first
    ``Received`` header; none without an ``authserv_id``."""
    if not authserv_id:
        return []
    found: list[Result] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == "received":
            break
        if lowered != "authentication-results":
            continue
        server, results = parse(str(value))
        if server == authserv_id.lower():
            found += results
    return found


def proof(results: Iterable[Result], from_domain: str) -> Proof:
    """Whether the results prove the From domain: DMARC passed for it, or a DKIM
    signature passed whose domain aligns with it."""
    domain = from_domain.lower().rstrip(".")
    if not domain:
        return Proof("")
    for result in results:
        if result.method != "dmarc" or result.result != "pass":
            continue
        if result.properties.get("header.from", domain) == domain:
            return Proof("dmarc", f"dmarc=pass header.from={domain}")
    for result in results:
        if result.method != "dkim" or result.result != "pass":
            continue
        signer = result.properties.get("header.d") or result.properties.get(
            "header.i", ""
        ).rpartition("@")[2]
        if signer and aligned(signer, domain):
            return Proof("dkim", f"dkim=pass header.d={signer}")
    return Proof("")
