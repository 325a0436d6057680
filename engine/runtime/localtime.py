"""Local-time arithmetic for waits and quiet hours, in the customer's time zone.

Pure functions of (now, zone, rule): the workflow calls them through a local
activity, so the answer is recorded in history and replays identically even
if the time-zone database changes between deploys.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    """The customer's zone, or the fallback when the profile has none or a bad one."""
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def next_local_time(
    now: datetime, tz: ZoneInfo, minute_of_day: int, weekdays: list[int] | None = None
) -> datetime:
    """The first moment at or after ``now`` that is ``minute_of_day`` local time on an allowed
    weekday (0 = Monday). Nonexistent local times (spring-forward gaps) move forward."""
    local_now = now.astimezone(tz)
    hours, minutes = divmod(minute_of_day, 60)
    for days_ahead in range(8):
        day = (local_now + timedelta(days=days_ahead)).date()
        if weekdays and day.weekday() not in weekdays:
            continue
        naive = datetime(day.year, day.month, day.day, hours, minutes)
        candidate = naive.replace(tzinfo=tz)
        # Round-trip through UTC normalises a time inside a DST gap.
        candidate = candidate.astimezone(UTC).astimezone(tz)
        if candidate >= local_now:
            return candidate.astimezone(UTC)
    raise ValueError("weekdays must name at least one day")


def quiet_hours_end(now: datetime, tz: ZoneInfo, start_minute: int, end_minute: int) -> datetime:
    """``now`` if sending is allowed, else the end of the current quiet window (UTC).

    A window may cross midnight (21:00-08:00) or not (12:00-14:00).
    """
    local = now.astimezone(tz)
    minute = local.hour * 60 + local.minute
    if start_minute <= end_minute:
        quiet = start_minute <= minute < end_minute
    else:
        quiet = minute >= start_minute or minute < end_minute
    if not quiet:
        return now
    return next_local_time(now, tz, end_minute)
