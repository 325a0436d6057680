"""Long runs continue as new without losing their place, their saved results or their id."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.api.enums.v1 import EventType

from tests.runtime.conftest import Engine, compiled_text
from workflows.journey import JourneyWorkflow, workflow_id_for
from workflows.models import CustomerEvent, JourneyRunInput, RunStatus

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
    assert customer is not None and customer.traits["last_ping"] == "12"
    runs = engine.store.get_runs(customer_id="looper")
    assert len(runs) == 1 and runs[0].status == "exited"  # one entry across the chain
    history = await engine.client.get_workflow_handle(workflow_id).fetch_history()
    assert history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    first = await engine.client.get_workflow_handle(
        workflow_id, run_id=runs[0].run_id
    ).fetch_history()
    assert first.events[-1].event_type == (EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW)
