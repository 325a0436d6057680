"""Conditions in a run never raise: one that cannot be evaluated is false, and the run goes on.

The event API refuses numbers beyond 2^53 - 1, but an event can reach a run by other
ways (a signal, an older API), and CEL cannot take an integer beyond 64 bits. Such a
value used to raise out of the wait condition and the signal handler, which failed
the workflow task on every attempt: the run was stuck for good.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.worker import Worker

from tests.runtime.conftest import Engine, compiled_text
from tests.runtime.wedging_workflow import ContextOutsideTry
from workflows.journey import JourneyWorkflow, workflow_id_for
from workflows.models import EVENT_SIGNAL, CustomerEvent, JourneyRunInput, RunStatus

pytestmark = pytest.mark.asyncio(loop_scope="session")

HUGE = int("9" * 310)

SCORES = """\
journey: scores
name: Scores
trigger: { event: start }
exit_when:
  - event: score
    when: int(event.properties.score) == 0
steps:
  - id: listen
    wait_for:
      event: score
      when: int(event.properties.score) > 5
      timeout: 1d
    save_as: answer
    on_timeout: timed-out
  - id: high
    update_profile: { set: { high_score: "{{ answer.properties.score }}" } }
    next: done
  - id: timed-out
    update_profile: { set: { timed_out: true } }
  - id: done
    exit: {}
"""


def score(customer: str, value: int, message_id: str | None = None) -> CustomerEvent:
    return CustomerEvent(
        message_id=message_id or str(uuid.uuid4()),
        customer_id=customer,
        name="score",
        properties={"score": value},
        timestamp=datetime.now(UTC),
    )


async def start(engine: Engine, customer: str, task_queue: str | None = None) -> WorkflowHandle:
    journey = engine.deploy(compiled_text(SCORES))
    trigger = CustomerEvent(
        message_id=f"start-{customer}", customer_id=customer, name="start", timestamp=engine.now()
    )
    return await engine.client.start_workflow(
        JourneyWorkflow.run,
        JourneyRunInput(journey=journey, customer_id=customer, trigger=trigger),
        id=workflow_id_for("scores", customer),
        task_queue=task_queue or engine.task_queue,
    )


async def listening(handle: WorkflowHandle) -> None:
    for _ in range(200):
        status = await handle.query("status", result_type=RunStatus)
        if status.waiting_for == "score":
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the run never waited for score")


async def test_an_event_cel_cannot_take_leaves_the_wait_to_time_out(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    customer = f"huge-{uuid.uuid4()}"
    handle = await start(engine, customer)
    await listening(handle)
    with caplog.at_level(logging.WARNING):
        await handle.signal(EVENT_SIGNAL, score(customer, HUGE))
        outcome = await engine.outcome(handle.id)
    assert (outcome.status, outcome.reason) == ("completed", "exit step done")
    profile = engine.store.get_customer(customer)
    assert profile is not None and profile.traits == {"timed_out": True}
    history = await handle.fetch_history()
    failed = EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    assert [e for e in history.events if e.event_type == failed] == []
    logged = [r.getMessage() for r in caplog.records if "cannot be evaluated" in r.getMessage()]
    # once for the exit criterion and once for the wait, though the wait re-checks it often
    assert len(logged) == 2, logged
    assert all(f"journey scores, step listen, customer {customer}" in m for m in logged)
    assert "9" * 50 not in " ".join(logged)  # the value is not logged


async def test_an_event_after_the_unreadable_one_is_still_taken(engine: Engine) -> None:
    customer = f"huge-then-ok-{uuid.uuid4()}"
    handle = await start(engine, customer)
    await listening(handle)
    await handle.signal(EVENT_SIGNAL, score(customer, HUGE))
    await handle.signal(EVENT_SIGNAL, score(customer, 9))
    outcome = await engine.outcome(handle.id)
    assert (outcome.status, outcome.reason) == ("completed", "exit step done")
    profile = engine.store.get_customer(customer)
    assert profile is not None and profile.traits == {"high_score": 9}  # a number stays a number


async def test_a_run_the_old_code_wedged_finishes_on_the_current_code(engine: Engine) -> None:
    """Why no patch: the old code never got past such an event, so there is no path to keep.

    The run is started on a worker with the old condition code: the event fails its
    workflow task. Then the current code takes over the same task queue (a deploy),
    replays the history up to that event and goes on: it times out as it should.
    """
    customer = f"wedged-{uuid.uuid4()}"
    queue = f"old-{uuid.uuid4()}"
    activities = engine.runtime.activities()
    async with Worker(
        engine.client, task_queue=queue, workflows=[ContextOutsideTry], activities=activities
    ):
        handle = await start(engine, customer, task_queue=queue)
        await listening(handle)
        await handle.signal(EVENT_SIGNAL, score(customer, HUGE))
        for _ in range(200):
            events = (await handle.fetch_history()).events
            if any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for e in events):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the old code did not fail the workflow task")
    async with Worker(
        engine.client, task_queue=queue, workflows=[JourneyWorkflow], activities=activities
    ):
        outcome = await asyncio.wait_for(engine.outcome(handle.id), timeout=60)
    assert (outcome.status, outcome.reason) == ("completed", "exit step done")
    profile = engine.store.get_customer(customer)
    assert profile is not None and profile.traits == {"timed_out": True}
