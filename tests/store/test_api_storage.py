"""What the event API keeps in the store: write keys (hashed) and identify calls."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from engine.store import EventRecord, Store, StoreError

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def identify(message_id: str, customer: str = "ada", **traits: object) -> EventRecord:
    return EventRecord(
        message_id=message_id,
        customer_id=customer,
        name="identify",
        properties=dict(traits),
        timestamp=T0,
        received_at=T0,
    )


def test_a_write_key_is_shown_once_and_stored_hashed(store: Store) -> None:
    key = store.create_write_key("web-shop")
    assert key.startswith("cxk_") and len(key) == 36
    assert store.check_write_key(key) == "web-shop"
    with store._engine.connect() as connection:
        rows = connection.execute(text("SELECT key_hash, key_prefix FROM write_keys")).all()
    assert len(rows) == 1
    assert key not in rows[0].key_hash and rows[0].key_prefix == key[:8]


def test_unknown_or_malformed_keys_name_no_source(store: Store) -> None:
    key = store.create_write_key("web")
    assert store.check_write_key(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert store.check_write_key("") is None
    assert store.check_write_key("cxk_" + "x" * 1000) is None
    assert store.check_write_key("\x00") is None


def test_sources_can_hold_several_keys_and_are_listed_without_them(store: Store) -> None:
    first = store.create_write_key("web")
    second = store.create_write_key("web")
    store.create_write_key("backend")
    assert first != second
    assert store.check_write_key(first) == store.check_write_key(second) == "web"
    listed = store.write_keys()
    assert [k.source for k in listed] == ["backend", "web", "web"]
    assert {k.key_prefix for k in listed if k.source == "web"} == {first[:8], second[:8]}


@pytest.mark.parametrize("source", ["", "has space", "-dash-first", "x" * 101, "ünï"])
def test_bad_source_names_are_refused(store: Store, source: str) -> None:
    with pytest.raises(StoreError, match="source name"):
        store.create_write_key(source)


def test_identify_merges_traits_once_per_message_id(store: Store) -> None:
    assert store.record_identify(identify("m1", plan="pro"), {"plan": "pro"}, "Europe/Paris")
    assert store.record_identify(identify("m2", seats=3), {"seats": 3})
    # A replay of m1 after m2 must not bring back anything old.
    assert not store.record_identify(identify("m1", plan="free"), {"plan": "free"}, "Asia/Tokyo")
    customer = store.get_customer("ada")
    assert customer is not None
    assert customer.traits == {"plan": "pro", "seats": 3}
    assert customer.timezone == "Europe/Paris"
    assert [e.message_id for e in store.events_for("ada", name="identify")] == ["m2", "m1"]


def test_identify_refuses_an_unknown_timezone_and_stores_nothing(store: Store) -> None:
    with pytest.raises(StoreError, match="timezone"):
        store.record_identify(identify("m1"), {}, "Mars/Olympus")
    assert store.get_customer("ada") is None
    assert store.events_for("ada") == []


def test_concurrent_identifies_of_one_message_id_apply_once(store: Store) -> None:
    barrier = threading.Barrier(8)

    def run(i: int) -> bool:
        barrier.wait()
        return store.record_identify(identify("same", n=i), {"n": i})

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, range(8)))
    assert results.count(True) == 1
    customer = store.get_customer("ada")
    assert customer is not None and customer.traits == {"n": results.index(True)}


def test_unrouted_events_can_leave_out_recent_ones(store: Store) -> None:
    for number, age in enumerate([30, 5, 1]):
        store.record_event(
            EventRecord(
                message_id=f"e{number}",
                customer_id="ada",
                name="x",
                properties={},
                timestamp=T0,
                received_at=T0 - timedelta(seconds=age),
            )
        )
    older = store.unrouted_events(received_before=T0 - timedelta(seconds=2))
    assert [e.message_id for e in older] == ["e0", "e1"]
    assert len(store.unrouted_events()) == 3
