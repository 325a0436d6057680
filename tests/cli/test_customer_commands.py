"""`cxflow customers show|timeline|search|export|merges|merge|unmerge` and `keys origins`,
run as a user does: in a subprocess, on a store file filled through the store's own calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.store import EventRecord, IncomingCall, Store
from tests.cli.conftest import cxflow_on

NOW = datetime.now(UTC)


def call(
    message_id: str,
    name: str,
    *,
    user: str | None = None,
    anonymous: str | None = None,
    call_type: str = "track",
    minutes_ago: int = 0,
    **extra: object,
) -> IncomingCall:
    event = EventRecord(
        message_id=message_id,
        customer_id=user or anonymous or "",
        name=name,
        properties=dict(extra.pop("properties", {})),  # type: ignore[call-overload]
        timestamp=NOW - timedelta(minutes=minutes_ago),
        received_at=NOW,
        call_type=call_type,  # type: ignore[arg-type]
        user_id=user,
        anonymous_id=anonymous,
    )
    return IncomingCall(event=event, **extra)  # type: ignore[arg-type]


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Path]:
    """Ada browsed anonymously, then identified; she ordered once. Bob is someone else."""
    path = tmp_path / "cxflow.db"
    store = Store.open(f"sqlite:///{path}")
    store.events.record_calls(
        [
            call(
                "p1",
                "page.viewed",
                anonymous="visitor-1",
                call_type="page",
                minutes_ago=30,
                properties={"path": "/pricing"},
            ),
            call(
                "i1",
                "identify",
                user="ada",
                anonymous="visitor-1",
                call_type="identify",
                minutes_ago=20,
                traits={"email": "ada@example.com", "name": "Ada"},
            ),
            call(
                "o1",
                "order.completed",
                user="ada",
                minutes_ago=10,
                properties={"total": 42.5, "order_id": "A1"},
            ),
            call(
                "i2",
                "identify",
                user="bob",
                call_type="identify",
                traits={"email": "bob@example.org"},
            ),
        ]
    )
    store.dispose()
    yield path


def test_show_prints_the_merged_profile_and_json(database: Path) -> None:
    shown = cxflow_on(database, "customers", "show", "ada")
    assert shown.returncode == 0, shown.stderr
    assert "3 events, 1 page views, 1 orders, revenue 42.5" in shown.stdout
    assert "also known as: visitor-1 (merged)" in shown.stdout
    as_json = json.loads(cxflow_on(database, "customers", "show", "visitor-1", "--json").stdout)
    assert as_json["id"] == "ada" and as_json["traits"]["email"] == "ada@example.com"


def test_timeline_pages_newest_first(database: Path) -> None:
    first = cxflow_on(
        database,
        "customers",
        "timeline",
        "ada",
        "--kind",
        "event",
        "--kind",
        "page",
        "--limit",
        "1",
        "--json",
    )
    page = json.loads(first.stdout)
    assert [e["title"] for e in page["entries"]] == ["order.completed"]
    rest = json.loads(
        cxflow_on(
            database,
            "customers",
            "timeline",
            "ada",
            "--kind",
            "event",
            "--kind",
            "page",
            "--cursor",
            page["next_cursor"],
            "--json",
        ).stdout
    )
    assert [e["title"] for e in rest["entries"]] == ["viewed page /pricing"]
    assert rest["next_cursor"] is None
    bad = cxflow_on(database, "customers", "timeline", "ada", "--cursor", "nonsense")
    assert bad.returncode != 0 and "the cursor is not one this API gave" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_search_and_export(database: Path, tmp_path: Path) -> None:
    found = cxflow_on(database, "customers", "search", "example.org")
    assert "bob" in found.stdout and "ada" not in found.stdout
    target = tmp_path / "ada.json"
    exported = cxflow_on(database, "customers", "export", "ada", "--output", str(target))
    assert exported.returncode == 0, exported.stderr
    data = json.loads(target.read_text())
    assert sorted(e["message_id"] for e in data["events"]) == ["i1", "o1", "p1"]
    missing = cxflow_on(database, "customers", "export", "nobody")
    assert missing.returncode != 0 and "no customer 'nobody'" in missing.stderr


def test_an_operator_merges_two_known_ids_and_undoes_it(database: Path) -> None:
    merged = cxflow_on(database, "customers", "merge", "bob", "ada", "--yes")
    assert merged.returncode == 0, merged.stderr
    number = merged.stdout.split("#")[1].split(":")[0]
    listing = cxflow_on(database, "customers", "merges", "ada")
    assert "bob" in listing.stdout and "operator" in listing.stdout
    undone = cxflow_on(database, "customers", "unmerge", number, "--yes")
    assert undone.returncode == 0 and "reverted" in undone.stdout
    store = Store.open(f"sqlite:///{database}")
    try:
        bob = store.get_customer("bob")
        assert bob is not None and bob.traits == {"email": "bob@example.org"}
        assert [e.message_id for e in store.events_for("bob")] == ["i2"]
    finally:
        store.dispose()


def test_keys_origins_adds_lists_and_refuses_a_path(database: Path) -> None:
    added = cxflow_on(database, "keys", "origins", "web", "--add", "https://Shop.example.com:443")
    assert added.stdout.split() == ["https://shop.example.com"]  # as browsers send it
    wrong = cxflow_on(database, "keys", "origins", "web", "--add", "https://shop.example.com/cart")
    assert wrong.returncode != 0 and "is not a web origin" in wrong.stderr
    removed = cxflow_on(database, "keys", "origins", "web", "--remove", "https://shop.example.com")
    assert "no browser origin may send events of web" in removed.stdout
