"""Local-time rules for waits and quiet hours, across time zones and DST changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.runtime.localtime import next_local_time, quiet_hours_end, zone

BERLIN = zone("Europe/Berlin")
NEW_YORK = zone("America/New_York")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_next_local_time_later_today_and_tomorrow() -> None:
    # 07:30 UTC = 08:30 Berlin (winter): 09:00 Berlin is today at 08:00 UTC
    assert next_local_time(utc(2026, 1, 15, 7, 30), BERLIN, 9 * 60) == utc(2026, 1, 15, 8, 0)
    # 10:00 UTC = 11:00 Berlin: 09:00 Berlin is tomorrow
    assert next_local_time(utc(2026, 1, 15, 10, 0), BERLIN, 9 * 60) == utc(2026, 1, 16, 8, 0)


def test_next_local_time_on_allowed_weekdays_only() -> None:
    friday_evening = utc(2026, 1, 16, 20, 0)  # a Friday
    monday_nine = next_local_time(friday_evening, NEW_YORK, 9 * 60, weekdays=[0, 1, 2, 3, 4])
    assert monday_nine == utc(2026, 1, 19, 14, 0)
    assert monday_nine.astimezone(NEW_YORK).weekday() == 0


def test_next_local_time_inside_a_dst_gap_moves_forward() -> None:
    # Berlin skips 02:00-03:00 on 2026-03-29; 02:30 does not exist that day
    result = next_local_time(utc(2026, 3, 28, 23, 0), BERLIN, 2 * 60 + 30)
    assert result == utc(2026, 3, 29, 1, 30)  # 03:30 local summer time


def test_next_local_time_rejects_no_weekdays() -> None:
    with pytest.raises(ValueError, match="at least one day"):
        next_local_time(utc(2026, 1, 1), BERLIN, 60, weekdays=[9])


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2026, 1, 15, 12, 0), utc(2026, 1, 15, 12, 0)),  # 13:00 Berlin: allowed
        (utc(2026, 1, 15, 21, 0), utc(2026, 1, 16, 7, 0)),  # 22:00 Berlin: until 08:00
        (utc(2026, 1, 16, 5, 0), utc(2026, 1, 16, 7, 0)),  # 06:00 Berlin: until 08:00
    ],
)
def test_quiet_hours_across_midnight(now: datetime, expected: datetime) -> None:
    assert quiet_hours_end(now, BERLIN, 21 * 60, 8 * 60) == expected


def test_quiet_hours_within_a_day() -> None:
    lunch = utc(2026, 1, 15, 11, 30)  # 12:30 Berlin
    assert quiet_hours_end(lunch, BERLIN, 12 * 60, 14 * 60) == utc(2026, 1, 15, 13, 0)


def test_unknown_zone_falls_back() -> None:
    assert zone("Mars/Olympus", "Europe/Berlin") == BERLIN
    assert str(zone(None, "Nowhere/Bad")) == "UTC"
