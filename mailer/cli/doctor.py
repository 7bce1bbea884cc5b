"""``mailer doctor``: the sending setup checked against what mailbox providers require."""

from __future__ import annotations

import click

from mailer.cli.app import App, cli, echo, json_option, pass_app, print_json
from mailer.dns import Resolver, parse_nameserver
from mailer.doctor.diagnose import diagnose
from mailer.doctor.findings import Finding, Report, Status
from mailer.errors import MailerError

#: The width of the status column ("cannot know").
_WIDTH = max(len(status) for status in Status)


class DoctorFound(MailerError):
    """At least one check failed; the lines above say which and how to fix them."""

    def __init__(self, failed: int) -> None:
        self.failed = failed
        super().__init__(f"{failed} check{'s' if failed != 1 else ''} failed (see the fixes above)")


@cli.command()
@click.option(
    "--resolver",
    metavar="HOST:PORT",
    help="Ask this DNS server instead of the system's resolver (e.g. 127.0.0.1:5353).",
)
@json_option
@pass_app
def doctor(app: App, resolver: str | None, as_json: bool) -> None:
    """Check that mailbox providers will take the letters: SPF, reverse DNS of the relays,
    DKIM, DMARC and alignment, MX of the addresses mail comes back to, the unsubscribe
    server, and the Gmail and Yahoo bulk-sender rules. Exit status 1 when a check fails."""
    dns = Resolver(parse_nameserver(resolver) if resolver else None)
    store = app.store() if app.config.db_path.exists() else None
    report = diagnose(app.config, dns, store)
    if as_json:
        print_json({"ok": report.ok, "checks": report.findings, "rules": report.rules})
    else:
        _show(report)
    if report.failed:
        raise DoctorFound(report.failed)


def show_finding(finding: Finding, *, err: bool = False) -> None:
    """One check as a line (and its fix, indented, on the next)."""
    echo(f"{finding.status:<{_WIDTH}}  {finding.check}: {finding.found}", err=err)
    if finding.fix and finding.status is not Status.PASS:
        echo(f"{'':<{_WIDTH}}  fix: {finding.fix}", err=err)


def _show(report: Report) -> None:
    for finding in report.findings:
        show_finding(finding)
    echo()
    echo("Gmail and Yahoo bulk-sender rules:")
    for rule in report.rules:
        echo(f"{rule.status:<{_WIDTH}}  {rule.rule}: {rule.why}")
