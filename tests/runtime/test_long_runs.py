"""Long runs continue as new without losing their place, their saved results or their id."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.runtime.conftest import Engine, compiled_text
from workflows.journey import SEEN_IDS_KEPT, JourneyWorkflow, workflow_id_for
from workflows.models import EVENT_SIGNAL, CustomerEvent, JourneyRunInput, RunStatus

pytestmark = pytest.mark.asyncio(loop_scope="session")

PINGS = """\
journey: pings
name: Pings
trigger: { event: start }
exit_when:
  - event: stop
steps:
  - id: listen
    wait_for: { event: ping, timeout: 1d }
    save_as: ping
    on_timeout: done
  - id: remember
    update_profile: { set: { last_ping: "{{ ping.properties.n }}" } }
    next: listen
  - id: done
    exit: {}
"""


async def wait_for_listen(engine: Engine, workflow_id: str) -> None:
    handle = engine.client.get_workflow_handle(workflow_id)
    for _ in range(200):
        status = await handle.query("status", result_type=RunStatus)
        if status.waiting_for == "ping":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the run never started listening for ping")


async def test_continue_as_new_keeps_the_run_going(dev_engine: Engine) -> None:
    engine = dev_engine
    journey = engine.deploy(compiled_text(PINGS))
    workflow_id = workflow_id_for("pings", "looper")
    start = CustomerEvent(
        message_id="start-1", customer_id="looper", name="start", timestamp=engine.now()
    )
    await engine.client.start_workflow(
        JourneyWorkflow.run,
        JourneyRunInput(journey=journey, customer_id="looper", trigger=start, history_limit=60),
        id=workflow_id,
        task_queue=engine.task_queue,
    )
    for n in range(1, 13):
        await wait_for_listen(engine, workflow_id)
        await engine.send("looper", "ping", message_id=f"ping-{n}", n=n)
    await wait_for_listen(engine, workflow_id)
    await engine.send("looper", "stop", message_id="stop-1")
    result = await engine.outcome(workflow_id)
    assert (result.status, result.reason) == ("exited", "exit event stop")
    assert result.steps_taken == 12 * 2 + 1  # listen and remember per ping, the last listen
    customer = engine.store.get_customer("looper")
    assert customer is not None and customer.traits["last_ping"] == 12
    runs = engine.store.get_runs(customer_id="looper")
    assert len(runs) == 1 and runs[0].status == "exited"  # one entry across the chain
    history = await engine.client.get_workflow_handle(workflow_id).fetch_history()
    assert history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    first = await engine.client.get_workflow_handle(
        workflow_id, run_id=runs[0].run_id
    ).fetch_history()
    assert first.events[-1].event_type == (EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW)


# Listens for ticks until stopped; anything else it receives it only remembers (by id).
TICKS = """\
journey: ticks
name: Ticks
trigger: { event: start }
exit_when:
  - event: stop
steps:
  - id: listen
    wait_for: { event: tick, timeout: 30d }
    save_as: tick
    on_timeout: done
    next: listen
  - id: done
    exit: {}
"""


async def signal(engine: Engine, handle: WorkflowHandle[Any, Any], name: str, id_: str) -> None:
    """Signal the run directly: the intake would drop a repeated id before the run saw it."""
    event = CustomerEvent(message_id=id_, customer_id="ticker", name=name, timestamp=engine.now())
    await handle.signal(EVENT_SIGNAL, event)


async def listening(
    handle: WorkflowHandle[Any, Any], *, last_tick: str | None, after_run: str | None = None
) -> RunStatus:
    """The status once the latest run (not ``after_run``) listens again, having saved ``last_tick``.

    An event that arrives before a wait_for begins is not one it waits for, so each
    tick is sent only once the run listens.
    """
    status: RunStatus | None = None
    for _ in range(400):
        if (await handle.describe()).run_id != after_run:
            status = await handle.query("status", result_type=RunStatus)
            tick = status.saved.get("tick")
            saved = tick.get("message_id") if isinstance(tick, dict) else None
            if status.exit_reason is not None:
                return status
            if status.waiting_for == "tick" and saved == last_tick:
                return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"the run never listened after {last_tick}: {status}")


async def test_continue_as_new_keeps_the_most_recent_message_ids(engine: Engine) -> None:
    """Ids that sort opposite to arrival: the recent ones survive continue-as-new, not the largest."""
    journey = engine.deploy(compiled_text(TICKS))
    workflow_id = workflow_id_for("ticks", "ticker")
    start = CustomerEvent(
        message_id="start-1", customer_id="ticker", name="start", timestamp=engine.now()
    )
    handle = await engine.client.start_workflow(
        JourneyWorkflow.run,
        JourneyRunInput(journey=journey, customer_id="ticker", trigger=start, history_limit=50),
        id=workflow_id,
        task_queue=engine.task_queue,
    )
    first_run = handle.first_execution_run_id
    count = SEEN_IDS_KEPT + 10
    noise = [f"m-{count - n:04d}" for n in range(count)]  # m-0510 first, m-0001 last
    assert sorted(noise) == noise[::-1]
    await listening(handle, last_tick=None)
    for message_id in noise:  # one at a time: the order of arrival is the point
        await signal(engine, handle, "noise", message_id)
    # The wait ends, the history is past its limit: the next step continues as new.
    await signal(engine, handle, "tick", "tick-1")
    await listening(handle, last_tick="tick-1", after_run=first_run)

    history = await engine.client.get_workflow_handle(workflow_id, run_id=first_run).fetch_history()
    last = history.events[-1]
    assert last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    payloads = last.workflow_execution_continued_as_new_event_attributes.input.payloads
    [carried] = pydantic_data_converter.payload_converter.from_payloads(
        list(payloads), [JourneyRunInput]
    )
    assert carried.state is not None
    arrived = ["start-1", *noise, "tick-1"]
    assert carried.state.seen_message_ids == arrived[-SEEN_IDS_KEPT:]
    assert noise[0] not in carried.state.seen_message_ids

    # A recent id again is a duplicate: this stop changes nothing, and the next tick is heard.
    await signal(engine, handle, "stop", noise[-1])
    await signal(engine, handle, "tick", "tick-2")
    status = await listening(handle, last_tick="tick-2")
    assert status.exit_reason is None
    # The oldest id is the one forgotten: sent again, it is a new event, and this one ends the run.
    await signal(engine, handle, "stop", noise[0])
    result = await engine.outcome(workflow_id)
    assert (result.status, result.reason) == ("exited", "exit event stop")
