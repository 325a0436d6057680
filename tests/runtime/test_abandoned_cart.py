"""The abandoned-cart journey end to end on the time-skipping server, one test per path.

Each customer's variant comes from the same hash the engine uses, so the tests
pick customers that land in each variant rather than forcing one.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from connectors.builtin.shopify import discount_code
from engine.analytics.overview import overview_report
from engine.analytics.report import build_report, render_html
from engine.runtime.assignment import assign_variant
from tests.runtime.conftest import Engine, compiled, compiled_text
from workflows.journey import workflow_id_for
from workflows.models import CustomerEvent, RunOutcome, RunStatus

pytestmark = pytest.mark.asyncio(loop_scope="session")

VARIANTS = [("reminder", 45.0), ("discount", 45.0), ("holdout", 10.0)]


def customer_in(variant: str, prefix: str = "shopper") -> str:
    return next(
        f"{prefix}-{n}"
        for n in range(10_000)
        if assign_variant("cart-offer-2026", f"{prefix}-{n}", VARIANTS) == variant
    )


async def outcome(engine: Engine, customer: str) -> RunOutcome:
    return await engine.outcome(workflow_id_for("abandoned-cart", customer))


async def wait_until_waiting(engine: Engine, customer: str, event: str) -> None:
    """Advance the test server's clock an hour at a time until the run waits for ``event``."""
    handle = engine.client.get_workflow_handle(workflow_id_for("abandoned-cart", customer))
    for _ in range(48):
        status = await handle.query("status", result_type=RunStatus)
        if status.waiting_for == event:
            return
        await engine.env.sleep(timedelta(hours=1))
    raise AssertionError(f"the run never waited for {event}")


async def test_reminder_path_sends_one_email_and_exits_at_done(engine: Engine) -> None:
    engine.deploy(compiled("abandoned-cart"))
    customer = customer_in("reminder")
    engine.store.upsert_customer(customer, {"first_name": "Ada", "email": "ada@example.com"})
    started = await engine.send(customer, "cart.updated", item_count=2)
    assert started.started == [workflow_id_for("abandoned-cart", customer)]
    result = await outcome(engine, customer)
    assert (result.status, result.reason) == ("completed", "exit step done")
    messages = [m for m in engine.outbox_messages() if m["recipient"]["customer_id"] == customer]
    assert [(m["channel"], m["step_id"]) for m in messages] == [("email", "plain-reminder")]
    assert messages[0]["subject"] == "Ada, you left something in your cart"
    assert "2 item(s)" in messages[0]["body"]
    run = engine.store.get_runs(customer_id=customer)[0]
    assert (run.status, run.variant) == ("completed", "reminder")


async def test_discount_path_creates_a_coupon_and_mails_it(engine: Engine) -> None:
    engine.deploy(compiled("abandoned-cart"))
    customer = customer_in("discount")
    engine.store.upsert_customer(customer, {"first_name": "Grace", "email": "grace@example.com"})
    await engine.send(customer, "cart.updated", item_count=1)
    result = await outcome(engine, customer)
    assert result.status == "completed"
    # The shop connector made Shopify's two calls, each with a key from the step's.
    rule_call, code_call = engine.shop.requests
    assert (rule_call.method, rule_call.path, rule_call.status) == (
        "POST",
        "/admin/api/2025-01/price_rules.json",
        201,
    )
    [rule] = engine.shop.price_rules.values()
    assert (code_call.method, code_call.path, code_call.status) == (
        "POST",
        f"/admin/api/2025-01/price_rules/{rule['id']}/discount_codes.json",
        201,
    )
    assert rule_call.idempotency_key and code_call.idempotency_key
    step_key = rule_call.idempotency_key.removesuffix(":price_rule")
    assert step_key.startswith(f"{workflow_id_for('abandoned-cart', customer)}/")
    assert step_key.endswith("/make-coupon/1")
    assert code_call.idempotency_key == f"{step_key}:discount_code"
    [code] = engine.shop.discount_codes
    assert code == discount_code("CX", step_key)  # the same on any retry of the step
    assert engine.shop.discount_codes[code]["price_rule_id"] == rule["id"]
    assert (rule["title"], rule["value_type"], rule["value"]) == (code, "percentage", "-10.0")
    assert (rule["target_selection"], rule["customer_selection"], rule["usage_limit"]) == (
        "all",
        "all",
        1,
    )
    messages = [m for m in engine.outbox_messages() if m["recipient"]["customer_id"] == customer]
    assert [m["step_id"] for m in messages] == ["discount-reminder"]
    assert messages[0]["subject"] == f"Grace, {code} saves you 10%"
    assert code in messages[0]["body"]


async def test_holdout_path_sends_nothing(engine: Engine) -> None:
    engine.deploy(compiled("abandoned-cart"))
    customer = customer_in("holdout")
    await engine.send(customer, "cart.updated", item_count=3)
    result = await outcome(engine, customer)
    assert result.status == "completed"
    assert [m for m in engine.outbox_messages() if m["recipient"]["customer_id"] == customer] == []
    assert engine.store.assignments("cart-offer-2026")[customer] == "holdout"


async def test_order_during_the_wait_ends_the_run_early(engine: Engine) -> None:
    engine.deploy(compiled("abandoned-cart"))
    customer = customer_in("reminder", prefix="buyer")
    await engine.send(customer, "cart.updated", item_count=2)
    await wait_until_waiting(engine, customer, "order.completed")
    routed = await engine.send(customer, "order.completed", total=30)
    assert routed.signalled == [workflow_id_for("abandoned-cart", customer)]
    result = await outcome(engine, customer)
    assert (result.status, result.reason) == ("exited", "exit event order.completed")
    assert result.converted
    conversions = engine.store.conversions("abandoned-cart")
    assert [(c.customer_id, c.variant) for c in conversions] == [(customer, "reminder")]


async def test_timeout_takes_vip_customers_to_the_social_nudge(engine: Engine) -> None:
    engine.deploy(compiled("abandoned-cart"))
    customer = customer_in("reminder", prefix="vip")
    engine.store.upsert_customer(
        customer, {"first_name": "Linus", "email": "linus@example.com", "handle": "@linus"}
    )
    engine.store.set_segments(customer, {"vip"})
    await engine.send(customer, "cart.updated", item_count=2)
    result = await outcome(engine, customer)
    assert result.status == "completed"
    messages = [m for m in engine.outbox_messages() if m["recipient"]["customer_id"] == customer]
    assert [(m["channel"], m["step_id"]) for m in messages] == [
        ("email", "plain-reminder"),
        ("social", "social-nudge"),
    ]
    assert "Linus" in messages[1]["body"]


async def test_duplicate_events_start_one_run(engine: Engine) -> None:
    engine.deploy(compiled("abandoned-cart"))
    customer = customer_in("holdout", prefix="dup")
    first = await engine.send(customer, "cart.updated", message_id="m-1", item_count=1)
    second = await engine.send(customer, "cart.updated", message_id="m-1", item_count=1)
    assert first.stored and first.started
    assert not second.stored and second.started == [] and second.signalled == []
    await outcome(engine, customer)
    assert len(engine.store.get_runs(customer_id=customer)) == 1


async def test_an_event_with_no_waiting_run_changes_nothing(engine: Engine) -> None:
    engine.deploy(compiled("abandoned-cart"))
    routed = await engine.send("nobody-waits", "order.completed", total=5)
    assert routed.stored
    assert (routed.started, routed.signalled) == ([], [])
    assert engine.store.get_runs(customer_id="nobody-waits") == []


async def test_trigger_condition_false_starts_nothing(engine: Engine) -> None:
    engine.deploy(compiled("abandoned-cart"))
    routed = await engine.send("empty-cart", "cart.updated", item_count=0)
    assert routed.started == []
    assert routed.skipped == {"abandoned-cart": "trigger condition is false"}


async def test_a_holdout_customer_who_orders_after_the_run_ended_counts_as_converted(
    engine: Engine,
) -> None:
    """Seen before: the holdout's run ends at once, so its order was never counted and
    the report showed the holdout at 0% and no lift for any variant."""
    journey = engine.deploy(compiled("abandoned-cart"))
    held, reminded = customer_in("holdout", prefix="held"), customer_in("reminder", prefix="told")
    for customer in (held, reminded):
        await engine.send(customer, "cart.updated", item_count=1)
    assert (await outcome(engine, held)).status == "completed"  # the holdout's run is over
    await wait_until_waiting(engine, reminded, "order.completed")

    # Two minutes after entering, by the clock the run kept (the test server's, which
    # skips ahead): the order comes after the holdout's run has ended.
    routed = await engine.router.dispatch(_order(engine, held, minutes=2, total=40))
    assert routed.converted == [workflow_id_for("abandoned-cart", held)]
    await engine.send(reminded, "order.completed", total=25)  # the running run converts
    await outcome(engine, reminded)
    again = await engine.router.dispatch(_order(engine, held, minutes=3, total=15))
    assert again.converted == []  # one conversion per run

    conversions = engine.store.conversions("abandoned-cart")
    assert sorted((c.customer_id, c.variant) for c in conversions) == sorted(
        [(held, "holdout"), (reminded, "reminder")]
    )
    [experiment] = build_report(engine.store, journey).experiments
    rates = {v.name: (v.exposures, v.conversions) for v in experiment.variants}
    assert rates["holdout"] == (1, 1) and rates["reminder"] == (1, 1)


async def test_an_order_outside_the_goal_window_converts_nothing(engine: Engine) -> None:
    engine.deploy(compiled("abandoned-cart"))  # goal: order.completed within 7d
    held = customer_in("holdout", prefix="late")
    await engine.send(held, "cart.updated", item_count=1)
    await outcome(engine, held)
    routed = await engine.router.dispatch(_order(engine, held, minutes=8 * 24 * 60, total=40))
    assert routed.converted == [] and engine.store.conversions("abandoned-cart") == []


def _order(engine: Engine, customer: str, *, minutes: int, total: int) -> CustomerEvent:
    """An order ``minutes`` after the customer's run began (by the run's own clock)."""
    [run] = engine.store.get_runs(journey_id="abandoned-cart", customer_id=customer)
    return CustomerEvent(
        message_id=f"order-{customer}-{minutes}",
        customer_id=customer,
        name="order.completed",
        properties={"total": total},
        timestamp=run.started_at + timedelta(minutes=minutes),
    )


VALUED = """\
journey: valued-offer
name: Valued offer
trigger: { event: cart.updated }
goal:
  event: order.completed
  within: 7d
  value: double(event.properties.total)
  currency: EUR
steps:
  - id: offer
    split:
      experiment: valued-offer-test
      variants:
        - { name: nudge, weight: 50, next: nudge }
        - { name: holdout, weight: 50, next: done }
  - id: nudge
    send: { channel: console, body: "Still thinking about it?" }
  - id: done
    exit: {}
"""


async def test_revenue_per_variant_counts_the_holdouts_orders_too(engine: Engine) -> None:
    journey = engine.deploy(compiled_text(VALUED))
    weights = [("nudge", 50.0), ("holdout", 50.0)]
    pick = {
        name: [
            c
            for n in range(400)
            if assign_variant("valued-offer-test", c := f"v-{n}", weights) == name
        ][:2]
        for name, _ in weights
    }
    for customer in pick["nudge"] + pick["holdout"]:
        await engine.send(customer, "cart.updated", item_count=1)
        await engine.outcome(workflow_id_for("valued-offer", customer))
    totals = {pick["nudge"][0]: 80, pick["nudge"][1]: 20, pick["holdout"][0]: 30}
    for customer, total in totals.items():
        [run] = engine.store.get_runs(journey_id="valued-offer", customer_id=customer)
        await engine.router.dispatch(
            CustomerEvent(
                message_id=f"order-{customer}",
                customer_id=customer,
                name="order.completed",
                properties={"total": total},
                timestamp=run.started_at + timedelta(hours=1),
            )
        )

    report = build_report(engine.store, journey)
    assert (report.summary.revenue, report.summary.currency) == (130.0, "EUR")
    [experiment] = report.experiments
    by_name = {v.name: v for v in experiment.variants}
    nudge, holdout = by_name["nudge"], by_name["holdout"]
    assert (nudge.revenue, nudge.revenue_per_exposure) == (100.0, 50.0)
    assert (holdout.revenue, holdout.revenue_per_exposure) == (30.0, 15.0)
    assert nudge.incremental_revenue_per_exposure == 35.0
    assert holdout.incremental_revenue_per_exposure is None  # the baseline
    assert [c.value for c in engine.store.conversions("valued-offer")].count(None) == 0
    page = render_html(report)
    assert "revenue (EUR)" in page and "<td>nudge</td><td>100.00</td><td>50.00</td>" in page

    workspace = overview_report(engine.store)  # the same figures, workspace-wide
    assert (workspace.entries, workspace.conversions, workspace.revenue) == (4, 3, {"EUR": 130.0})
    [figures] = workspace.journeys
    assert (figures.journey_id, figures.conversion_rate) == ("valued-offer", 0.75)
    assert workspace.messages == {"console": {"sent": 2}}  # the two nudges
    assert sum(w.entries for w in workspace.weeks) == 4
