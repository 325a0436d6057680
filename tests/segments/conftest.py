"""Segment fixtures: the store on SQLite and PostgreSQL, the runtime engine and the event API.

Helpers write segment files and events with timestamps in the past, so windows
and relative dates are tested without waiting.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dsl.segment_loader import load_segment_text
from dsl.segment_models import CompiledSegment
from engine.store import EventRecord, Store
from tests.api.conftest import api  # noqa: F401
from tests.runtime.conftest import engine, receiver  # noqa: F401
from tests.store.conftest import postgres_admin, store  # noqa: F401

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def segment(text: str) -> CompiledSegment:
    """A compiled segment from YAML text; the test fails with every diagnostic if invalid."""
    result = load_segment_text(text)
    assert result.compiled is not None, [d.render() for d in result.diagnostics]
    return result.compiled


def add_event(
    into: Store,
    customer: str,
    name: str,
    ago: timedelta = timedelta(0),
    now: datetime = NOW,
    **properties: Any,
) -> None:
    """Store an event that happened ``ago`` before ``now``."""
    at = now - ago
    into.record_event(
        EventRecord(
            message_id=str(uuid.uuid4()),
            customer_id=customer,
            name=name,
            properties=properties,
            timestamp=at,
            received_at=at,
        )
    )


@pytest.fixture
def write_segment(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write YAML text to ``<tmp>/segments/<name>`` and return its path."""

    def write(text: str, name: str) -> Path:
        folder = tmp_path / "segments"
        folder.mkdir(exist_ok=True)
        path = folder / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
