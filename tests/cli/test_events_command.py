"""`cxflow events failed|retry`, run as an operator does: in a subprocess, on a store file."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from engine.store import EventRecord, Store
from tests.cli.conftest import CXFLOW


def run(database: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CXFLOW), "events", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CXFLOW_DATABASE_URL": f"sqlite:///{database}", "COLUMNS": "200"},
    )


def parked_store(database: Path, *message_ids: str) -> Store:
    """A store whose events failed routing once and were parked at once (no retries)."""
    store = Store.open(f"sqlite:///{database}")
    now = datetime.now(UTC)
    for message_id in message_ids:
        store.record_event(
            EventRecord(
                message_id=message_id,
                customer_id="ada",
                name="order.completed",
                properties={},
                timestamp=now,
                received_at=now,
            )
        )
        store.route_failed(message_id, "journey_not_startable: the test says no", [])
    return store


def test_parked_events_are_listed_with_their_reason_and_put_back_in_line(
    tmp_path: Path,
) -> None:
    database = tmp_path / "cxflow.db"
    store = parked_store(database, "m-1", "m-2", "m-3")
    listed = run(database, "failed")
    assert listed.returncode == 0, listed.stderr
    for message_id in ("m-1", "m-2", "m-3"):
        assert message_id in listed.stdout
    assert "journey_not_startable: the test says no" in listed.stdout
    assert "3 parked, 0 waiting to be retried" in listed.stdout

    one = run(database, "retry", "m-2", "unknown-id")
    assert one.returncode == 0, one.stderr
    assert "1 event(s) back in line" in one.stdout
    assert "1 of the ids named are not parked events" in one.stdout
    assert [e.message_id for e in store.unrouted_events()] == ["m-2"]

    every = run(database, "retry", "--all")
    assert "2 event(s) back in line" in every.stdout
    assert store.routing_counts().failed == 0
    store.dispose()


def test_retry_says_what_to_name(tmp_path: Path) -> None:
    database = tmp_path / "cxflow.db"
    parked_store(database, "m-1").dispose()
    for args in (("retry",), ("retry", "m-1", "--all")):
        refused = run(database, *args)
        assert refused.returncode == 2
        assert "or pass --all" in refused.stderr
        assert "Traceback" not in refused.stderr
