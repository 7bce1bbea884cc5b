"""What ``mailer doctor`` reports: a line per check, and a line per bulk-sender rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from mailer.dmarc import DmarcPolicy


class Status(StrEnum):
    """How a check came out; only ``fail`` makes ``mailer doctor`` exit 1."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "cannot know"


@dataclass(frozen=True)
class Finding:
    """One check: what was looked at, how it came out, what was found, and the fix."""

    check: str
    status: Status
    found: str
    fix: str = ""


@dataclass(frozen=True)
class Rule:
    """One of the mailbox providers' rules for bulk senders, judged from the checks."""

    rule: str
    status: Status
    why: str


@dataclass
class Facts:
    """What the checks learnt that the rules are judged by (None: could not be known)."""

    spf_passes: bool | None = None
    spf_aligned: bool = False
    dkim_passes: bool | None = None
    dkim_aligned: bool = False
    dmarc: DmarcPolicy | None = None
    dmarc_looked_up: bool = False
    https: bool = False
    answers: bool = False
    #: The provider whose envelope sender carries the letters ("": ours).
    provider: str = ""
    #: Whether every relay's address has forward-confirmed reverse DNS (None: unknown).
    reverse_dns: bool | None = None


@dataclass(frozen=True)
class Report:
    """Everything ``mailer doctor`` found; ``ok`` when nothing failed."""

    findings: list[Finding] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)

    @property
    def failed(self) -> int:
        """How many checks and rules failed."""
        statuses = [f.status for f in self.findings] + [r.status for r in self.rules]
        return statuses.count(Status.FAIL)

    @property
    def ok(self) -> bool:
        """No check and no rule failed."""
        return self.failed == 0
