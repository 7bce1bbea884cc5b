"""The bulk-sender rules of Gmail and Yahoo (since 2024; Outlook's since 2025), judged
from what the checks found.

1. SPF or DKIM passes with a domain aligned with the From domain (DMARC).
2. The From domain publishes a DMARC record (``p=none`` is enough).
3. One-click unsubscribe (RFC 8058) over HTTPS: mailer adds List-Unsubscribe
   and List-Unsubscribe-Post to every letter; ``mailer serve`` must answer
   at ``web.base_url``.
4. TLS for the connection that carries the mail.
5. Forward and reverse DNS (a PTR record that resolves back) for the
   addresses the mail is sent from.
6. A spam complaint rate under 0.3% (and best under 0.1%), as far as the
   complaints that come back to mailer show it: Gmail sends none back and
   shows its own figure only in its Postmaster Tools.
"""

from __future__ import annotations

from datetime import timedelta

from mailer import clock
from mailer.config import Config
from mailer.dispatch.transports.smtp import is_loopback, relays_of
from mailer.doctor.findings import Facts, Rule, Status
from mailer.store import Store
from mailer.store.bounces import complaints_since

#: Complaint rates (complaints per message) Gmail asks bulk senders to stay under.
COMPLAINTS_LIMIT = 0.003
COMPLAINTS_AIM = 0.001
#: The days the complaint rate is counted over.
COMPLAINT_DAYS = 30


def bulk_sender_rules(config: Config, facts: Facts, store: Store | None) -> list[Rule]:
    """Each rule: passed, warned about, failed, or cannot be known from here."""
    return [
        _authenticated(facts),
        _dmarc(facts),
        _one_click(facts),
        _tls(config),
        _reverse(facts),
        _complaints(store),
    ]


def _authenticated(facts: Facts) -> Rule:
    rule = "SPF or DKIM passes, aligned with the From domain"
    ways = [("SPF", facts.spf_passes, facts.spf_aligned), ("DKIM", facts.dkim_passes,
                                                             facts.dkim_aligned)]
    passing = [name for name, passes, aligned in ways if passes and aligned]
    if passing:
        return Rule(rule, Status.PASS, f"{' and '.join(passing)} (see above)")
    if any(passes is None and aligned for _, passes, aligned in ways):
        return Rule(rule, Status.UNKNOWN, "aligned, but whether SPF passes cannot be seen here")
    if facts.provider:
        return Rule(
            rule, Status.UNKNOWN,
            f"whether {facts.provider} signs as your domain or sends from a MAIL FROM domain "
            "under it cannot be seen here",
        )
    return Rule(rule, Status.FAIL, "neither passes with an aligned domain: see the lines above")


def _dmarc(facts: Facts) -> Rule:
    rule = "a DMARC record on the From domain"
    if facts.dmarc is not None:
        return Rule(rule, Status.PASS, f"p={facts.dmarc.policy} at _dmarc.{facts.dmarc.domain}")
    if not facts.dmarc_looked_up:
        return Rule(rule, Status.UNKNOWN, "DNS did not answer")
    return Rule(rule, Status.FAIL, "none published")


def _one_click(facts: Facts) -> Rule:
    rule = "one-click unsubscribe over HTTPS (RFC 8058)"
    if facts.https and facts.answers:
        return Rule(rule, Status.PASS, "every letter carries it, and the server answers")
    if facts.answers:
        return Rule(rule, Status.WARN, "the server answers, but not over HTTPS")
    return Rule(rule, Status.FAIL, "the unsubscribe server does not answer")


def _tls(config: Config) -> Rule:
    rule = "TLS for the mail"
    if not (config.smtp.host or config.smtp.relays):
        return Rule(rule, Status.UNKNOWN, "no relay: letters go to the outbox")
    if all(is_loopback(relay.host) for relay in relays_of(config.smtp)):
        return Rule(
            rule, Status.UNKNOWN,
            "the local MTA delivers: make sure it offers STARTTLS "
            "(Postfix: smtp_tls_security_level = may)",
        )
    return Rule(rule, Status.PASS, "the relay takes the letters over TLS and delivers them")


def _reverse(facts: Facts) -> Rule:
    rule = "forward and reverse DNS of the sending addresses"
    if facts.reverse_dns:
        return Rule(rule, Status.PASS, "each relay's addresses have PTR records that resolve back")
    if facts.reverse_dns is False:
        return Rule(rule, Status.WARN, "a relay's address lacks one (see above)")
    return Rule(rule, Status.UNKNOWN, "the addresses the mail leaves from cannot be seen here")


def _complaints(store: Store | None) -> Rule:
    rule = "spam complaints under 0.3% (aim: under 0.1%)"
    if store is None:
        return Rule(rule, Status.UNKNOWN, "no database")
    since = clock.iso(clock.now() - timedelta(days=COMPLAINT_DAYS))
    counts = complaints_since(store, since)
    if counts.campaigns == 0 or counts.sent == 0:
        return Rule(rule, Status.UNKNOWN, f"nothing sent in {COMPLAINT_DAYS} days")
    rate = counts.complaints / counts.sent
    why = (
        f"{counts.complaints} of {counts.sent} letters in {COMPLAINT_DAYS} days "
        f"({rate:.2%}), as reported back; Gmail's own figure is in its Postmaster Tools"
    )
    if rate >= COMPLAINTS_LIMIT:
        return Rule(rule, Status.FAIL, why)
    return Rule(rule, Status.WARN if rate >= COMPLAINTS_AIM else Status.PASS, why)
