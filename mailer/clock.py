"""Time in one place, so that tests can move it and the store gets one format.

Timestamps are stored as ISO 8601 UTC text (``2026-11-27T10:51:56Z``): they
sort as text, read well in ``sqlite3`` and survive a JSON export unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731
_replaced = False


def now() -> datetime:
    """The current time, timezone-aware UTC (replaceable by ``set_clock``)."""
    return _now()


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests use a fake one); ``None`` restores the real one."""
    global _now, _replaced
    _now = clock if clock is not None else (lambda: datetime.now(UTC))
    _replaced = clock is not None


def replaced() -> bool:
    """Whether ``set_clock`` put another clock in place: it lives in this process only, so
    work that must read it (a campaign's workers) stays in this process."""
    return _replaced


def iso(moment: datetime) -> str:
    """Format a moment the way the store keeps it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_iso() -> str:
    """The current time as the store keeps it."""
    return iso(now())


def parse_iso(text: str) -> datetime:
    """Read back a stored timestamp (or any ISO 8601 date or time) as aware UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
