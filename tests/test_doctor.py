"""``mailer doctor`` against a real DNS server on loopback, and a real ``mailer serve``.

One NSD serves a zone per setup: ``good.example`` has everything right, and
each of the others one thing wrong (no SPF, SPF over 10 look-ups, another
DKIM key published, DMARC p=reject with nothing aligned, no MX). The relay
``smtp.provider.example`` is authorised by ``provider.example``'s SPF.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.name
import dns.reversename
import pytest
from click.testing import CliRunner, Result

from mailer.cli import cli
from mailer.dispatch.dkim_keys import DkimKey, generate
from mailer.dns import DnsTimeout, Nameserver, Resolver, parse_nameserver
from tests.dkim_helpers import key_file, new_key
from tests.dns_server import DnsServer, free_port, serving, txt
from tests.web_helpers import Server, start_server

RSA = new_key("rsa-sha256", "s2026", domain="good.example")
ED25519 = new_key("ed25519-sha256", "e2026", domain="good.example")
OTHER = new_key("rsa-sha256", "s2026", domain="wrongkey.example")
ESP = new_key("rsa-sha256", "s2026", domain="esp.example")
SHORT = DkimKey("rsa-sha256", "shortkey.example", "s2026", generate("rsa", bits=1024))

PROVIDER = [
    f"_spf IN TXT {txt('v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all')}",
    "smtp IN A 192.0.2.10",
    "smtp IN AAAA 2001:db8::10",
    "elsewhere IN A 198.51.100.7",
    "mx IN A 192.0.2.25",
    *(f"i{n} IN TXT {txt(f'v=spf1 ip4:203.0.113.{n} -all')}" for n in range(1, 12)),
]


def _domain(spf: str | None, *, key: str = "", dmarc: str = "v=DMARC1; p=quarantine",
            mx: bool = True) -> list[str]:
    lines = [f"@ IN TXT {txt(spf)}"] if spf else []
    if mx:
        lines.append("@ IN MX 10 mx.provider.example.")
    if key:
        lines.append(key)
    if dmarc:
        lines.append(f"_dmarc IN TXT {txt(dmarc)}")
    return lines


def _key(key: Any) -> str:
    return f"{key.selector}._domainkey IN TXT {txt(key.record_value)}"


def _reverse(address: str, origin: str, name: str) -> str:
    """A PTR line of the reverse zone ``origin``: ``address`` names ``name``."""
    full = dns.reversename.from_address(address)
    return f"{full.relativize(dns.name.from_text(origin)).to_text()} IN PTR {name}."


SPF = "v=spf1 include:_spf.provider.example ~all"
TOO_MANY = "v=spf1 " + " ".join(f"include:i{n}.provider.example" for n in range(1, 12)) + " -all"
ZONES = {
    "provider.example": PROVIDER,
    # The relay's addresses name it back; elsewhere's names a host that is not it.
    "2.0.192.in-addr.arpa": [_reverse("192.0.2.10", "2.0.192.in-addr.arpa",
                                      "smtp.provider.example")],
    "8.b.d.0.1.0.0.2.ip6.arpa": [_reverse("2001:db8::10", "8.b.d.0.1.0.0.2.ip6.arpa",
                                          "smtp.provider.example")],
    "100.51.198.in-addr.arpa": [_reverse("198.51.100.7", "100.51.198.in-addr.arpa",
                                         "smtp.provider.example")],
    "good.example": [*_domain(SPF, key=_key(RSA)), _key(ED25519),
                     "in IN MX 10 mx.provider.example."],
    "nospf.example": _domain(None),
    "toomany.example": _domain(TOO_MANY),
    "wrongkey.example": _domain(SPF, key=_key(new_key("rsa-sha256", "s2026"))),
    "unaligned.example": _domain(SPF, dmarc="v=DMARC1; p=reject"),
    "esp.example": [*_domain(SPF, dmarc=""), "bounce IN TXT " + txt(SPF),
                    "bounce IN MX 10 mx.provider.example.", _key(ESP)],
    "nomx.example": _domain(SPF, mx=False),
    "shortkey.example": _domain(SPF, key=_key(SHORT)),
    "orgdmarc.example": [*_domain(None, dmarc="v=DMARC1; p=none; sp=reject"),
                         f"lists IN TXT {txt(SPF)}", "lists IN MX 10 mx.provider.example."],
}


@pytest.fixture(scope="module")
def dns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsServer]:
    with serving(tmp_path_factory.mktemp("dns"), ZONES) as server:
        yield server


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``mailer serve`` on a loopback port: the unsubscribe server the letters point at."""
    folder = tmp_path_factory.mktemp("serve")
    db = folder / "mailer.db"
    assert CliRunner().invoke(cli, ["--db", str(db), "init"]).exit_code == 0
    server = start_server(folder, db)
    yield server
    server.stop()


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "keys"
    folder.mkdir()
    return {name: key_file(folder, key) for name, key in
            (("good", RSA), ("ed", ED25519), ("other", OTHER), ("esp", ESP),
                              ("short", SHORT))}


def setup(domain: str, keys: dict[str, Path], base_url: str, **more: str) -> dict[str, str]:
    """The settings of a list at ``domain`` sending through smtp.provider.example."""
    return {
        "MAILER_SENDER_FROM_ADDRESS": f"News <news@{domain}>",
        "MAILER_BOUNCES_RETURN_PATH": f"bounces@{domain}",
        "MAILER_BOUNCES_UNSUBSCRIBE_ADDRESS": f"unsubscribe@{domain}",
        "MAILER_SMTP_HOST": "smtp.provider.example",
        "MAILER_DKIM_DOMAIN": domain,
        "MAILER_DKIM_SELECTOR": "s2026",
        "MAILER_DKIM_KEY_FILE": str(keys["good"]),
        "MAILER_WEB_BASE_URL": base_url,
        **more,
    }


def doctor(tmp_path: Path, dns: DnsServer, env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["--db", str(tmp_path / "none.db"), "doctor", "--resolver", dns.nameserver, *args],
        env=env,
    )


def lines(result: Result, status: str, check: str) -> list[str]:
    return [line for line in result.output.splitlines()
            if line.startswith(f"{status} ") and f" {check}: " in line]


def test_a_good_setup_passes(
    tmp_path: Path, dns: DnsServer, serve: Server, keys: dict[str, Path]
) -> None:
    env = setup("good.example", keys, serve.base, MAILER_DKIM_SELECTOR_ED25519="e2026",
                MAILER_DKIM_KEY_FILE_ED25519=str(keys["ed"]),
                MAILER_REPLIES_ADDRESS="replies@good.example")
    result = doctor(tmp_path, dns, env)
    assert result.exit_code == 0, result.output
    assert not any(line.startswith("fail") for line in result.output.splitlines())
    assert lines(result, "pass", "SPF")[0].endswith("(1 of 10 DNS look-ups)")
    [relay] = lines(result, "pass", "SPF relay")
    assert "192.0.2.10: pass" in relay and "2001:db8::10: pass" in relay
    assert len(lines(result, "pass", "DKIM key")) == 2
    assert lines(result, "pass", "reverse DNS") == [
        "pass         reverse DNS: the relay smtp.provider.example: "
        "192.0.2.10 → smtp.provider.example, 2001:db8::10 → smtp.provider.example"]
    assert "policy quarantine" in lines(result, "pass", "DMARC")[0]
    assert len(lines(result, "pass", "alignment")) == 2
    assert len(lines(result, "pass", "mail for bounces")) == 1
    assert len(lines(result, "pass", "mail for requests to leave")) == 1
    assert len(lines(result, "pass", "mail for replies")) == 1
    assert not lines(result, "pass", "mail for posts to lists")  # no posting domain of its own
    assert lines(result, "pass", "web") == [f"pass         web: {serve.base}/healthz answers"]
    # The test's server is plain HTTP on loopback: a warning, not a failure.
    assert "not HTTPS" in lines(result, "warn", "web.base_url")[0]
    rules = result.output.split("bulk-sender rules:")[1]
    assert "pass         SPF or DKIM passes, aligned with the From domain: SPF and DKIM" in rules
    assert "warn         one-click unsubscribe over HTTPS (RFC 8058)" in rules
    assert "pass         forward and reverse DNS of the sending addresses" in rules


def test_json_gives_the_same_lines_as_data(
    tmp_path: Path, dns: DnsServer, serve: Server, keys: dict[str, Path]
) -> None:
    text = doctor(tmp_path, dns, setup("good.example", keys, serve.base))
    data = json.loads(doctor(tmp_path, dns, setup("good.example", keys, serve.base),
                             "--json").output)
    assert data["ok"] is True
    shown = [line.split(":", 1)[0].split(None, 1) for line in text.output.splitlines()
             if line[:1].isalpha() and not line.startswith("Gmail")]
    checks = [[c["status"], c["check"]] for c in data["checks"]]
    assert [s for s in shown if s[1] in {c[1] for c in checks}][: len(checks)] == checks
    assert {rule["status"] for rule in data["rules"]} <= {"pass", "warn", "cannot know"}


@pytest.mark.parametrize(
    ("domain", "check", "found", "fix"),
    [
        ("nospf.example", "SPF", "nospf.example publishes no SPF record",
         "fix: publish a TXT record at nospf.example"),
        ("toomany.example", "SPF", "11 DNS look-ups, over the limit of 10",
         "at most 10 look-ups are left"),
        ("wrongkey.example", "DKIM key",
         "s2026._domainkey.wrongkey.example holds another public key",
         "the record `mailer dkim record` prints"),
        ("nomx.example", "mail for bounces",
         "nomx.example has neither an MX nor an address record",
         "fix: publish an MX record for nomx.example"),
    ],
)
def test_a_broken_zone_fails_the_check_it_breaks(
    tmp_path: Path, dns: DnsServer, serve: Server, keys: dict[str, Path],
    domain: str, check: str, found: str, fix: str,
) -> None:
    result = doctor(tmp_path, dns, setup(domain, keys, serve.base))
    assert result.exit_code == 1
    [line] = lines(result, "fail", check)
    assert found in line
    assert fix in result.output
    assert "failed (see the fixes above)" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("setting", "check"),
    [("MAILER_REPLIES_ADDRESS", "mail for replies"),
     ("MAILER_INBOUND_DOMAIN", "mail for posts to lists")],
)
def test_replies_and_posts_need_a_domain_that_receives_mail(
    tmp_path: Path, dns: DnsServer, serve: Server, keys: dict[str, Path], setting: str,
    check: str,
) -> None:
    value = "replies@nomx.example" if setting == "MAILER_REPLIES_ADDRESS" else "nomx.example"
    result = doctor(tmp_path, dns, setup("good.example", keys, serve.base, **{setting: value}))
    assert result.exit_code == 1
    [line] = lines(result, "fail", check)
    assert "nomx.example has neither an MX nor an address record" in line
    assert lines(result, "pass", "mail for bounces")


@pytest.mark.parametrize(
    ("address", "status", "found"),
    [
        ("replies@in.good.example", "pass",
         "align through the envelope domain good.example and the DKIM domain d=good.example"),
        ("replies@unaligned.example", "fail",
         "nor a DKIM domain aligns with unaligned.example (its DMARC policy: reject)"),
        ("replies@esp.example", "warn",
         "nor a DKIM domain aligns with esp.example (its DMARC policy: none)"),
    ],
)
def test_forwarded_replies_must_align_with_the_replies_domain(
    tmp_path: Path, dns: DnsServer, serve: Server, keys: dict[str, Path],
    address: str, status: str, found: str,
) -> None:
    """The copy to the coordinator comes From the replies address: its domain's DMARC
    judges it."""
    env = setup("good.example", keys, serve.base, MAILER_REPLIES_ADDRESS=address,
                MAILER_REPLIES_FORWARD_TO="coord@union.example")
    result = doctor(tmp_path, dns, env)
    [line] = lines(result, status, "forwarded replies")
    assert found in line
    assert (result.exit_code == 1) == (status == "fail")
    not_forwarded = doctor(tmp_path, dns, {**env, "MAILER_REPLIES_FORWARD_TO": ""})
    assert "forwarded replies" not in not_forwarded.output


def test_with_a_providers_reports_spf_is_the_providers_and_dkim_carries_dmarc(
    tmp_path: Path, dns: DnsServer, serve: Server, keys: dict[str, Path]
) -> None:
    """No return path of ours and Postmark's reports taken: Postmark's envelope sender
    carries the letters, bounces come to /hooks/, and alignment rests on our signature."""
    env = setup("good.example", keys, serve.base, MAILER_BOUNCES_RETURN_PATH="",
                MAILER_WEBHOOKS_POSTMARK_PASSWORD="hook-secret")
    result = doctor(tmp_path, dns, env)
    assert result.exit_code == 0, result.output
    [returns] = lines(result, "pass", "return path")
    assert "Postmark sends under its own envelope sender" in returns
    [spf] = lines(result, "cannot know", "SPF")
    assert "checked against Postmark's domain" in spf and not lines(result, "pass", "SPF relay")
    assert "custom MAIL FROM domain set at Postmark" in lines(result, "cannot know", "alignment")[0]
    assert lines(result, "pass", "alignment") == [
        "pass         alignment: the DKIM domain d=good.example aligns with good.example"]
    assert "mail for bounces" not in result.output  # they come as Postmark's reports
    [reverse] = lines(result, "cannot know", "reverse DNS")
    assert "Postmark delivers the letters from addresses of its own" in reverse
    assert lines(result, "pass", "mail for requests to leave")
    rules = result.output.split("bulk-sender rules:")[1]
    assert "pass         SPF or DKIM passes, aligned with the From domain: DKIM" in rules
    unsigned = doctor(tmp_path, dns, {**env, "MAILER_DKIM_DOMAIN": "", "MAILER_DKIM_SELECTOR": "",
                                      "MAILER_DKIM_KEY_FILE": ""})
    rules = unsigned.output.split("bulk-sender rules:")[1]
    assert "cannot know  SPF or DKIM passes, aligned with the From domain: whether Postmark" \
        in rules
    assert unsigned.exit_code == 0, unsigned.output


def test_a_short_rsa_key_is_a_warning(
    tmp_path: Path, dns: DnsServer, serve: Server, keys: dict[str, Path]
) -> None:
    env = setup("shortkey.example", keys, serve.base, MAILER_DKIM_KEY_FILE=str(keys["short"]))
    result = doctor(tmp_path, dns, env)
    assert result.exit_code == 0, result.output
    [line] = lines(result, "warn", "DKIM key")
    assert "an RSA key of 1024 bits: Gmail asks for 2048" in line
    assert "make a 2048-bit key under a new selector" in result.output


def test_dmarc_reject_with_nothing_aligned_fails(
    tmp_path: Path, dns: DnsServer, serve: Server, keys: dict[str, Path]
) -> None:
    env = setup("unaligned.example", keys, serve.base,
                MAILER_BOUNCES_RETURN_PATH="bounces@bounce.esp.example",
                MAILER_DKIM_DOMAIN="esp.example", MAILER_DKIM_KEY_FILE=str(keys["esp"]))
    result = doctor(tmp_path, dns, env)
    assert result.exit_code == 1
    assert "policy reject" in lines(result, "pass", "DMARC")[0]
    assert lines(result, "pass", "SPF relay") and lines(result, "pass", "DKIM key")
    failed = lines(result, "fail", "alignment")
    assert len(failed) == 2
    assert all("with policy reject receivers reject these letters" in line for line in failed)
    assert "fail         SPF or DKIM passes, aligned with the From domain" in result.output


def test_dmarc_of_the_organisational_domain_applies_to_a_subdomain(
    tmp_path: Path, dns: DnsServer, serve: Server, keys: dict[str, Path]
) -> None:
    env = setup("lists.orgdmarc.example", keys, serve.base)
    result = doctor(tmp_path, dns, env, "--json")
    dmarc = [c for c in json.loads(result.stdout)["checks"] if c["check"] == "DMARC"]
    assert dmarc[0]["status"] == "pass"
    assert "at _dmarc.orgdmarc.example, policy reject" in dmarc[0]["found"]


def test_a_relay_spf_does_not_name_fails(
    tmp_path: Path, dns: DnsServer, serve: Server, keys: dict[str, Path]
) -> None:
    env = setup("good.example", keys, serve.base, MAILER_SMTP_HOST="elsewhere.provider.example")
    result = doctor(tmp_path, dns, env)
    assert result.exit_code == 1
    [line] = lines(result, "fail", "SPF relay")
    assert "does not authorise the relay elsewhere.provider.example" in line
    assert "(198.51.100.7: softfail)" in line
    # Its address's PTR record names smtp.provider.example, which is not at that address.
    [reverse] = lines(result, "warn", "reverse DNS")
    assert "198.51.100.7: its PTR record smtp.provider.example does not resolve back" in reverse
    assert "warn         forward and reverse DNS of the sending addresses" in result.output


def test_a_loopback_relay_cannot_be_checked_and_says_why(
    tmp_path: Path, dns: DnsServer, serve: Server, keys: dict[str, Path]
) -> None:
    env = setup("good.example", keys, serve.base, MAILER_SMTP_HOST="127.0.0.1",
                MAILER_SMTP_TLS="none")
    result = doctor(tmp_path, dns, env)
    assert result.exit_code == 0, result.output
    [line] = lines(result, "cannot know", "SPF relay")
    assert "this machine's MTA" in line and "public address" in line
    assert "cannot know  TLS for the mail: the local MTA delivers" in result.output
    [reverse] = lines(result, "cannot know", "reverse DNS")
    assert "the public address it sends from, and that address's PTR record" in reverse


def test_without_dkim_mailer_warns_and_spf_alone_can_carry_dmarc(
    tmp_path: Path, dns: DnsServer, serve: Server, keys: dict[str, Path]
) -> None:
    env = {k: v for k, v in setup("good.example", keys, serve.base).items() if "DKIM" not in k}
    result = doctor(tmp_path, dns, env)
    assert result.exit_code == 0, result.output
    assert lines(result, "warn", "DKIM")
    assert "SPF or DKIM passes, aligned with the From domain: SPF (see above)" in result.output


def test_a_server_that_does_not_answer_fails_the_web_check(
    tmp_path: Path, dns: DnsServer, keys: dict[str, Path]
) -> None:
    result = doctor(tmp_path, dns, setup("good.example", keys, f"http://127.0.0.1:{free_port()}"))
    assert result.exit_code == 1
    [line] = lines(result, "fail", "web")
    assert "/healthz does not answer" in line


def test_dns_that_refuses_to_answer_fails_each_check_in_one_line(
    tmp_path: Path, serve: Server, keys: dict[str, Path]
) -> None:
    """A server that holds other zones (not a resolver) refuses the questions."""
    with serving(tmp_path / "other-dns", {"elsewhere.example": []}) as other:
        result = doctor(tmp_path, other, setup("good.example", keys, serve.base))
    assert result.exit_code == 1
    [spf] = lines(result, "fail", "SPF")
    assert f"could not look up TXT good.example: the DNS server {other.nameserver} failed" in spf
    assert "fix: check the resolver (or --resolver)" in result.output
    assert "Traceback" not in result.output


def test_reverse_look_ups_give_the_names_or_nothing(dns: DnsServer) -> None:
    resolver = Resolver(parse_nameserver(dns.nameserver))
    assert resolver.ptr("192.0.2.10") == ["smtp.provider.example"]
    assert resolver.ptr("2001:0db8:0::10") == ["smtp.provider.example"]
    assert resolver.ptr("192.0.2.99") == []


def test_a_server_that_never_answers_times_out_once() -> None:
    silent = Resolver(Nameserver("127.0.0.1", free_port()), timeout=0.1, lifetime=0.3)
    with pytest.raises(DnsTimeout, match=r"DNS TXT example.org: no answer from the DNS serv"):
        silent.txt("example.org")
    with pytest.raises(DnsTimeout, match=r"DNS MX example.org: .* did not answer an earlier"):
        silent.mx("example.org")


@pytest.mark.parametrize("value", ["127.0.0.1:notaport", "[::1]x", "dns.example.org:53"])
def test_a_resolver_that_is_no_server_is_bad_usage(tmp_path: Path, value: str) -> None:
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "x.db"), "doctor",
                                      "--resolver", value])
    assert result.exit_code == 2
    assert f"--resolver {value!r}" in result.output
