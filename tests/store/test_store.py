"""The store's behaviour, identical on SQLite and PostgreSQL (see conftest.py)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

import pytest
from pydantic import ValidationError

from dsl.compiled import CompiledJourney
from engine.store import (
    ConversionRecord,
    EventRecord,
    RunRecord,
    Store,
    StoreError,
)

T = TypeVar("T")
THREADS = 8
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def at_once(work: Callable[[int], T], threads: int = THREADS) -> list[T]:
    """Run ``work(i)`` in ``threads`` threads released together by a barrier."""
    barrier = threading.Barrier(threads)

    def run(i: int) -> T:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(run, range(threads)))


def make_event(message_id: str, name: str = "cart_updated", **changes: object) -> EventRecord:
    fields: dict[str, object] = {
        "message_id": message_id,
        "customer_id": "c1",
        "name": name,
        "properties": {"total": 42.5, "items": [{"sku": "A1"}]},
        "timestamp": T0,
        "received_at": T0 + timedelta(seconds=1),
    }
    fields.update(changes)
    return EventRecord.model_validate(fields)


def make_run(workflow_id: str = "wf-1", run_id: str = "run-1", **changes: object) -> RunRecord:
    fields: dict[str, object] = {
        "workflow_id": workflow_id,
        "run_id": run_id,
        "journey_id": "abandoned-cart",
        "version": "v1",
        "customer_id": "c1",
        "status": "running",
        "current_step": None,
        "started_at": T0,
        "ended_at": None,
        "variant": None,
        "exit_reason": None,
        "trigger_message_id": "m-1",
    }
    fields.update(changes)
    return RunRecord.model_validate(fields)


def other_version(journey: CompiledJourney, version: str) -> CompiledJourney:
    return journey.model_copy(update={"version": version, "name": f"{journey.name} {version}"})


# --- customers ----------------------------------------------------------------------------


def test_upsert_merges_traits_shallowly_and_keeps_the_timezone(store: Store) -> None:
    first = store.upsert_customer(
        "c1", {"plan": "free", "address": {"city": "Lyon"}}, "Europe/Paris"
    )
    assert first.traits == {"plan": "free", "address": {"city": "Lyon"}}
    assert first.timezone == "Europe/Paris"
    assert first.created_at == first.updated_at

    second = store.upsert_customer("c1", {"plan": "pro", "address": {"zip": "69001"}})
    assert second.traits == {"plan": "pro", "address": {"zip": "69001"}}
    assert second.timezone == "Europe/Paris"
    assert second.created_at == first.created_at
    assert second.updated_at >= first.updated_at

    third = store.upsert_customer("c1", timezone="America/New_York")
    assert third.timezone == "America/New_York"
    assert store.get_customer("c1") == third


def test_get_customer_unknown_is_none(store: Store) -> None:
    assert store.get_customer("nobody") is None


def test_update_traits_sets_unsets_and_creates(store: Store) -> None:
    created = store.update_traits("new", {"vip": True}, ["absent"])
    assert created.traits == {"vip": True}
    assert created.timezone is None

    store.upsert_customer("c1", {"a": 1, "b": 2, "c": 3})
    updated = store.update_traits("c1", {"a": 10, "d": None}, ["b", "c"])
    assert updated.traits == {"a": 10, "d": None}


def test_update_traits_unset_wins_over_set(store: Store) -> None:
    assert store.update_traits("c1", {"a": 1}, ["a"]).traits == {}


def test_concurrent_trait_updates_lose_nothing(store: Store) -> None:
    at_once(lambda i: store.update_traits("c1", {f"t{i}": i}, []))
    customer = store.get_customer("c1")
    assert customer is not None
    assert customer.traits == {f"t{i}": i for i in range(THREADS)}


def test_bad_traits_and_timezone_are_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="traits must be JSON values: when"):
        store.upsert_customer("c1", {"when": datetime.now(UTC)})
    with pytest.raises(StoreError, match="unknown timezone 'Mars/Olympus'"):
        store.upsert_customer("c1", timezone="Mars/Olympus")
    assert store.get_customer("c1") is None


def test_segments_entered_and_left(store: Store) -> None:
    assert store.set_segments("c1", {"vip", "cart"}) == ({"vip", "cart"}, set())
    assert store.set_segments("c1", {"vip", "churn"}) == ({"churn"}, {"cart"})
    assert store.set_segments("c1", {"vip", "churn"}) == (set(), set())
    store.set_segments("c2", {"vip"})

    customer = store.get_customer("c1")
    assert customer is not None
    assert customer.segments == ["churn", "vip"]
    assert store.segment_members("vip") == ["c1", "c2"]
    assert store.segment_members("cart") == []

    assert store.set_segments("c1", set()) == (set(), {"churn", "vip"})
    assert store.segment_members("vip") == ["c2"]


def test_segments_keep_traits(store: Store) -> None:
    store.upsert_customer("c1", {"plan": "pro"}, "UTC")
    store.set_segments("c1", {"vip"})
    customer = store.get_customer("c1")
    assert customer is not None
    assert (customer.traits, customer.timezone, customer.segments) == (
        {"plan": "pro"},
        "UTC",
        ["vip"],
    )


# --- events -------------------------------------------------------------------------------


def test_record_event_dedupes_on_message_id(store: Store) -> None:
    assert store.record_event(make_event("m-1")) is True
    assert store.record_event(make_event("m-1", name="other", properties={})) is False
    [stored] = store.events_for("c1")
    assert stored == make_event("m-1", user_id="c1")  # stored by id alone: a known customer


def test_record_event_concurrently_inserts_once(store: Store) -> None:
    results = at_once(lambda _: store.record_event(make_event("m-same")))
    assert sorted(results) == [False] * (THREADS - 1) + [True]
    assert len(store.events_for("c1")) == 1


def test_events_for_newest_first_filtered_and_limited(store: Store) -> None:
    for i in range(5):
        store.record_event(make_event(f"m-{i}", timestamp=T0 + timedelta(minutes=i)))
    store.record_event(
        make_event("m-order", name="order_placed", timestamp=T0 + timedelta(hours=1))
    )
    store.record_event(make_event("m-other", customer_id="c2"))

    assert [e.message_id for e in store.events_for("c1")] == [
        "m-order",
        "m-4",
        "m-3",
        "m-2",
        "m-1",
        "m-0",
    ]
    assert [e.message_id for e in store.events_for("c1", "cart_updated", limit=2)] == ["m-4", "m-3"]
    assert [e.message_id for e in store.events_for("c1", "order_placed")] == ["m-order"]
    assert store.events_for("nobody") == []
    with pytest.raises(StoreError, match="limit"):
        store.events_for("c1", limit=0)


# --- journeys -----------------------------------------------------------------------------


def test_deploy_keeps_every_version_with_one_active(store: Store, journey: CompiledJourney) -> None:
    v2 = other_version(journey, "v2")
    assert store.deploy_journey(journey, source="yaml 1") is True
    assert store.deploy_journey(journey) is False
    assert store.deploy_journey(v2) is True

    assert store.get_journey(journey.id) == v2
    assert store.get_journey(journey.id, journey.version) == journey
    assert store.get_journey(journey.id, "nope") is None
    assert store.get_journey("nope") is None
    assert store.active_journeys() == [v2]
    versions = store.journey_versions(journey.id)
    assert [(v.version, v.active) for v in versions] == [("v2", True), (journey.version, False)]
    assert versions[0].deployed_at >= versions[1].deployed_at

    # Deploying an old version again rolls back to it.
    assert store.deploy_journey(journey) is True
    assert store.get_journey(journey.id) == journey
    assert [(v.version, v.active) for v in store.journey_versions(journey.id)] == [
        (journey.version, True),
        ("v2", False),
    ]


def test_active_journeys_one_per_journey(store: Store, journey: CompiledJourney) -> None:
    other = journey.model_copy(update={"id": "another"})
    store.deploy_journey(other)
    store.deploy_journey(journey)
    store.deploy_journey(other_version(journey, "v2"))
    assert [(j.id, j.version) for j in store.active_journeys()] == [
        ("abandoned-cart", "v2"),
        ("another", journey.version),
    ]
    assert store.journey_versions("unknown") == []


def test_concurrent_deploys_leave_exactly_one_active(
    store: Store, journey: CompiledJourney
) -> None:
    versions = [other_version(journey, f"v{i}") for i in range(THREADS)]
    assert all(at_once(lambda i: store.deploy_journey(versions[i])))
    active = [v for v in store.journey_versions(journey.id) if v.active]
    assert len(active) == 1
    assert len(store.journey_versions(journey.id)) == THREADS
    assert store.get_journey(journey.id) is not None


# --- runs ---------------------------------------------------------------------------------


def test_run_lifecycle(store: Store) -> None:
    store.run_started(make_run())
    store.run_step("wf-1", "run-1", "wait_1h")
    [running] = store.get_runs()
    assert (running.status, running.current_step, running.ended_at) == ("running", "wait_1h", None)

    ended = T0 + timedelta(hours=2)
    store.run_finished("wf-1", "run-1", "exited", reason="order_placed", ended_at=ended)
    [finished] = store.get_runs()
    assert finished == make_run(
        status="exited", current_step="wait_1h", ended_at=ended, exit_reason="order_placed"
    )

    # The first end wins; steps after the end are ignored.
    store.run_finished("wf-1", "run-1", "failed", reason="late")
    store.run_step("wf-1", "run-1", "late_step")
    assert store.get_runs() == [finished]


def test_run_variant_is_recorded(store: Store) -> None:
    store.run_started(make_run())
    store.run_variant("wf-1", "run-1", "B")
    store.run_variant("nope", "nope", "A")
    assert [run.variant for run in store.get_runs()] == ["B"]


def test_run_finished_without_ended_at_uses_now(store: Store) -> None:
    store.run_started(make_run())
    before = datetime.now(UTC)
    store.run_finished("wf-1", "run-1", "completed")
    [run] = store.get_runs()
    assert run.status == "completed"
    assert run.ended_at is not None
    assert before <= run.ended_at <= datetime.now(UTC)


def test_run_started_is_idempotent(store: Store) -> None:
    store.run_started(make_run())
    store.run_started(make_run(current_step="ignored"))
    at_once(lambda _: store.run_started(make_run()))
    assert store.get_runs() == [make_run()]


def test_unknown_runs_are_ignored_and_bad_status_refused(store: Store) -> None:
    store.run_step("nope", "nope", "s")
    store.run_finished("nope", "nope", "completed")
    assert store.get_runs() == []
    store.run_started(make_run())
    with pytest.raises(StoreError, match="must be one of completed, exited, failed"):
        store.run_finished("wf-1", "run-1", "running")
    with pytest.raises(StoreError, match="timezone-aware"):
        store.run_finished("wf-1", "run-1", "completed", ended_at=datetime(2025, 1, 1))


def test_get_runs_filters_and_orders(store: Store) -> None:
    store.run_started(make_run("wf-1", "r1", started_at=T0))
    store.run_started(make_run("wf-1", "r2", started_at=T0 + timedelta(days=1)))
    store.run_started(make_run("wf-2", "r3", customer_id="c2", started_at=T0 + timedelta(days=2)))
    store.run_started(
        make_run("wf-3", "r4", journey_id="welcome", started_at=T0 + timedelta(days=3))
    )
    store.run_finished("wf-1", "r1", "completed")

    def ids(runs: list[RunRecord]) -> list[str]:
        return [r.run_id for r in runs]

    assert ids(store.get_runs()) == ["r4", "r3", "r2", "r1"]
    assert ids(store.get_runs(journey_id="abandoned-cart")) == ["r3", "r2", "r1"]
    assert ids(store.get_runs(customer_id="c1")) == ["r4", "r2", "r1"]
    assert ids(store.get_runs(status="running", customer_id="c1")) == ["r4", "r2"]
    assert ids(store.get_runs(status="completed")) == ["r1"]
    assert ids(store.get_runs(limit=2)) == ["r4", "r3"]


def test_last_entry(store: Store) -> None:
    assert store.last_entry("abandoned-cart", "c1") is None
    store.run_started(make_run("wf-1", "r1", started_at=T0 + timedelta(days=1)))
    store.run_started(make_run("wf-1", "r2", started_at=T0))
    store.run_started(make_run("wf-2", "r3", customer_id="c2", started_at=T0 + timedelta(days=5)))
    store.run_started(make_run("wf-3", "r4", journey_id="other", started_at=T0 + timedelta(days=9)))
    assert store.last_entry("abandoned-cart", "c1") == T0 + timedelta(days=1)


# --- message log --------------------------------------------------------------------------


def test_claim_is_idempotent_and_completion_persists(store: Store) -> None:
    claimed = store.claim_message("k1", "wf-1", "send_email", "email", "c1")
    assert (claimed.status, claimed.detail, claimed.completed_at) == ("pending", {}, None)
    assert store.claim_message("k1", "wf-other", "other", "sms", "c9") == claimed

    done = store.complete_message("k1", "sent", {"provider_id": "abc"})
    assert (done.status, done.detail) == ("sent", {"provider_id": "abc"})
    assert done.completed_at is not None
    assert done.created_at == claimed.created_at
    assert store.claim_message("k1", "wf-1", "send_email", "email", "c1") == done
    assert store.get_message("k1") == done
    assert store.get_message("nope") is None


def test_concurrent_claims_share_one_row(store: Store) -> None:
    claims = at_once(lambda i: store.claim_message("k1", f"wf-{i}", "send", "email", "c1"))
    assert all(claim == claims[0] for claim in claims)
    assert len(store.messages_for("c1")) == 1


def test_complete_message_misuse(store: Store) -> None:
    with pytest.raises(StoreError, match="claim_message it first"):
        store.complete_message("nope", "sent", {})
    store.claim_message("k1", "wf-1", "send", "email", "c1")
    with pytest.raises(StoreError, match="must be one of sent, skipped, failed"):
        store.complete_message("k1", "pending", {})


def test_messages_for_filters(store: Store) -> None:
    store.claim_message("k1", "wf-1", "s1", "email", "c1")
    store.claim_message("k2", "wf-2", "s1", "email", "c1")
    store.claim_message("k3", "wf-3", "s1", "sms", "c2")
    assert [m.key for m in store.messages_for(customer_id="c1")] == ["k2", "k1"]
    assert [m.key for m in store.messages_for(workflow_id="wf-3")] == ["k3"]
    assert [m.key for m in store.messages_for(customer_id="c1", workflow_id="wf-3")] == []
    assert {m.key for m in store.messages_for()} == {"k1", "k2", "k3"}


def test_sent_count_since_windows_and_channels(store: Store) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    for key, channel, status in [
        ("k1", "email", "sent"),
        ("k2", "email", "sent"),
        ("k3", "sms", "sent"),
        ("k4", "email", "failed"),
        ("k5", "email", "skipped"),
        ("k8", "shop.create_discount", "sent"),  # a connector call, not a message
    ]:
        store.claim_message(key, "wf-1", key, channel, "c1")
        store.complete_message(key, status, {})
    store.claim_message("k6", "wf-1", "k6", "email", "c1")  # still pending
    store.claim_message("k7", "wf-2", "k7", "email", "c2")
    store.complete_message("k7", "sent", {})

    assert store.sent_count_since("c1", before) == 3
    assert store.sent_count_since("c1", before, ["email"]) == 2
    assert store.sent_count_since("c1", before, ["sms", "push"]) == 1
    assert store.sent_count_since("c1", before, []) == 0
    assert store.sent_count_since("c1", datetime.now(UTC) + timedelta(seconds=1)) == 0
    # The window is an instant: any offset means the same moment.
    paris = timezone(timedelta(hours=1))
    assert store.sent_count_since("c1", before.astimezone(paris)) == 3
    with pytest.raises(StoreError, match="timezone-aware"):
        store.sent_count_since("c1", datetime(2025, 1, 1))


# --- experiments --------------------------------------------------------------------------


def test_assign_variant_is_sticky(store: Store) -> None:
    assert store.assign_variant("subject-test", "c1", "A") == "A"
    assert store.assign_variant("subject-test", "c1", "B") == "A"
    assert store.assign_variant("subject-test", "c2", "B") == "B"
    assert store.assign_variant("other-test", "c1", "B") == "B"
    assert store.assignments("subject-test") == {"c1": "A", "c2": "B"}
    assert store.assignments("unknown") == {}


def test_concurrent_assignments_agree(store: Store) -> None:
    chosen = at_once(lambda i: store.assign_variant("exp", "c1", f"variant-{i}"))
    assert len(set(chosen)) == 1
    assert store.assignments("exp") == {"c1": chosen[0]}


# --- goals --------------------------------------------------------------------------------


def test_conversions_are_unique_per_run_and_goal(store: Store) -> None:
    conversion = ConversionRecord(
        workflow_id="wf-1",
        run_id="run-1",
        journey_id="abandoned-cart",
        customer_id="c1",
        goal_event="order_placed",
        message_id="m-9",
        variant="A",
        converted_at=T0,
    )
    assert store.record_conversion(conversion) is True
    assert store.record_conversion(conversion.model_copy(update={"message_id": "m-10"})) is False
    later = conversion.model_copy(
        update={"run_id": "run-2", "variant": None, "converted_at": T0 + timedelta(days=1)}
    )
    assert store.record_conversion(later) is True
    assert store.conversions("abandoned-cart") == [conversion, later]
    assert store.conversions("other") == []


# --- time ---------------------------------------------------------------------------------


def test_datetimes_come_back_aware_utc(store: Store) -> None:
    tokyo = timezone(timedelta(hours=9))
    local = datetime(2025, 6, 1, 9, 30, 15, 123456, tzinfo=tokyo)
    store.record_event(make_event("m-1", timestamp=local, received_at=local))
    store.run_started(make_run(started_at=local))
    [event] = store.events_for("c1")
    [run] = store.get_runs()
    for value in (
        event.timestamp,
        event.received_at,
        run.started_at,
        store.last_entry("abandoned-cart", "c1"),
    ):
        assert value == local
        assert value is not None and value.utcoffset() == timedelta(0)
        assert value.tzinfo == UTC
    customer = store.upsert_customer("c1")
    assert customer.created_at.tzinfo == UTC


def test_naive_datetimes_are_refused_at_the_boundary() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        make_event("m-1", timestamp=datetime(2025, 1, 1))


# --- opening ------------------------------------------------------------------------------


def test_unreachable_postgres_is_a_store_error() -> None:
    with pytest.raises(
        StoreError,
        match=r"cannot open the store at postgresql\+psycopg://u:\*\*\*@127\.0\.0\.1:1/db: ",
    ):
        Store.open("postgresql+psycopg://u:secret@127.0.0.1:1/db")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "cannot open the store at 'not a url'"),
        ("mysql://root@localhost/db", "the 'mysql' backend is not supported"),
        ("sqlite://", "in-memory SQLite"),
        ("sqlite:///:memory:", "in-memory SQLite"),
    ],
)
def test_bad_urls_are_store_errors(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        Store(url)


def test_unwritable_sqlite_path_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot open the store at sqlite:///"):
        Store.open(f"sqlite:///{blocker / 'cxflow.db'}")


def test_search_path_is_for_postgres_only(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="search_path is a PostgreSQL setting"):
        Store(f"sqlite:///{tmp_path / 'x.db'}", search_path="s")
    with pytest.raises(StoreError, match="plain schema name"):
        Store("postgresql+psycopg://postgres@127.0.0.1/test", search_path="a;drop")


def test_sqlite_store_creates_its_folder_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / ".cxflow" / "cxflow.db"
    store = Store(f"sqlite:///{path}")
    assert not path.exists()
    store.migrate()
    store.upsert_customer("c1", {"a": 1})
    store.dispose()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)

    reopened = Store.open(f"sqlite:///{path}")  # migrating again leaves the data alone
    customer = reopened.get_customer("c1")
    reopened.dispose()
    assert customer is not None and customer.traits == {"a": 1}


def test_sqlite_enforces_foreign_keys(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'x.db'}")
    store.set_segments("c1", {"vip"})
    store.dispose()
    # What the store's connections set, checked through one of them.
    with store._engine.connect() as connection:  # the only way to see a connection's pragmas
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    store.dispose()


def test_record_events_stores_a_batch_in_one_transaction(store: Store) -> None:
    store.record_event(make_event("b-0"))
    flags = store.record_events([make_event("b-0"), make_event("b-1"), make_event("b-1")])
    assert flags == [False, True, False]  # stored before, new, repeated within the batch
    with pytest.raises(StoreError, match="event properties"):
        store.record_events([make_event("b-2"), make_event("b-3", properties={"x": {1, 2}})])
    assert {e.message_id for e in store.events_for("c1")} == {"b-0", "b-1"}  # none of the bad batch


def test_an_event_is_found_by_its_message_id(store: Store) -> None:
    store.record_event(make_event("m-found", customer_id="ada"))
    found = store.events.get("m-found")
    assert found is not None and (found.customer_id, found.name) == ("ada", "cart_updated")
    assert store.events.get("m-missing") is None
