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


def date_from_data(
    now: datetime,
    tz: ZoneInfo,
    value: str | None,
    minute_of_day: int,
    offset_seconds: int = 0,
    every_year: bool = False,
) -> datetime:
    """When a wait on a date from the customer's data ends (UTC): ``value`` (ISO 8601: a
    date, at ``minute_of_day`` local time, or a date and time), plus ``offset_seconds``;
    with ``every_year``, its next anniversary whose offset time is still ahead (a
    birthday; 29 February is the 28th in other years). ``now`` (no wait) when the value
    is missing or not a date, or the time has passed."""
    moment = _moment(value, tz, minute_of_day)
    if moment is None:
        return now
    offset = timedelta(seconds=offset_seconds)
    if every_year:
        local = moment.astimezone(tz)
        for year in range(now.astimezone(tz).year - 1, now.astimezone(tz).year + 2):
            day = min(local.day, 28) if (local.month, local.day) == (2, 29) else local.day
            if local.month == 2 and local.day == 29 and _leap(year):
                day = 29
            candidate = local.replace(year=year, day=day).astimezone(UTC)
            if candidate + offset > now:
                return candidate + offset
        return now
    target = moment + offset
    return target if target > now else now


def _moment(value: str | None, tz: ZoneInfo, minute_of_day: int) -> datetime | None:
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        if len(text) == 10:  # a date: YYYY-MM-DD
            day = datetime.fromisoformat(text)
            hours, minutes = divmod(minute_of_day, 60)
            local = day.replace(hour=hours, minute=minutes, tzinfo=tz)
            return local.astimezone(UTC).astimezone(tz).astimezone(UTC)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)).astimezone(UTC)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
