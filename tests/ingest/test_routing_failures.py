"""An event that cannot be routed is retried, then parked; it never holds up the others.

Values that could poison routing are refused at the API now (tests/ingest/
test_bad_values.py), but events stored before, or failures nobody foresaw, must still
not block the line: here the events are written to the store directly, as an older
cxflow would have accepted them.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from dsl.segment_loader import load_segment_file
from engine.api.app import create_app
from engine.ingest.intake import Intake, RetryPolicy
from engine.segments.evaluation import refresh_segments
from engine.store import EventRecord, Store
from tests.api.conftest import serve
from tests.conftest import REPO
from tests.runtime.conftest import Engine, compiled_text
from workflows.journey import workflow_id_for
from workflows.models import CustomerEvent

pytestmark = pytest.mark.asyncio(loop_scope="session")

HELLO = """\
journey: hello
name: Hello
trigger: { event: signed.up }
steps:
  - id: hi
    send: { channel: email, body: "Hi" }
"""

BIG_SPENDER = """\
journey: big-spender
name: Big spender
trigger: { event: order.completed, when: "event.properties.total > 100" }
steps:
  - id: thanks
    send: { channel: email, body: "Thanks" }
"""


def stored(store: Store, customer: str, name: str, **properties: object) -> str:
    """An event written to the store as accepted a minute ago, not routed yet."""
    now = datetime.now(UTC)
    message_id = str(uuid.uuid4())
    store.record_events(
        [
            EventRecord(
                message_id=message_id,
                customer_id=customer,
                name=name,
                properties=dict(properties),
                timestamp=now,
                received_at=now - timedelta(minutes=1),
            )
        ]
    )
    return message_id


async def test_a_poison_event_is_retried_then_parked_and_never_holds_up_the_others(
    pg_engine: Engine,
) -> None:
    engine = pg_engine
    store = engine.store
    vip = load_segment_file(REPO / "segments" / "vip.yaml").compiled
    assert vip is not None
    store.deploy_segment(vip)
    engine.deploy(compiled_text(HELLO))
    poison = f"poison-{uuid.uuid4()}"
    ada = f"ada-{uuid.uuid4()}"
    # The vip segment sums order totals over 90 days: 2 x 1e308 overflows PostgreSQL's
    # double precision, so recomputing this customer's segments fails every time.
    bad = [stored(store, poison, "order.completed", total=1e308) for _ in range(2)]
    stored(store, ada, "signed.up")
    intake = Intake(
        store, engine.router, retries=RetryPolicy(max_attempts=2, first_delay_seconds=3.0)
    )

    assert await intake.reroute_pending() == 3
    assert (await engine.outcome(workflow_id_for("hello", ada))).status == "completed"
    counts = store.routing_counts()
    assert (counts.pending, counts.retrying, counts.failed) == (2, 2, 0)
    assert await intake.reroute_pending() == 0  # waiting out the retry delay
    await asyncio.sleep(3.1)
    assert await intake.reroute_pending() == 2

    parked = store.failed_events()
    assert sorted(e.message_id for e in parked) == sorted(bad)
    for event in parked:
        assert event.attempts == 2
        assert event.error == "database refused the event: NumericValueOutOfRange (22003)"
        assert poison not in event.error and "308" not in event.error
    assert store.unrouted_events() == []  # parked events are out of the line
    app = create_app(intake, reroute_interval=3600)
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as client:
        metrics = (await client.get("/metrics")).text
    assert "cxflow_events_failed 2.0" in metrics
    assert "cxflow_events_pending 0.0" in metrics

    assert store.retry_failed_events([bad[0]]) == 1
    assert [e.message_id for e in store.unrouted_events()] == [bad[0]]
    assert store.retry_failed_events() == 1
    assert store.routing_counts().failed == 0


async def test_a_trigger_condition_that_cannot_be_evaluated_is_false(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    engine.deploy(compiled_text(BIG_SPENDER))
    customer = f"digits-{uuid.uuid4()}"
    stored(engine.store, customer, "order.completed", total=int("9" * 310))
    with caplog.at_level(logging.WARNING, logger="cxflow.ingest"):
        assert await engine.intake.reroute_pending() == 1
    assert engine.store.unrouted_events() == []
    assert engine.store.failed_events() == []
    assert engine.store.get_runs(customer_id=customer) == []
    [warning] = [r for r in caplog.records if "could not be evaluated" in r.getMessage()]
    assert "journey big-spender" in warning.getMessage()
    assert customer in warning.getMessage()


async def test_a_reroute_does_not_start_a_journey_its_event_already_started(
    engine: Engine,
) -> None:
    """The process died after starting the run and before marking the event routed."""
    engine.deploy(compiled_text(HELLO.replace("steps:", "entry: { reentry: always }\nsteps:")))
    customer = f"twice-{uuid.uuid4()}"
    engine.store.upsert_customer(customer, {"email": "twice@example.com"})
    message_id = stored(engine.store, customer, "signed.up")
    [record] = engine.store.unrouted_events()
    first = await engine.router.dispatch(as_event(record))
    assert first.started == [workflow_id_for("hello", customer)]
    assert (await engine.outcome(first.started[0])).status == "completed"
    # As if mark_routed never ran: the reroute sees the event again, the run has ended,
    # and `reentry: always` would start another one.
    again = await engine.router.dispatch(as_event(record), rerouted=True)
    assert again.started == []
    assert again.skipped == {"hello": "entered by this event before"}
    runs = engine.store.get_runs(customer_id=customer)
    assert [r.trigger_message_id for r in runs] == [message_id]
    sent = [m for m in engine.outbox_messages() if m["recipient"]["customer_id"] == customer]
    assert len(sent) == 1


def as_event(record: EventRecord) -> CustomerEvent:
    return CustomerEvent(
        message_id=record.message_id,
        customer_id=record.customer_id,
        name=record.name,
        properties=record.properties,
        timestamp=record.timestamp,
    )


async def test_the_segment_refresh_skips_a_customer_it_cannot_evaluate(
    pg_engine: Engine,
) -> None:
    """One customer whose sums overflow does not stop everyone else's refresh."""
    store = pg_engine.store
    vip = load_segment_file(REPO / "segments" / "vip.yaml").compiled
    assert vip is not None
    store.deploy_segment(vip)
    poison = f"a-poison-{uuid.uuid4()}"  # sorts first: refreshed before the others
    spender = f"b-spender-{uuid.uuid4()}"
    for customer in (poison, spender):
        store.upsert_customer(customer, {})
    for _ in range(2):
        stored(store, poison, "order.completed", total=1e308)
    stored(store, spender, "order.completed", total=900)
    done = await refresh_segments(pg_engine.router.segments, pg_engine.router.segments_entered)
    assert done.failed == [poison]
    assert done.customers == 2
    customer = store.get_customer(spender)
    assert customer is not None and "vip" in customer.segments
