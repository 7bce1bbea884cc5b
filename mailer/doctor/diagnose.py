"""``mailer doctor`` as one call: every check, then the bulk-sender rules."""

from __future__ import annotations

from mailer.config import Config
from mailer.dns import Resolver
from mailer.doctor.findings import Facts, Report
from mailer.doctor.preflight import preflight
from mailer.doctor.reach import mail_findings, web_findings
from mailer.doctor.records import (
    dkim_findings,
    dmarc_findings,
    forward_findings,
    spf_findings,
)
from mailer.doctor.reverse import reverse_findings
from mailer.doctor.rules import bulk_sender_rules
from mailer.store import Store


def diagnose(config: Config, resolver: Resolver, store: Store | None = None) -> Report:
    """Check the configuration, what DNS publishes for it, and the web side.

    ``store`` gives the complaint rate (None: it cannot be known). DNS that
    does not answer fails the check that asked; nothing here raises for it.
    """
    facts = Facts()
    findings = [
        *preflight(config),
        *spf_findings(config, resolver, facts),
        *reverse_findings(config, resolver, facts),
        *dkim_findings(config, resolver, facts),
        *dmarc_findings(config, resolver, facts),
        *forward_findings(config, resolver, facts),
        *mail_findings(config, resolver),
        *web_findings(config, facts),
    ]
    return Report(findings, bulk_sender_rules(config, facts, store))
