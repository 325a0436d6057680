"""The period a page shows: ``?since=YYYY-MM-DD&until=YYYY-MM-DD`` or ``?days=N``.

Dates are whole UTC days; ``until`` is inclusive for the person (the last day shown) and
exclusive for the queries (the day after, at midnight).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import Depends, Query

from engine.errors import ConsoleError

MAX_DAYS = 3660


@dataclass(frozen=True)
class Period:
    since: datetime | None
    until: datetime | None  # exclusive
    since_text: str  # what the form shows
    until_text: str

    @property
    def label(self) -> str:
        if self.since is None and self.until is None:
            return "all time"
        start = self.since_text or "the beginning"
        end = self.until_text or "now"
        return f"{start} to {end}"

    def query(self) -> str:
        """The period as a query string, for links that keep it."""
        parts = [f"since={self.since_text}"] if self.since_text else []
        parts += [f"until={self.until_text}"] if self.until_text else []
        return "&".join(parts)


def _day(text: str, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConsoleError(
            f"{name} {text!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-11-01",
            code="period_invalid",
        ) from None


def period(
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    days: Annotated[int | None, Query(ge=1, le=MAX_DAYS)] = None,
) -> Period:
    first = _day(since, "from")
    last = _day(until, "to")
    if days is not None and first is None and last is None:
        last = datetime.now(UTC).date()
        first = last - timedelta(days=days - 1)
    if first is not None and last is not None and first > last:
        raise ConsoleError(
            f"the period starts ({first}) after it ends ({last}): swap the two dates",
            code="period_invalid",
        )
    return Period(
        since=None if first is None else datetime.combine(first, time(), UTC),
        until=None if last is None else datetime.combine(last + timedelta(days=1), time(), UTC),
        since_text="" if first is None else first.isoformat(),
        until_text="" if last is None else last.isoformat(),
    )


PeriodDep = Annotated[Period, Depends(period)]
