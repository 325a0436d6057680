"""Event aggregates, membership recomputation and definitions in the store, on SQLite and
PostgreSQL (the `store` fixture runs each test on both)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from dsl.segment_models import AggregateSpec
from engine.segments.evaluation import SegmentEngine
from engine.store import Store
from tests.segments.conftest import NOW, add_event, segment

DAY = timedelta(days=1)


def spec(
    function: str, event: str, prop: str | None = None, days: int | None = None
) -> AggregateSpec:
    return AggregateSpec(
        function=function,  # type: ignore[arg-type]
        event=event,
        property=prop,
        window_seconds=None if days is None else days * 86400,
    )


def test_aggregates_over_windows_in_one_query(store: Store) -> None:
    add_event(store, "ada", "order.completed", 1 * DAY, total=100)
    add_event(store, "ada", "order.completed", 10 * DAY, total=50.5)
    add_event(store, "ada", "order.completed", 40 * DAY, total=400)
    add_event(store, "ada", "order.completed", 2 * DAY, total="999")  # text: not a number
    add_event(store, "ada", "order.completed", 3 * DAY, total=True)  # neither
    add_event(store, "ada", "order.completed", 4 * DAY)  # no total
    add_event(store, "ada", "page.viewed", 1 * DAY, total=7)  # another event
    add_event(store, "bob", "order.completed", 1 * DAY, total=1000)  # another customer
    specs = [
        spec("count", "order.completed"),
        spec("count", "order.completed", days=30),
        spec("sum", "order.completed", "total", 30),
        spec("sum", "order.completed", "total"),
        spec("average", "order.completed", "total", 30),
        spec("min", "order.completed", "total"),
        spec("max", "order.completed", "total", 30),
        spec("count", "never.sent"),
        spec("sum", "never.sent", "total"),
        spec("average", "never.sent", "total"),
    ]
    values = store.event_aggregates("ada", specs, NOW)
    assert [values[s] for s in specs] == [6, 5, 150.5, 550.5, 75.25, 50.5, 100, 0, 0, None]


def test_nested_properties_and_the_window_edge(store: Store) -> None:
    add_event(store, "ada", "cart.updated", 30 * DAY, cart={"value": 20})
    add_event(store, "ada", "cart.updated", 30 * DAY + timedelta(seconds=1), cart={"value": 5})
    values = store.event_aggregates("ada", [spec("sum", "cart.updated", "cart.value", 30)], NOW)
    assert list(values.values()) == [20]  # exactly 30 days ago is inside


VIP = """\
segment: vip
name: VIP
match:
  any:
    - { sum: total, of: order.completed, within: 90d, greater_than: 500 }
    - { trait: vip, equals: true }
"""
REPEAT = """\
segment: repeat
name: Repeat buyers
match: { count: order.completed, within: 30d, at_least: 2 }
"""
STAFF = "segment: staff\nname: Staff\nmatch: { trait: email, matches: '@shop\\.example$' }\n"


def test_recompute_enters_and_leaves_only_the_segments_asked_for(store: Store) -> None:
    vip, repeat, staff = segment(VIP), segment(REPEAT), segment(STAFF)
    engine = SegmentEngine(store)
    store.set_segments("ada", {"staff", "old-manual"})
    add_event(store, "ada", "order.completed", 1 * DAY, total=300)
    change = engine.recompute("ada", [vip, repeat], NOW)
    assert (change.entered, change.left) == (set(), set())
    add_event(store, "ada", "order.completed", 2 * DAY, total=250)
    change = engine.recompute("ada", [vip, repeat], NOW)
    assert (change.entered, change.left) == ({"vip", "repeat"}, set())
    customer = store.get_customer("ada")
    assert customer is not None
    assert customer.segments == ["old-manual", "repeat", "staff", "vip"]  # others untouched
    change = engine.recompute("ada", [vip, repeat, staff], NOW + 31 * DAY)
    assert (change.entered, change.left) == (set(), {"repeat", "staff"})
    change = engine.recompute("ada", [vip, repeat, staff], NOW + 31 * DAY)
    assert (change.entered, change.left) == (set(), set())  # nothing new: nothing recorded
    history = [(c.segment, c.change) for c in store.segment_changes(customer_id="ada")]
    assert history == [
        ("staff", "left"),
        ("repeat", "left"),
        ("vip", "entered"),
        ("repeat", "entered"),
    ]
    assert [c.customer_id for c in store.segment_changes(segment="vip")] == ["ada"]


def test_deployed_definitions_are_reloaded_when_they_change(store: Store) -> None:
    engine = SegmentEngine(store)
    assert engine.definitions() == []
    assert store.deploy_segment(segment(REPEAT), source="segments/repeat.yaml")
    assert not store.deploy_segment(segment(REPEAT))  # same version: unchanged
    assert [s.id for s in engine.definitions()] == ["repeat"]
    stricter = segment(REPEAT.replace("at_least: 2", "at_least: 3"))
    assert store.deploy_segment(stricter)
    [reloaded] = engine.definitions()
    assert reloaded == stricter and reloaded.version != segment(REPEAT).version
    assert [s.id for s in engine.affected_by("order.completed")] == ["repeat"]
    assert engine.affected_by("identify") == []
    store.deploy_segment(segment(STAFF))
    assert [s.id for s in engine.affected_by("identify")] == ["staff"]


def test_summaries_count_members(store: Store) -> None:
    store.deploy_segment(segment(VIP), source="segments/vip.yaml")
    store.deploy_segment(segment(STAFF))
    store.set_segments("ada", {"vip"})
    store.set_segments("bob", {"vip"})
    summaries = {s.segment.id: (s.members, s.source) for s in store.segment_summaries()}
    assert summaries == {"vip": (2, "segments/vip.yaml"), "staff": (0, None)}


def test_customer_pages_cover_everyone_once(store: Store) -> None:
    for name in ("c", "a", "e", "b", "d"):
        store.upsert_customer(name)
    assert store.customer_ids(limit=2) == ["a", "b"]
    assert store.customer_ids("b", 2) == ["c", "d"]
    assert store.customer_ids("d", 2) == ["e"]
    assert store.customer_ids("e", 2) == []


def test_the_aggregate_query_uses_the_customer_event_index(store: Store) -> None:
    """The (customer_id, name, timestamp) index keeps the cost per event independent of the
    other customers' events."""
    specs = [spec("count", "order.completed", days=30), spec("sum", "order.completed", "total")]
    captured: list[str] = []
    engine = store._engine
    from sqlalchemy import event

    def capture(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if "events" in statement and "count" in statement.lower():
            captured.append(statement)
            captured.append(parameters)

    event.listen(engine, "before_cursor_execute", capture)
    try:
        store.event_aggregates("ada", specs, NOW)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = captured[0], captured[1]
    with engine.connect() as connection:
        if store.dialect == "sqlite":
            plan = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            assert "ix_events_customer_id_name_timestamp" in str(plan), plan
        else:
            connection.execute(text("SET enable_seqscan = off"))
            plan = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
            assert "ix_events_customer_id_name_timestamp" in str(plan), plan
