"""Time zones by name: the one check of a zone name, and the system's own zone.

mailer keeps every moment in UTC (``clock``). A zone matters only where a
person gives or reads a local time: ``send --at``, ``campaigns reschedule``
and what ``campaigns ls`` and ``show`` print. Zones are the IANA names of
the standard library's ``zoneinfo``, read from the system's database or,
where a system has none (a bare container), from the ``tzdata`` package.
"""

from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from mailer.errors import UsageError

#: Where a system names its own zone: a link into the zone database, or a file holding the name.
LOCALTIME = Path("/etc/localtime")
TIMEZONE_FILE = Path("/etc/timezone")


class UnknownZone(UsageError):
    """No time zone has this name; ``suggestion`` is the closest one there is, if any."""

    def __init__(self, name: str, suggestion: str | None = None) -> None:
        self.name = name
        self.suggestion = suggestion
        hint = f"did you mean {suggestion!r}?" if suggestion else "e.g. Europe/Berlin or UTC"
        super().__init__(f"unknown time zone {name!r} ({hint})")


def zone(name: str) -> ZoneInfo:
    """The zone with this IANA name (``Europe/Berlin``); ``UnknownZone`` if there is none.

    ``localtime`` is refused although the database may hold it: it names
    whatever the machine it is read on uses, and a stored campaign must mean
    the same time on every machine.
    """
    if name and name != "localtime":
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise UnknownZone(name, _closest(name))


def _closest(name: str) -> str | None:
    """The known zone name a mistyped one most likely meant (case first, then spelling)."""
    known = sorted((available_timezones() | {"UTC"}) - {"localtime"})
    folded = {each.casefold(): each for each in known}
    if name.strip().casefold() in folded:
        return folded[name.strip().casefold()]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return close[0] if close else None


def system_zone_name(
    env: Mapping[str, str] | None = None,
    *,
    localtime: Path = LOCALTIME,
    timezone_file: Path = TIMEZONE_FILE,
) -> str:
    """The name of the zone this machine keeps its clock in; ``UTC`` when it names none.

    In the order the C library reads them: ``TZ`` (when it is a zone name,
    not a POSIX rule such as ``CET-1CEST``), the zone file ``/etc/localtime``
    links to, the name in ``/etc/timezone``.
    """
    env = os.environ if env is None else env
    candidates = [env.get("TZ", "").removeprefix(":")]
    try:
        target = str(localtime.resolve(strict=True))
    except OSError:
        target = ""
    if "/zoneinfo/" in target:
        candidates.append(target.rpartition("/zoneinfo/")[2])
    with contextlib.suppress(OSError, UnicodeDecodeError):
        candidates.append(timezone_file.read_text(encoding="utf-8").strip())
    for candidate in candidates:
        try:
            zone(candidate)
        except UnknownZone:
            continue
        return candidate
    return "UTC"
