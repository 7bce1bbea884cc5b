"""Families of real notices the reader must read in general, each from our own samples.

Each test names the family and what is easy to get wrong about it. Tests
whose answer may be an ``unknown`` event call :func:`read_bounce`, the
reader without the catch-all, so that an error in it fails here.
"""

from __future__ import annotations

import pytest

from mailer.bounces import BounceEvent
from mailer.bounces.parse import read_bounce
from tests import bounce_families as families
from tests import bounce_samples as samples


def events_of(raw: bytes) -> list[tuple[str, str, str]]:
    """(recipient, kind, reason) of every event the message gives."""
    return [(e.recipient, e.kind, e.reason) for e in read_bounce(raw).events]


def only(raw: bytes) -> BounceEvent:
    """The one event a message is expected to give."""
    events = read_bounce(raw).events
    assert len(events) == 1, events
    return events[0]


@pytest.mark.parametrize(
    "builder", [samples.exim, samples.postfix_dsn_user_unknown, samples.qmail, samples.arf]
)
def test_old_mac_line_ends_are_read_like_any_other(builder: object) -> None:
    assert callable(builder)
    raw = builder()
    assert isinstance(raw, bytes)
    assert events_of(families.carriage_returns_only(raw)) == events_of(raw)
