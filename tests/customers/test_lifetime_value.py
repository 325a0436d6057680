"""Customer lifetime value: the figures kept from order events, against hand-computed ones,
on SQLite and PostgreSQL; deduplication by order id (a Shopify webhook and the site's
track call for one order), merges and unmerges, the profile, conditions and the CLI."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cel
import pytest
from sqlalchemy import delete, func, insert, select

from engine.runtime.views import customer_view
from engine.store import Store
from engine.store.records import CustomerValue
from engine.store.tables import CustomerValueRow
from tests.cli.conftest import cxflow_on
from tests.customers.conftest import DAY, T0, Client, new_id, order, shopify_order, track
from tests.runtime.conftest import Engine, compiled_text
from workflows.ids import workflow_id_for

ASYNC = pytest.mark.asyncio(loop_scope="session")


def _fill_ada(store: Store) -> None:
    """Five order events that are four orders, worked out by hand below."""
    store.events.record_calls(
        [
            # revenue wins over total; "eur" is EUR; it is the first currency.
            order(T0, user="ada", order_id="A-1", revenue=40, total=45, currency="eur"),
            # The same order reported again (by another source): counts once, adds nothing.
            order(T0 + timedelta(hours=1), user="ada", order_id="A-1", total=45),
            # No order id: an order of its own; no revenue, so its total; no currency: EUR.
            track("Order Completed", T0 + 4 * DAY, user="ada", total=24),
            # A text amount is no value: an order, revenue unchanged.
            order(T0 + 9 * DAY, user="ada", order_id=1003, revenue="12"),
            # Another currency: counted as an order, its value not added.
            order(T0 + 12 * DAY, user="ada", order_id="A-4", revenue=99, currency="USD"),
            # Not an order.
            track("cart.updated", T0 + 13 * DAY, user="ada", total=500),
        ]
    )


ADA = CustomerValue(
    orders=4,
    revenue=64.0,  # 40 + 24
    currency="EUR",
    aov=16.0,  # 64 / 4
    first_order_at=T0,
    last_order_at=T0 + 12 * DAY,
    days_between_orders=4.0,  # 12 days / (4 - 1)
    repeat=True,
)


def test_figures_match_hand_computed_values(store: Store) -> None:
    _fill_ada(store)
    store.events.record_calls([order(T0 + 2 * DAY, user="bob", order_id="B-1", total=10.5)])
    store.upsert_customer("cy", {"email": "cy@example.com"})

    assert store.customer_value.get("ada") == ADA
    assert store.customer_value.get("bob") == CustomerValue(
        orders=1,
        revenue=10.5,
        aov=10.5,
        first_order_at=T0 + 2 * DAY,
        last_order_at=T0 + 2 * DAY,
        days_between_orders=None,  # below two orders
        repeat=False,
    )
    assert store.customer_value.get("cy") == CustomerValue()  # never ordered
    assert store.customer_value.get("nobody") == CustomerValue()
    # Recomputing from the events changes nothing: the kept figures are the events'.
    assert store.customer_value.recompute("ada") == ADA


def test_the_profile_shows_the_figures(store: Store) -> None:
    _fill_ada(store)
    profile = store.profiles.profile("ada")
    assert profile is not None
    assert profile.value == ADA
    # The activity summary counts the same orders and revenue.
    assert (profile.lifetime.orders, profile.lifetime.revenue) == (4, 64.0)
    dumped = profile.model_dump(mode="json")["value"]
    assert dumped["first_order_at"] == "2026-03-01T09:00:00Z"
    assert dumped["days_between_orders"] == 4.0


def test_an_order_counts_once_with_the_first_value_reported(store: Store) -> None:
    first = order(T0, user="ada", order_id="X-1")  # no amount yet
    store.events.record_calls([first])
    assert store.customer_value.get("ada").orders == 1
    assert store.customer_value.get("ada").revenue == 0.0
    store.events.record_calls(
        [
            first,  # the same message again: stored once
            order(T0 + DAY, user="ada", order_id="X-1", total=30, currency="EUR"),
            order(T0 + 2 * DAY, user="ada", order_id="X-1", total=99),
        ]
    )
    value = store.customer_value.get("ada")
    assert (value.orders, value.revenue, value.currency) == (1, 30.0, "EUR")
    assert value.first_order_at == value.last_order_at == T0  # the order's first report


def test_an_order_stored_as_an_event_counts_too(store: Store) -> None:
    """``record_event`` (events stored by id alone, not from a call) keeps them as well."""
    store.record_event(order(T0, user="ada", total=5).event)
    assert store.customer_value.get("ada").revenue == 5.0


def test_values_no_order_can_have_add_nothing_and_never_fail_the_store(store: Store) -> None:
    """An integer of 400 digits, 1e308 twice (their sum overflows), booleans, objects: each
    is an order without a value, the same on both backends, and storing never fails."""
    store.events.record_calls(
        [
            order(T0, user="ada", order_id="H-1", total=int("9" * 400)),
            order(T0 + DAY, user="ada", order_id="H-2", revenue=1e308),
            order(T0 + 2 * DAY, user="ada", order_id="H-3", revenue=1e308),
            order(T0 + 3 * DAY, user="ada", order_id={"id": 1}, revenue=True, total=[5]),
            order(T0 + 4 * DAY, user="ada", order_id=True, total=7, currency=["EUR"]),
        ]
    )
    value = store.customer_value.get("ada")
    assert (value.orders, value.revenue, value.currency) == (5, 7.0, None)


def _kept_rows(store: Store) -> int:
    with store.database.reads.begin() as session:
        return int(session.scalar(select(func.count()).select_from(CustomerValueRow)) or 0)


def test_figures_follow_a_merge_and_an_unmerge(store: Store) -> None:
    store.events.record_calls(
        [
            track("order.completed", T0, anonymous="visitor", order_id="W-1", total=10),
            track("order.completed", T0 + 2 * DAY, anonymous="visitor", order_id="W-2", total=15),
            order(T0 + 5 * DAY, user="ada", order_id="S-1", total=100),
        ]
    )
    assert store.customer_value.get("visitor").orders == 2

    # Ada logs in on the visitor's browser: the visitor's orders become hers.
    [stored] = store.events.record_calls(
        [
            track(
                "identify",
                T0 + 6 * DAY,
                user="ada",
                anonymous="visitor",
                call_type="identify",
                traits={"email": "ada@example.com"},
            )
        ]
    )
    assert stored.merge is not None and stored.merge.status == "merged"
    merged = store.customer_value.get("ada")
    assert (merged.orders, merged.revenue, merged.first_order_at, merged.last_order_at) == (
        3,
        125.0,
        T0,
        T0 + 5 * DAY,
    )
    assert merged.days_between_orders == 2.5  # 5 days / 2
    assert store.customer_value.get("visitor") == merged  # the id answers for Ada now
    assert _kept_rows(store) == 1  # the visitor's own figures are gone

    store.identities.unmerge(stored.merge.id)
    assert (store.customer_value.get("ada").orders, store.customer_value.get("ada").revenue) == (
        1,
        100.0,
    )
    visitor = store.customer_value.get("visitor")
    assert (visitor.orders, visitor.revenue, visitor.last_order_at) == (2, 25.0, T0 + 2 * DAY)


def test_an_order_reported_under_two_ids_counts_once_after_an_operator_merge(
    store: Store,
) -> None:
    store.events.record_calls(
        [
            order(T0, user="ada", order_id="S-9", total=70, currency="EUR"),
            order(T0 + DAY, user="ada-shop", order_id="S-9", total=70, currency="EUR"),
            order(T0 + 3 * DAY, user="ada-shop", order_id="S-10", total=30, currency="EUR"),
        ]
    )
    merge = store.identities.merge("ada-shop", "ada")
    value = store.customer_value.get("ada")
    assert (value.orders, value.revenue, value.aov) == (2, 100.0, 50.0)
    store.identities.unmerge(merge.id)
    assert store.customer_value.get("ada").orders == 1
    assert store.customer_value.get("ada-shop").orders == 2


def test_orders_of_one_customer_arriving_together_are_all_counted(store: Store) -> None:
    """Each order is counted under the customer's lock, so concurrent ones cannot lose
    each other (without it, each transaction sees only its own new event)."""
    errors: list[BaseException] = []

    def send(prefix: str) -> None:
        try:
            for n in range(30):
                store.events.record_calls(
                    [order(T0 + n * DAY, user="ada", order_id=f"{prefix}-{n}", total=1)]
                )
        except BaseException as error:  # reported below, on the test's thread
            errors.append(error)

    threads = [threading.Thread(target=send, args=(prefix,)) for prefix in "abcdef"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    value = store.customer_value.get("ada")
    assert (value.orders, value.revenue) == (180, 180.0)


def test_a_rebuild_recomputes_figures_kept_before_or_wrongly(store: Store) -> None:
    _fill_ada(store)
    store.upsert_customer("ghost")
    with store.database.writes.begin() as session:
        session.execute(delete(CustomerValueRow))  # events stored before figures were kept
        session.execute(
            insert(CustomerValueRow).values(
                customer_id="ghost", orders=5, revenue=1.0, updated_at=T0
            )
        )
    assert store.customer_value.get("ada") == CustomerValue()

    assert store.customer_value.rebuild_all(page=1) == 2  # ada and ghost, a page each
    assert store.customer_value.get("ada") == ADA
    assert store.customer_value.get("ghost") == CustomerValue()
    assert _kept_rows(store) == 1


def test_an_empty_customer_is_zero_in_conditions(store: Store) -> None:
    store.upsert_customer("cy")
    for customer in ("cy", "nobody"):
        view, _aliases = customer_view(store, customer)
        variables = {"customer": view.as_variable()}
        context = cel.Context(variables=variables)
        assert cel.compile("customer.value.orders == 0").execute(context) is True
        assert cel.compile("customer.value.repeat").execute(context) is False
        assert cel.compile("customer.value.aov == null").execute(context) is True


def test_conditions_see_the_figures_with_iso_times(store: Store) -> None:
    _fill_ada(store)
    store.upsert_customer("ada", {"value": "a trait"})
    view, _aliases = customer_view(store, "ada")
    variables = view.as_variable()
    assert variables["value"]["first_order_at"] == "2026-03-01T09:00:00+00:00"
    assert variables["traits"]["value"] == "a trait"  # the trait is still there
    context = cel.Context(variables={"customer": variables})
    for condition in (
        "customer.value.orders >= 4",
        "customer.value.revenue > 60",
        "customer.value.currency == 'EUR'",
        "customer.value.repeat && customer.value.days_between_orders < 5.0",
        "timestamp(customer.value.last_order_at) > timestamp('2026-03-10T00:00:00Z')",
    ):
        assert cel.compile(condition).execute(context) is True, condition


# --- through the running engine ------------------------------------------------------------

FOLLOW_UP = """\
journey: order-follow-up
name: Order follow-up
trigger: { event: order.completed }
entry: { reentry: always }
steps:
  - id: which
    branch:
      - when: customer.value.orders >= 2 && customer.value.repeat
        next: welcome-back
      - else: first-thanks
  - id: first-thanks
    send: { channel: console, body: "Thanks for your first order" }
    next: done
  - id: welcome-back
    send:
      channel: console
      body: "Order {{ customer.value.orders }}: {{ customer.value.revenue }} so far"
  - id: done
    exit: {}
"""


@ASYNC
async def test_a_journey_branches_on_the_customers_orders(engine: Engine) -> None:
    engine.deploy(compiled_text(FOLLOW_UP))
    ada = new_id("ada")
    engine.store.upsert_customer(ada)
    workflow_id = workflow_id_for("order-follow-up", ada)
    first = await engine.send(ada, "order.completed", order_id="1", total=20)
    assert first.started == [workflow_id]
    assert (await engine.outcome(workflow_id)).status == "completed"
    await engine.send(ada, "order.completed", order_id="1", total=20)  # the same order again
    assert (await engine.outcome(workflow_id)).status == "completed"
    await engine.send(ada, "order.completed", order_id="2", total=30)
    assert (await engine.outcome(workflow_id)).status == "completed"
    assert [m["body"] for m in engine.outbox_messages()] == [
        "Thanks for your first order",
        "Thanks for your first order",
        "Order 2: 50.0 so far",
    ]


async def _value(client: Client, customer: str) -> dict[str, Any]:
    answer = await client.read(f"/v1/customers/{customer}")
    assert answer.status_code == 200, answer.text
    value: dict[str, Any] = answer.json()["value"]
    return value


@ASYNC
async def test_a_shopify_webhook_and_the_sites_track_of_one_order_count_once(
    backend: Client,
) -> None:
    client = backend
    shopper = int(uuid.uuid4().int % 10**12)
    delivered = await client.shopify(
        "orders/create", shopify_order(shopper, 9001, "80.00", "2026-03-01T10:00:00-05:00")
    )
    assert delivered.status_code == 200 and delivered.json()["status"] == "accepted"
    # The storefront tracks the same purchase under the same customer id (its clock put
    # it a minute before the webhook arrived).
    site_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    await client.call(
        "/v1/track",
        userId=str(shopper),
        event="order.completed",
        properties={"order_id": "9001", "revenue": 80, "currency": "EUR"},
        timestamp=site_at.isoformat(),
    )
    value = await _value(client, str(shopper))
    assert (value["orders"], value["revenue"], value["currency"]) == (1, 80.0, "EUR")
    assert datetime.fromisoformat(value["first_order_at"]) == site_at  # the first report

    delivered = await client.shopify(
        "orders/create", shopify_order(shopper, 9002, "20.00", "2026-03-11T10:00:00-05:00")
    )
    assert delivered.status_code == 200
    value = await _value(client, str(shopper))
    assert (value["orders"], value["revenue"], value["aov"], value["repeat"]) == (
        2,
        100.0,
        50.0,
        True,
    )


# --- the command line --------------------------------------------------------------------


def test_the_commands_show_and_rebuild_the_figures(tmp_path: Path) -> None:
    database = tmp_path / "cxflow.db"
    store = Store.open(f"sqlite:///{database}")
    _fill_ada(store)
    store.upsert_customer("cy")
    with store.database.writes.begin() as session:
        session.execute(delete(CustomerValueRow).where(CustomerValueRow.customer_id == "ada"))
    store.dispose()

    shown = cxflow_on(database, "customers", "value", "ada", "--json")
    assert shown.returncode == 0, shown.stderr
    assert '"orders": 0' in shown.stdout  # lost: the rebuild brings them back
    rebuilt = cxflow_on(database, "customers", "value", "--rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "recomputed the lifetime figures of 1 customer(s)" in rebuilt.stdout

    profile = cxflow_on(database, "customers", "show", "ada")
    assert profile.returncode == 0, profile.stderr
    assert (
        "lifetime value: 4 orders, revenue 64 EUR, AOV 16 EUR, first 2026-03-01 09:00:00, "
        "last 2026-03-13 09:00:00, every 4 days, repeat buyer"
    ) in profile.stdout
    assert "4 orders, revenue 64," in profile.stdout  # the activity line agrees
    assert "lifetime value: no orders" in cxflow_on(database, "customers", "show", "cy").stdout
    missing = cxflow_on(database, "customers", "value", "nobody")
    assert missing.returncode == 2 and "no customer 'nobody'" in missing.stderr
    bare = cxflow_on(database, "customers", "value")
    assert bare.returncode == 2 and "--rebuild" in bare.stderr
