"""The time the engine decides by: the wall clock, or the test server's in a rehearsal.

Workflows read time from Temporal (``workflow.now()``); the engine outside them (the
intake's timestamp window, re-entry windows, frequency caps, the times the store
writes) reads it here, so that `cxflow test`, whose journeys run on Temporal's
time-skipping server days ahead of the wall clock, sees the same time as its runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

_source: Callable[[], datetime] | None = None


def now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC) if _source is None else _source()


@contextlib.contextmanager
def following(source: Callable[[], datetime]) -> Iterator[None]:
    """Read the time from ``source`` inside the block (one rehearsal at a time)."""
    global _source
    previous, _source = _source, source
    try:
        yield
    finally:
        _source = previous
