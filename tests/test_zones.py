"""Time zones by name, and finding the system's own zone."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer import zones


def test_a_zone_is_found_by_its_iana_name() -> None:
    assert str(zones.zone("America/Lima")) == "America/Lima"


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("Europe/Berln", "Europe/Berlin"), ("utc", "UTC"), ("", None), ("localtime", None),
     ("../../etc/passwd", None), ("Atlantis/Capital", None)],
)
def test_an_unknown_zone_names_the_closest_known_one(name: str, suggestion: str | None) -> None:
    with pytest.raises(zones.UnknownZone) as caught:
        zones.zone(name)
    assert caught.value.suggestion == suggestion
    assert caught.value.exit_code == 2


def test_the_system_zone_is_tz_when_tz_names_a_zone(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    assert zones.system_zone_name({"TZ": ":Europe/Berlin"}, localtime=missing,
                                  timezone_file=missing) == "Europe/Berlin"


def test_the_system_zone_is_where_localtime_links_to(tmp_path: Path) -> None:
    """A POSIX rule in TZ is no zone name: the link of /etc/localtime is read instead."""
    database = tmp_path / "usr" / "share" / "zoneinfo" / "America"
    database.mkdir(parents=True)
    (database / "Lima").write_bytes(b"TZif")
    link = tmp_path / "localtime"
    link.symlink_to(database / "Lima")
    assert zones.system_zone_name({"TZ": "CET-1CEST"}, localtime=link,
                                  timezone_file=tmp_path / "missing") == "America/Lima"


def test_the_system_zone_is_read_from_etc_timezone_else_utc(tmp_path: Path) -> None:
    named = tmp_path / "timezone"
    named.write_text("Asia/Tokyo\n")
    missing = tmp_path / "missing"
    assert zones.system_zone_name({}, localtime=missing, timezone_file=named) == "Asia/Tokyo"
    named.write_text("Nowhere/Special\n")
    assert zones.system_zone_name({}, localtime=missing, timezone_file=named) == "UTC"
