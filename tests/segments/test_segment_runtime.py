"""Segments in the running engine: recomputed on the event or identify that changes them,
journeys started on entry (through the real event API), and the scheduled refresh."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.client import ScheduleIntervalSpec
from temporalio.testing import WorkflowEnvironment

from engine.segments.refresh import REFRESH_SCHEDULE_ID, sync_segment_refresh
from tests.api.conftest import ApiServer
from tests.runtime.conftest import Engine, compiled_text
from tests.segments.conftest import add_event, segment
from workflows.journey import workflow_id_for
from workflows.segment_refresh import (
    SegmentRefreshInput,
    SegmentRefreshResult,
    SegmentRefreshWorkflow,
)

ASYNC = pytest.mark.asyncio(loop_scope="session")
DAY = timedelta(days=1)

VIP = """\
segment: vip
name: VIP
match: { sum: total, of: order.completed, within: 90d, greater_than: 500 }
"""
STAFF = "segment: staff\nname: Staff\nmatch: { trait: email, matches: '@shop\\.example$' }\n"
LAPSED = """\
segment: lapsed
name: Lapsed
match:
  all:
    - performed: order.completed
    - not: { performed: order.completed, within: 60d }
"""

VIP_WELCOME = """\
journey: vip-welcome
name: VIP welcome
trigger: { segment: vip }
steps:
  - id: hello
    send: { channel: email, body: "Welcome to VIP, {{ customer.id }}" }
"""
STAFF_HELLO = """\
journey: staff-hello
name: Staff hello
trigger: { segment: staff }
steps:
  - id: hello
    send: { channel: email, body: "Hi colleague {{ customer.traits.email }}" }
"""
WIN_BACK = """\
journey: win-back
name: Win back
trigger: { segment: lapsed }
steps:
  - id: miss-you
    send: { channel: email, body: "We miss you" }
"""
VIP_THANKS = """\
journey: vip-thanks
name: Thanks VIPs for each order
trigger: { event: order.completed }
entry: { segment: vip, reentry: always }
steps:
  - id: thanks
    send: { channel: sms, body: "Thanks, VIP" }
"""


def now() -> datetime:
    return datetime.now(UTC)


@ASYNC
async def test_an_order_recomputes_vip_and_starts_its_journey(engine: Engine) -> None:
    engine.store.deploy_segment(segment(VIP))
    engine.store.deploy_segment(segment(STAFF))
    engine.deploy(compiled_text(VIP_WELCOME))
    engine.deploy(compiled_text(VIP_THANKS))
    ada = f"ada-{uuid.uuid4()}"
    # An address for each channel (vip-welcome emails, vip-thanks texts); not staff.
    engine.store.upsert_customer(ada, {"email": "ada@example.com", "phone": "+15550103"})
    first = await engine.send(ada, "order.completed", total=300)
    assert (first.segments_entered, first.started) == (set(), [])
    second = await engine.send(ada, "order.completed", total=250)
    assert second.segments_entered == {"vip"}
    # the same event sees the new membership: the entry gate of vip-thanks lets it in
    assert sorted(second.started) == sorted(
        [workflow_id_for("vip-thanks", ada), workflow_id_for("vip-welcome", ada)]
    )
    assert (await engine.outcome(workflow_id_for("vip-welcome", ada))).status == "completed"
    assert (await engine.outcome(workflow_id_for("vip-thanks", ada))).status == "completed"
    assert sorted(m["body"] for m in engine.outbox_messages()) == [
        "Thanks, VIP",
        f"Welcome to VIP, {ada}",
    ]
    other = await engine.send(ada, "page.viewed")  # vip does not depend on it
    assert (other.segments_entered, other.segments_left) == (set(), set())
    customer = engine.store.get_customer(ada)
    assert customer is not None and customer.segments == ["vip"]


async def post(api: ApiServer, path: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=api.url, headers=api.headers) as client:
        return await client.post(path, json={"messageId": str(uuid.uuid4()), **body})


@ASYNC
async def test_identify_and_track_through_the_event_api_move_customers(api: ApiServer) -> None:
    engine = api.engine
    engine.store.deploy_segment(segment(STAFF))
    engine.store.deploy_segment(segment(VIP))
    engine.deploy(compiled_text(STAFF_HELLO))
    engine.deploy(compiled_text(VIP_WELCOME))
    bob = f"bob-{uuid.uuid4()}"
    response = await post(
        api, "/v1/identify", {"userId": bob, "traits": {"email": "bob@shop.example"}}
    )
    assert response.status_code == 200, response.text
    assert (await engine.outcome(workflow_id_for("staff-hello", bob))).status == "completed"
    assert [m["body"] for m in engine.outbox_messages()] == ["Hi colleague bob@shop.example"]
    assert engine.store.segment_members("staff") == [bob]

    batch = [
        {"type": "track", "userId": bob, "event": "order.completed", "properties": {"total": 600}},
        {"type": "identify", "userId": bob, "traits": {"email": "bob@example.com"}},
    ]
    response = await post(api, "/v1/batch", {"batch": batch})
    assert response.status_code == 200, response.text
    assert (await engine.outcome(workflow_id_for("vip-welcome", bob))).status == "completed"
    customer = engine.store.get_customer(bob)
    assert customer is not None and customer.segments == ["vip"]  # left staff, entered vip
    changes = [(c.segment, c.change) for c in engine.store.segment_changes(customer_id=bob)]
    assert changes == [("staff", "left"), ("vip", "entered"), ("staff", "entered")]


@ASYNC
async def test_the_refresh_moves_customers_as_time_passes(engine: Engine) -> None:
    store = engine.store
    store.deploy_segment(segment(LAPSED))
    store.deploy_segment(segment(VIP))
    store.deploy_segment(segment(STAFF))  # does not depend on time: not refreshed
    engine.deploy(compiled_text(WIN_BACK))
    # ada ordered 61 days ago: lapsed by now, though no event says so
    add_event(store, "ada", "order.completed", 61 * DAY, now(), total=100)
    store.upsert_customer("ada", {"email": "ada@shop.example"})
    # cy was a VIP for an order 91 days ago: the order has left the window
    add_event(store, "cy", "order.completed", 91 * DAY, now(), total=900)
    add_event(store, "cy", "order.completed", 10 * DAY, now(), total=20)
    store.set_segments("cy", {"vip"})
    # dee ordered yesterday: neither lapsed nor VIP
    add_event(store, "dee", "order.completed", DAY, now(), total=10)
    store.upsert_customer("dee")
    result = await engine.client.execute_workflow(
        SegmentRefreshWorkflow.run,
        SegmentRefreshInput(page=2),  # two pages and a bit
        id=f"refresh-{uuid.uuid4()}",
        task_queue=engine.task_queue,
        result_type=SegmentRefreshResult,
    )
    assert result == SegmentRefreshResult(
        customers=3, entered=1, left=1, started=[workflow_id_for("win-back", "ada")]
    )
    assert store.segment_members("lapsed") == ["ada"]
    assert store.segment_members("vip") == []
    assert store.segment_members("staff") == []  # ada matches, but identify decides that
    assert (await engine.outcome(workflow_id_for("win-back", "ada"))).status == "completed"


@ASYNC
async def test_the_refresh_schedule_follows_the_deployed_segments(
    dev_server: WorkflowEnvironment,
) -> None:
    client = dev_server.client
    queue = f"segments-{uuid.uuid4()}"
    assert await sync_segment_refresh(client, [segment(STAFF)], queue, timedelta(minutes=5)) is None
    scheduled = await sync_segment_refresh(
        client, [segment(STAFF), segment(VIP)], queue, timedelta(minutes=5)
    )
    assert scheduled == REFRESH_SCHEDULE_ID
    handle = client.get_schedule_handle(REFRESH_SCHEDULE_ID)
    described = await handle.describe()
    assert described.schedule.spec.intervals == [ScheduleIntervalSpec(every=timedelta(minutes=5))]
    await sync_segment_refresh(client, [segment(VIP)], queue, timedelta(minutes=2))  # updated
    described = await handle.describe()
    assert described.schedule.spec.intervals[0].every == timedelta(minutes=2)
    assert await sync_segment_refresh(client, [segment(STAFF)], queue, timedelta(minutes=2)) is None
    assert REFRESH_SCHEDULE_ID not in [s.id async for s in await client.list_schedules()]


SIGN_UP_STAFF = """\
journey: sign-up-staff
name: Sign up staff
trigger: { event: staff.joined }
steps:
  - id: set-email
    update_profile:
      set:
        email: "{{ event.properties.email }}"
"""


@ASYNC
async def test_traits_a_journey_sets_move_the_customer_and_start_journeys(
    engine: Engine,
) -> None:
    engine.store.deploy_segment(segment(STAFF))
    engine.deploy(compiled_text(SIGN_UP_STAFF))
    engine.deploy(compiled_text(STAFF_HELLO))
    bo = f"bo-{uuid.uuid4()}"
    routed = await engine.send(bo, "staff.joined", email="bo@shop.example")
    assert routed.started == [workflow_id_for("sign-up-staff", bo)]  # not staff yet
    await engine.outcome(workflow_id_for("sign-up-staff", bo))
    customer = engine.store.get_customer(bo)
    assert customer is not None and customer.segments == ["staff"]
    assert (await engine.outcome(workflow_id_for("staff-hello", bo))).status == "completed"
    assert [m["body"] for m in engine.outbox_messages()] == ["Hi colleague bo@shop.example"]
