"""Durations and times of day as journey authors write them (``30m``, ``1d12h``, ``"21:00"``)."""

from __future__ import annotations

import re
from datetime import timedelta

from dsl.codes import CodedValueError, DiagnosticCode

DURATION_PATTERN = r"^(?:\d+w)?(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?$"
_DURATION_RE = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_UNIT_SECONDS = (7 * 86400, 86400, 3600, 60, 1)
_UNIT_NAMES = ("w", "d", "h", "m", "s")

TIME_OF_DAY_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"
_TIME_OF_DAY_RE = re.compile(TIME_OF_DAY_PATTERN)

MAX_DURATION_SECONDS = 3650 * 86400
DURATION_HINT = "write a duration such as 30m, 1h, 2d, 1w or 1d12h (units w, d, h, m, s)"


def parse_duration(text: str) -> timedelta:
    """Parse ``1d12h``-style durations; raise ValueError with a hint for anything else."""
    context = {"value": str(text)}
    match = _DURATION_RE.match(text) if isinstance(text, str) else None
    if not match or not text:
        raise CodedValueError(
            DiagnosticCode.DURATION_INVALID, f"{text!r} is not a duration: {DURATION_HINT}", context
        )
    seconds = sum(int(v) * unit for v, unit in zip(match.groups(), _UNIT_SECONDS, strict=True) if v)
    if seconds > MAX_DURATION_SECONDS:
        raise CodedValueError(
            DiagnosticCode.DURATION_INVALID,
            f"{text!r} is too long: a duration is at most 3650d (about ten years)",
            context,
        )
    if seconds <= 0:
        raise CodedValueError(
            DiagnosticCode.DURATION_INVALID,
            f"{text!r} is zero: a duration must be longer than 0s",
            context,
        )
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest ``1d12h`` form of a duration, for messages and diagrams."""
    remaining = int(value.total_seconds())
    parts: list[str] = []
    for unit, name in zip(_UNIT_SECONDS, _UNIT_NAMES, strict=True):
        count, remaining = divmod(remaining, unit)
        if count:
            parts.append(f"{count}{name}")
    return "".join(parts) or "0s"


def parse_time_of_day(text: str) -> tuple[int, int]:
    """Parse ``HH:MM`` (24-hour clock) into hours and minutes."""
    if not isinstance(text, str) or not _TIME_OF_DAY_RE.match(text):
        raise CodedValueError(
            DiagnosticCode.TIME_OF_DAY_INVALID,
            f'{text!r} is not a time of day: write 24-hour time in quotes, such as "08:00" '
            'or "21:30"',
            {"value": str(text)},
        )
    hours, minutes = text.split(":")
    return int(hours), int(minutes)
