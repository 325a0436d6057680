"""`cxflow simulate`: a backtest on a store with a known event history, counted by hand.

The store holds a month of carts: ada leaves one three days ago and never orders; bob
leaves one two days ago and orders 30 minutes later; cy's cart is empty; dee only
browses; eve's cart is from 40 days ago, outside the period. Ada and bob are both in
the experiment's `reminder` variant (the hash of customer and experiment).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.runtime.assignment import assign_variant
from engine.store import EventRecord, Store
from tests.conftest import JOURNEYS as REPO_JOURNEYS
from tests.journey_tests.conftest import CXFLOW
from tests.runtime.conftest import compiled

VARIANTS = [("reminder", 45.0), ("discount", 45.0), ("holdout", 10.0)]


# Noon (UTC) of today: the carts are at midday, away from the journey's quiet hours
# (21:00-08:00), whatever the time the test runs.
NOON = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


def event(customer: str, name: str, ago: timedelta, **properties: Any) -> EventRecord:
    at = NOON - ago
    return EventRecord(
        message_id=f"{customer}-{name}-{ago.total_seconds():.0f}",
        customer_id=customer,
        name=name,
        properties=properties,
        timestamp=at,
        received_at=at,
        user_id=customer,
    )


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    database = tmp_path / "shop.db"
    store = Store.open(f"sqlite:///{database}")
    try:
        store.deploy_journey(compiled("abandoned-cart"))
        for customer in ("ada", "bob", "cy", "dee", "eve"):
            store.upsert_customer(customer, {"email": f"{customer}@example.com"})
        cart = timedelta(days=2)
        store.record_events(
            [
                event("ada", "cart.updated", timedelta(days=3), item_count=2),
                event("bob", "cart.updated", cart, item_count=1),
                event("bob", "order.completed", cart - timedelta(minutes=30), total=35),
                event("cy", "cart.updated", timedelta(days=1), item_count=0),
                event("dee", "page.viewed", timedelta(days=1, hours=5), path="/shoes"),
                event("eve", "cart.updated", timedelta(days=40), item_count=4),
            ]
        )
    finally:
        store.dispose()
    return database


def shutil_copy_templates(folder: Path) -> None:
    shutil.copytree(REPO_JOURNEYS / "templates", folder / "templates")


def simulate(database: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CXFLOW), "simulate", "abandoned-cart", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "CXFLOW_DATABASE_URL": f"sqlite:///{database}", "COLUMNS": "250"},
    )


def figures(output: str) -> dict[str, list[str]]:
    """The table's rows: label -> one cell per version."""
    found: dict[str, list[str]] = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃").split("│")]
        if len(cells) >= 2 and cells[0]:
            found[cells[0]] = cells[1:]
    return found


def test_the_deployed_version_and_a_shorter_pause_side_by_side(shop: Path, tmp_path: Path) -> None:
    assert {assign_variant("cart-offer-2026", c, VARIANTS) for c in ("ada", "bob")} == {"reminder"}
    faster = tmp_path / "journeys" / "abandoned-cart.yaml"
    faster.parent.mkdir()
    shutil_copy_templates(faster.parent)
    original = (REPO_JOURNEYS / "abandoned-cart.yaml").read_text()
    assert "    wait: 1h\n" in original
    faster.write_text(original.replace("    wait: 1h\n", "    wait: 20m\n"))

    result = simulate(shop, "--since", "30d", "--version", str(faster))

    assert result.returncode == 0, result.stdout + result.stderr
    rows = figures(result.stdout)
    # ada, bob, cy and dee have events in the month; eve's is older.
    assert rows["customers with events"] == ["4", "4"]
    # cy's empty cart does not meet the trigger's `when`; dee never updates a cart.
    assert rows["entered"] == ["2", "2"]
    # bob orders 30 minutes in: during the hour's pause, before any message; with a 20
    # minute pause he gets the reminder first. Both end their runs by the order (exit).
    assert rows["message email cart-reminder (sent)"] == ["1", "2"]
    assert rows["ended exited"] == ["1", "1"]
    assert rows["ended completed"] == ["1", "1"]
    assert rows["reached plain-reminder"] == ["1", "2"]
    assert rows["reached make-coupon"] == ["0", "0"]
    # bob's order is the goal in both; with the hour's pause he leaves before the split,
    # so the deployed version counts him in no variant.
    assert rows["converted"] == ["1", "1"]
    assert rows["goal value"] == ["35", "35"]
    assert rows["variant reminder: entered / sent / converted"] == ["1 / 1 / 0", "2 / 2 / 1"]
    assert "nothing was sent or stored" in result.stdout


def test_nothing_is_stored_in_the_real_store(shop: Path) -> None:
    result = simulate(shop, "--since", "30d")
    assert result.returncode == 0, result.stdout + result.stderr
    store = Store.open(f"sqlite:///{shop}")
    try:
        assert store.get_runs(limit=10) == []
        assert store.messages_for(customer_id="ada") == []
    finally:
        store.dispose()


def test_an_unknown_journey_or_a_bad_period_is_a_message(shop: Path) -> None:
    result = subprocess.run(
        [str(CXFLOW), "simulate", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CXFLOW_DATABASE_URL": f"sqlite:///{shop}"},
    )
    assert result.returncode == 2
    assert "journey 'nope' is not deployed: `cxflow journeys list` shows the ids" in result.stderr
    bad = simulate(shop, "--since", "a month")
    assert bad.returncode == 2
    assert "--since: 'a month' is not a duration" in bad.stderr
