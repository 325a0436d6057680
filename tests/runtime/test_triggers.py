"""Segment-entry, API and scheduled triggers (Schedules need the real dev server)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from connectors.registry import ConnectorRegistry
from engine.composition import Runtime
from engine.errors import RoutingError
from engine.runtime.schedules import schedule_id_for, sync_schedules
from engine.settings import Settings
from engine.store import Store
from tests.runtime.conftest import Engine, compiled_text
from workflows.journey import workflow_id_for

ASYNC = pytest.mark.asyncio(loop_scope="session")

VIP = """\
journey: vip-hello
name: VIP hello
trigger: { segment: vip }
steps:
  - id: hello
    send: { channel: email, body: "Welcome to VIP, {{ customer.first_name }}" }
"""

API = """\
journey: back-in-stock-alert
name: Back in stock
trigger: { api: {} }
steps:
  - id: alert
    send: { channel: sms, body: "{{ event.properties.product }} is back" }
"""

WEEKLY = """\
journey: weekly-digest
name: Weekly digest
trigger: { schedule: "0 9 * * MON", segment: readers, timezone: Europe/Berlin }
steps:
  - id: digest
    send: { channel: email, body: "Your digest, {{ customer.id }}" }
"""


@ASYNC
async def test_entering_a_segment_starts_its_journey_once(engine: Engine) -> None:
    engine.deploy(compiled_text(VIP))
    engine.store.upsert_customer("ada", {"first_name": "Ada", "email": "ada@example.com"})
    entered, _ = engine.store.set_segments("ada", {"vip"})
    assert await engine.router.segments_entered("ada", entered) == [
        workflow_id_for("vip-hello", "ada")
    ]
    result = await engine.outcome(workflow_id_for("vip-hello", "ada"))
    assert result.status == "completed"
    assert [m["body"] for m in engine.outbox_messages()] == ["Welcome to VIP, Ada"]
    engine.store.set_segments("ada", set())
    entered, _ = engine.store.set_segments("ada", {"vip"})
    assert await engine.router.segments_entered("ada", entered) == []  # reentry: once


@ASYNC
async def test_api_trigger_passes_the_call_properties_as_the_event(engine: Engine) -> None:
    engine.deploy(compiled_text(API))
    engine.store.upsert_customer("bob", {"phone": "+15550101"})
    workflow_id = await engine.router.start_by_api(
        "back-in-stock-alert", "bob", {"product": "Blue mug"}, message_id="api-1"
    )
    assert workflow_id == workflow_id_for("back-in-stock-alert", "bob")
    await engine.outcome(workflow_id)
    assert [(m["channel"], m["body"]) for m in engine.outbox_messages()] == [
        ("sms", "Blue mug is back")
    ]
    with pytest.raises(RoutingError, match=r"not deployed with an `api: \{\}` trigger"):
        await engine.router.start_by_api("vip-hello", "bob", {}, message_id="api-2")


@pytest_asyncio.fixture(loop_scope="session")
async def scheduled(
    dev_server: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[WorkflowEnvironment, Store, str]]:
    monkeypatch.setenv("CXFLOW_CONSOLE_OUTBOX", str(tmp_path / "outbox.jsonl"))
    task_queue = f"sched-{uuid.uuid4()}"
    settings = Settings(task_queue=task_queue, database_url=f"sqlite:///{tmp_path / 's.db'}")
    store = Store.open(settings.database_url)
    registry = ConnectorRegistry(entry_points=False)
    async with Runtime(settings, store, dev_server.client, registry).worker():
        yield dev_server, store, task_queue
    store.dispose()


@pytest.mark.slow
@ASYNC
async def test_schedule_enters_the_segment_members_on_each_tick(
    scheduled: tuple[WorkflowEnvironment, Store, str],
) -> None:
    env, store, task_queue = scheduled
    journey = compiled_text(WEEKLY)
    store.deploy_journey(journey)
    for reader in ("r1", "r2"):
        store.set_segments(reader, {"readers"})
    store.set_segments("not-a-reader", {"other"})
    assert await sync_schedules(env.client, [journey], task_queue) == [
        schedule_id_for("weekly-digest")
    ]
    handle = env.client.get_schedule_handle(schedule_id_for("weekly-digest"))
    description = await handle.describe()
    assert description.schedule.spec.time_zone_name == "Europe/Berlin"
    next_tick = description.info.next_action_times[0]
    assert next_tick.astimezone(ZoneInfo("Europe/Berlin")).weekday() == 0  # Monday
    await handle.trigger()
    for _ in range(100):
        runs = store.get_runs(journey_id="weekly-digest")
        if len(runs) == 2 and all(r.status == "completed" for r in runs):
            break
        await asyncio.sleep(0.2)
    assert sorted(r.customer_id for r in store.get_runs(journey_id="weekly-digest")) == [
        "r1",
        "r2",
    ]
    assert all(r.status == "completed" for r in store.get_runs(journey_id="weekly-digest"))
    # Undeploying the journey removes its schedule.
    await sync_schedules(env.client, [], task_queue)
    with pytest.raises(RPCError) as gone:
        await handle.describe()
    assert gone.value.status == RPCStatusCode.NOT_FOUND
