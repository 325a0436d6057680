"""Pause, resume and stop a journey (engine.runtime.controls) on the time-skipping server.

A pause holds sends, not runs: a run waiting when the journey is paused goes on waiting,
reaches its send, and holds there unsent until the resume. New entries are refused and
said so in the route result. A stop ends the runs in flight as exited, reason `stopped`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest

from engine.errors import CommandError
from engine.runtime.controls import JourneyControls
from tests.runtime.conftest import Engine, compiled_text
from workflows.journey import STOPPED, JourneyWorkflow, workflow_id_for
from workflows.models import JourneyRunInput, RunStatus

pytestmark = pytest.mark.asyncio(loop_scope="session")

NUDGE = """\
journey: nudge
name: Nudge
trigger: { event: go }
steps:
  - id: later
    wait: 1h
  - id: hello
    send: { channel: email, subject: Hi, body: "Hi {{ customer.id }}" }
  - id: after
    wait: 1h
"""


def unique(name: str) -> str:
    """A customer id no other test uses: workflow ids are the test server's, shared by every
    test of the session, and a run another test left waiting would take this one's id."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def controls(engine: Engine) -> JourneyControls:
    return JourneyControls(engine.store, engine.client)


async def enter(engine: Engine, customer: str) -> str:
    engine.store.upsert_customer(customer, {"email": f"{customer}@example.com"})
    result = await engine.send(customer, "go")
    workflow_id = workflow_id_for("nudge", customer)
    assert result.started == [workflow_id]
    # Recorded in the store, and at its first wait (no activity left outstanding, which
    # would hold the test server's clock for later tests: see conftest).
    await eventually(lambda: bool(engine.store.get_runs(journey_id="nudge", customer_id=customer)))
    deadline = time.monotonic() + 10
    while (await status(engine, workflow_id)).step != "later":
        assert time.monotonic() < deadline, "the run never reached its wait"
        await asyncio.sleep(0.05)
    return workflow_id


async def eventually(check: Callable[[], bool]) -> None:
    """Until ``check()`` holds (the run records itself in its first workflow task)."""
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, "never happened"
        await asyncio.sleep(0.05)


async def status(engine: Engine, workflow_id: str) -> RunStatus:
    handle = engine.client.get_workflow_handle(workflow_id)
    answer: RunStatus = await handle.query("status", result_type=RunStatus)
    return answer


async def held(engine: Engine, workflow_id: str) -> RunStatus:
    """The run's status once it holds at a send (it gets there in real time)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = await status(engine, workflow_id)
        if now.waiting_for == "resume":
            return now
        await asyncio.sleep(0.05)
    raise AssertionError(f"{workflow_id} never held: {now}")


async def test_a_paused_journey_holds_the_send_until_resumed(engine: Engine) -> None:
    engine.deploy(compiled_text(NUDGE))
    ada = unique("ada")
    workflow_id = await enter(engine, ada)
    paused = await controls(engine).pause("nudge", "ops@shop.example")
    assert (paused.status, paused.previous, paused.runs_in_flight) == ("paused", "active", 1)
    await engine.env.sleep(timedelta(hours=2))  # the wait ends while paused
    assert (await held(engine, workflow_id)).step == "hello"
    assert engine.outbox_messages() == []
    assert engine.store.messages_for(workflow_id=workflow_id) == []

    resumed = await controls(engine).resume("nudge", "ops@shop.example")
    assert (resumed.status, resumed.runs_signalled) == ("active", 1)
    outcome = await engine.outcome(workflow_id)
    assert outcome.status == "completed"
    assert [m["body"] for m in engine.outbox_messages()] == [f"Hi {ada}"]
    audit = [(a.actor, a.action, a.target) for a in engine.store.users.audit_log()]
    assert audit == [
        ("ops@shop.example", "journey.resume", "nudge"),
        ("ops@shop.example", "journey.pause", "nudge"),
    ]


async def test_new_entries_of_a_paused_journey_are_refused_and_said_so(engine: Engine) -> None:
    engine.deploy(compiled_text(NUDGE))
    await controls(engine).pause("nudge", "cli")
    bob = unique("bob")
    engine.store.upsert_customer(bob, {"email": "bob@example.com"})
    result = await engine.send(bob, "go")
    assert result.started == []
    assert "journey paused by cli" in result.skipped["nudge"]
    assert engine.store.get_runs(journey_id="nudge") == []
    record = engine.store.journeys.control("nudge")
    assert (record.status, record.changed_by) == ("paused", "cli")

    await controls(engine).resume("nudge", "cli")
    await enter(engine, bob)


async def test_stop_ends_the_runs_in_flight_and_refuses_entries_until_resumed(
    engine: Engine,
) -> None:
    engine.deploy(compiled_text(NUDGE))
    cy = unique("cy")
    waiting = await enter(engine, cy)
    stopped = await controls(engine).stop("nudge", "cli")
    assert (stopped.status, stopped.runs_in_flight, stopped.runs_signalled) == ("stopped", 1, 1)
    outcome = await engine.outcome(waiting)
    assert (outcome.status, outcome.reason) == ("exited", STOPPED)
    [run] = engine.store.get_runs(journey_id="nudge")
    assert (run.status, run.exit_reason, run.current_step) == ("exited", "stopped", "later")
    assert engine.outbox_messages() == []
    assert "journey stopped" in (await engine.send(cy, "go")).skipped["nudge"]

    again = await controls(engine).stop("nudge", "cli")
    assert (again.changed, again.runs_in_flight) == (False, 0)
    await controls(engine).resume("nudge", "cli")
    await enter(engine, unique("cy-friend"))  # (cy: re-entry rules say once)


async def test_a_run_no_signal_reached_still_holds_and_stops_at_its_send(engine: Engine) -> None:
    """The store is the truth: a run that started as the journey was paused (the router let
    it in just before; no signal reached it) holds at its send, and a held run finds a stop
    at its next recheck of the store."""
    journey = engine.deploy(compiled_text(NUDGE.replace("    wait: 1h\n", "    wait: 1s\n", 1)))
    engine.store.upsert_customer("dee", {"email": "dee@example.com"})
    engine.store.journeys.set_control("nudge", "paused", "cli")
    workflow_id = workflow_id_for("nudge", "dee")
    await engine.client.start_workflow(
        JourneyWorkflow.run,
        JourneyRunInput(journey=journey, customer_id="dee"),
        id=workflow_id,
        task_queue=engine.task_queue,
    )
    assert (await held(engine, workflow_id)).step == "hello"
    engine.store.journeys.set_control("nudge", "stopped", "cli")  # no signal either
    outcome = await engine.outcome(workflow_id)  # the clock skips to the recheck
    assert (outcome.status, outcome.reason) == ("exited", STOPPED)
    assert engine.outbox_messages() == []


async def test_controls_name_a_deployed_journey(engine: Engine) -> None:
    with pytest.raises(CommandError) as raised:
        await controls(engine).pause("nope", "cli")
    assert raised.value.code == "journey_not_deployed"
