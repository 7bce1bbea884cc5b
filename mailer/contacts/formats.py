"""The contact exports of other programs, recognised by their header rows.

Most people arrive in a file another program wrote: Google Contacts,
Outlook, a Mailchimp audience. Their email and name columns are found like
any file's (``mailer.contacts.columns`` knows ``E-mail 1 - Value`` and
``Given Name``); what recognising the export adds is what only that export
means:

* Mailchimp writes when each person opted in and confirmed, and from which
  IP address. The confirm time (else the opt-in time) becomes the
  subscription's consent time, and all four go into the consent detail, so
  the proof of consent moves with the people. Its export of unsubscribed
  members has ``UNSUB_TIME`` and of cleaned (hard-bounced) members
  ``CLEAN_TIME``: a row with one of them is an opt-out, never subscribed.
* Every recognised export is named in each subscription's consent detail
  (``"export": "google"``), and in the import's report.

A header is recognised once per file; nothing here runs per row but
``read_time``, and only for a file that has such times.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mailer import clock

#: A role that puts a cell into the subscription's consent detail under KEY.
CONSENT_ROLE = "consent:"
#: A role that makes a row with a non-empty cell an opt-out of STATUS.
OPT_OUT_ROLE = "opt-out:"
#: How the times of a Mailchimp export are written (UTC).
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class Export:
    """A program's contact export: its name, how to recognise it, what its own columns mean.

    The header is the export's when every column of one of ``signatures`` is
    in it (compared as ``columns.canonical_column`` writes them). ``roles``
    maps such names to a role that holds only in this export.
    """

    name: str
    label: str
    signatures: tuple[frozenset[str], ...]
    roles: Mapping[str, str] = field(default_factory=dict)


EXPORTS = (
    Export(
        "mailchimp",
        "a Mailchimp audience export",
        (
            frozenset({"email address", "optin time"}),
            frozenset({"email address", "confirm time"}),
            frozenset({"email address", "leid", "euid"}),
        ),
        {
            "optin time": CONSENT_ROLE + "optin_time",
            "optin ip": CONSENT_ROLE + "optin_ip",
            "confirm time": CONSENT_ROLE + "confirm_time",
            "confirm ip": CONSENT_ROLE + "confirm_ip",
            "unsub time": OPT_OUT_ROLE + "unsubscribed",
            "clean time": OPT_OUT_ROLE + "bounced",
        },
    ),
    Export("google", "a Google Contacts export", (frozenset({"e-mail 1 - value"}),)),
    Export(
        "outlook",
        "an Outlook export",
        (
            frozenset({"e-mail address", "e-mail display name"}),
            frozenset({"e-mail address", "e-mail 2 address"}),
        ),
    ),
)
#: Every column name that has a role in some export (the exporter must not write one).
EXPORT_COLUMNS = frozenset(name for export in EXPORTS for name in export.roles)


def recognise(canonical_header: Collection[str]) -> Export | None:
    """The export whose header this is, or None for a file of no known program."""
    names = set(canonical_header)
    for export in EXPORTS:
        if any(signature <= names for signature in export.signatures):
            return export
    return None


def label(name: str) -> str:
    """How the report calls an export (``google`` → "a Google Contacts export")."""
    for export in EXPORTS:
        if export.name == name:
            return export.label
    return name


def read_time(text: str) -> str:
    """A time an export wrote (UTC, ``YYYY-MM-DD HH:MM:SS``) as the store keeps times.

    ``ValueError`` when the text is not such a time.
    """
    return clock.iso(datetime.strptime(text.strip(), TIME_FORMAT).replace(tzinfo=UTC))
