"""`value:` segment conditions on the lifetime value figures: checked with codes, decided on
SQLite and PostgreSQL when an order arrives and by the scheduled refresh as days pass,
entered through the running engine; and the value of each segment's members."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from dsl.segment_loader import load_segment_text
from engine.analytics.segment_value import SegmentValue, segment_value_report
from engine.segments.evaluation import RefreshProgress, SegmentEngine, refresh_segments
from engine.store import Store
from tests.api.conftest import ApiServer
from tests.cli.conftest import cxflow_on
from tests.runtime.conftest import Engine, compiled_text
from tests.segments.conftest import NOW, add_event, segment
from workflows.ids import workflow_id_for

ASYNC = pytest.mark.asyncio(loop_scope="session")
DAY = timedelta(days=1)
HEAD = "segment: s\nname: S\nmatch: "

REPEAT = "segment: repeat\nname: Repeat buyers\nmatch: { value: orders, at_least: 2 }\n"
LAPSED = """\
segment: lapsed
name: Lapsed buyers
match: { value: days_since_last_order, at_least: 90 }
"""


# --- the language --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "code", "fragment"),
    [
        ("{value: orders}", "value_test_count", "write exactly one test for `value: orders`"),
        (
            "{value: revenue, greater_than: 5, at_most: 9}",
            "value_test_count",
            "found `greater_than`, `at_most`",
        ),
        ("{value: repeat, equals: 1}", "value_test_mismatch", "write `is: true` or `is: false`"),
        ("{value: aov, is: true}", "value_test_mismatch", "`aov` is a number"),
        ("{value: order, at_least: 2}", "choice_invalid", "write one of 'orders', 'revenue'"),
        ("{value: repeat, is: 'yes'}", "type_invalid", "must be true or false"),
        ("{value: orders, gte: 2}", "field_unknown", "unknown key `gte`"),
        ("{valeu: orders, at_least: 2}", "condition_kind_missing", "did you mean `value`?"),
    ],
)
def test_bad_value_conditions_get_codes_and_say_what_to_write(
    condition: str, code: str, fragment: str
) -> None:
    result = load_segment_text(HEAD + condition + "\n", "s.yaml")
    assert result.compiled is None
    [diagnostic] = result.diagnostics
    assert (diagnostic.code, diagnostic.line) == (code, 3)
    assert fragment in diagnostic.message


def test_value_conditions_depend_on_orders_and_the_clock_only_for_days_since() -> None:
    repeat = segment(REPEAT)
    assert repeat.depends_on.events == ["Order Completed", "order.completed"]
    assert (repeat.depends_on.traits, repeat.depends_on.time) == (False, False)
    assert repeat.affected_by("order.completed") and not repeat.affected_by("page.viewed")
    assert segment(LAPSED).depends_on.time is True
    nested = segment(
        HEAD + "{ all: [{trait: plan, equals: pro}, {not: {value: repeat, is: true}}] }\n"
    )
    assert (nested.depends_on.traits, nested.depends_on.time) == (True, False)


# --- decided in the store ------------------------------------------------------------------

DEFINITIONS = {
    "repeat": REPEAT,
    "big": "segment: big\nname: Big\nmatch: { value: revenue, greater_than: 500 }\n",
    "one-time": "segment: one-time\nname: One\nmatch: { not: { value: repeat, is: true } }\n",
    "high-aov": "segment: high-aov\nname: AOV\nmatch: { value: aov, at_least: 200 }\n",
    "frequent": "segment: frequent\nname: F\nmatch: { value: days_between_orders, at_most: 7 }\n",
}


def _orders(store: Store, customer: str, *orders: tuple[timedelta, str, float]) -> None:
    for ago, order_id, total in orders:
        add_event(store, customer, "order.completed", ago, order_id=order_id, total=total)


def test_an_order_moves_customers_between_value_segments(store: Store) -> None:
    for text in DEFINITIONS.values():
        store.deploy_segment(segment(text))
    engine = SegmentEngine(store)

    _orders(store, "ada", (10 * DAY, "A1", 450.0))
    first = engine.on_event("ada", "order.completed", NOW)
    assert first.entered == {"one-time", "high-aov"}  # 450 / 1; no second order yet

    _orders(store, "ada", (10 * DAY, "A1", 450.0))  # the same order reported again
    again = engine.on_event("ada", "order.completed", NOW)
    assert (again.entered, again.left) == (set(), set())

    _orders(store, "ada", (6 * DAY, "A2", 150.0))
    second = engine.on_event("ada", "order.completed", NOW)
    # 2 orders, 600 revenue, AOV 300, 4 days between them
    assert second.entered == {"repeat", "big", "frequent"}
    assert second.left == {"one-time"}
    customer = store.get_customer("ada")
    assert customer is not None
    assert customer.segments == ["big", "frequent", "high-aov", "repeat"]

    store.upsert_customer("bob")  # never ordered: no figure holds but `not repeat`
    assert engine.recompute("bob", engine.definitions(), NOW).entered == {"one-time"}


async def _no_journeys(customer: str, segments: set[str]) -> list[str]:
    return []


@ASYNC
async def test_the_refresh_moves_customers_as_days_pass_since_their_last_order(
    store: Store,
) -> None:
    store.deploy_segment(segment(LAPSED))
    store.deploy_segment(segment(REPEAT))  # not time-dependent: the refresh leaves it alone
    _orders(store, "ada", (100 * DAY, "A1", 20.0))
    _orders(store, "cy", (5 * DAY, "C1", 20.0))
    store.upsert_customer("dee")  # never ordered: no days since an order
    engine = SegmentEngine(store)

    earlier = await refresh_segments(engine, _no_journeys, now=NOW - 20 * DAY)  # 80 days
    assert (earlier.customers, earlier.entered) == (3, 0)
    assert store.segment_members("lapsed") == []

    done = await refresh_segments(engine, _no_journeys, RefreshProgress(), now=NOW)
    assert (done.entered, done.left) == (1, 0)
    assert store.segment_members("lapsed") == ["ada"]

    _orders(store, "ada", (DAY, "A2", 20.0))  # Ada orders again: she is back at once
    change = engine.on_event("ada", "order.completed", NOW)
    assert change.left == {"lapsed"} and change.entered == {"repeat"}


# --- the value of each segment -------------------------------------------------------------


def test_each_segments_value_is_computed_over_its_members(store: Store) -> None:
    for name, match in (
        ("buyers", "{ performed: order.completed }"),
        ("repeat", "{ value: repeat, is: true }"),
        ("nobody", "{ trait: plan, equals: none }"),
        ("everyone", "{ not: { trait: plan, equals: none } }"),
    ):
        store.deploy_segment(segment(f"segment: {name}\nname: {name.title()}\nmatch: {match}\n"))
    _orders(store, "ada", (9 * DAY, "A1", 30.0), (2 * DAY, "A2", 50.0))  # EUR below
    add_event(store, "ada", "order.completed", 1 * DAY, order_id="A3", total=20, currency="EUR")
    _orders(store, "bob", (3 * DAY, "B1", 100.0))
    add_event(store, "cy", "order.completed", 4 * DAY, order_id="C1", total=60, currency="USD")
    add_event(store, "cy", "order.completed", 2 * DAY, order_id="C2", total=40, currency="USD")
    store.upsert_customer("dee")
    engine = SegmentEngine(store)
    for customer in ("ada", "bob", "cy", "dee"):
        engine.recompute(customer, engine.definitions(), NOW)

    report = {item.segment: item for item in segment_value_report(store).segments}

    assert list(report) == ["buyers", "everyone", "nobody", "repeat"]
    # Ada: 3 orders, 100 EUR; Bob: 1 order, 100 (no currency); Cy: 2 orders, 100 USD.
    assert report["buyers"] == SegmentValue(
        segment="buyers",
        name="Buyers",
        members=3,
        buyers=3,
        repeat_buyers=2,
        repeat_rate=2 / 3,
        orders=6,
        revenue={"": 100.0, "EUR": 100.0, "USD": 100.0},
        aov={"": 100.0, "EUR": 33.33, "USD": 50.0},
    )
    everyone = report["everyone"]
    assert (everyone.members, everyone.buyers, everyone.orders) == (4, 3, 6)  # Dee too
    assert report["repeat"].repeat_rate == 1.0
    assert report["repeat"].revenue == {"EUR": 100.0, "USD": 100.0}
    assert report["nobody"] == SegmentValue(
        segment="nobody",
        name="Nobody",
        members=0,
        buyers=0,
        repeat_buyers=0,
        repeat_rate=None,
        orders=0,
        revenue={},
        aov={},
    )
    assert [s.segment for s in segment_value_report(store, "repeat").segments] == ["repeat"]
    assert segment_value_report(store, "unknown").segments == []


def test_the_value_command_prints_each_segment_and_json(tmp_path: Path) -> None:
    database = tmp_path / "cxflow.db"
    store = Store.open(f"sqlite:///{database}")
    store.deploy_segment(segment(REPEAT))
    store.deploy_segment(segment(LAPSED))
    _orders(store, "ada", (9 * DAY, "A1", 30.0), (2 * DAY, "A2", 50.0))
    SegmentEngine(store).on_event("ada", "order.completed", NOW)
    store.dispose()

    shown = cxflow_on(database, "segments", "value")
    assert shown.returncode == 0, shown.stderr
    rows = [line.split("│")[1:-1] for line in shown.stdout.splitlines() if "│" in line]
    cells = {row[0].strip(): [cell.strip() for cell in row[1:]] for row in rows}
    assert cells["repeat"] == ["1", "1", "2", "80.00", "40.00", "100% (1)"]
    assert cells["lapsed"] == ["0", "0", "0", "-", "-", "-"]
    as_json = json.loads(cxflow_on(database, "segments", "value", "repeat", "--json").stdout)
    assert as_json["segments"][0]["revenue"] == {"": 80.0}
    show = cxflow_on(database, "segments", "show", "repeat", "--customer", "ada")
    assert show.returncode == 0, show.stderr
    assert "value: 1 of 1 members ordered: 2 orders, revenue 80.00, AOV 40.00" in show.stdout
    assert "value orders: 2.0" in show.stdout
    missing = cxflow_on(database, "segments", "value", "vip")
    assert missing.returncode == 2 and "no segment 'vip' is deployed" in missing.stderr


# --- through the running engine and the API -----------------------------------------------

REPEAT_WELCOME = """\
journey: repeat-welcome
name: Welcome, repeat buyer
trigger: { segment: repeat }
steps:
  - id: hello
    send: { channel: console, body: "Order number {{ customer.value.orders }}, thank you" }
"""


@ASYNC
async def test_a_second_order_enters_the_segment_and_starts_its_journey(api: ApiServer) -> None:
    engine: Engine = api.engine
    engine.store.deploy_segment(segment(REPEAT))
    engine.deploy(compiled_text(REPEAT_WELCOME))
    ada = f"ada-{uuid.uuid4()}"
    first = await engine.send(ada, "order.completed", order_id="1", total=40)
    assert first.segments_entered == set()
    duplicate = await engine.send(ada, "order.completed", order_id="1", total=40)
    assert duplicate.segments_entered == set()
    second = await engine.send(ada, "order.completed", order_id="2", total=60)
    assert second.segments_entered == {"repeat"}
    assert second.started == [workflow_id_for("repeat-welcome", ada)]
    await engine.outcome(workflow_id_for("repeat-welcome", ada))
    assert [m["body"] for m in engine.outbox_messages()] == ["Order number 2, thank you"]

    read = engine.store.create_write_key("dashboard", "read")
    async with httpx.AsyncClient(base_url=api.url) as client:
        headers = {"Authorization": f"Bearer {read}"}
        answer = await client.get("/v1/reports/segments", headers=headers)
        assert answer.status_code == 200, answer.text
        [repeat] = answer.json()["segments"]
        assert (repeat["members"], repeat["orders"], repeat["revenue"]) == (1, 2, {"": 100.0})
        one = await client.get("/v1/reports/segments", params={"segment": "nope"}, headers=headers)
        assert one.status_code == 404 and one.json()["code"] == "segment_not_deployed"
        refused = await client.get("/v1/reports/segments", headers=api.headers)  # a write key
        assert refused.status_code in (401, 403)
