"""Journeys that wait for engagement: ``wait_for: message.opened`` with a condition on the
step, on the time-skipping Temporal server. The open comes in as a provider's signal
through Intake.engagement, as a webhook or a tracking pixel hands it over."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from temporalio.client import WorkflowHandle

from tests.engagement.conftest import sent_message, signal
from tests.runtime.conftest import Engine, compiled_text
from workflows.ids import workflow_id_for
from workflows.models import RunStatus

pytestmark = pytest.mark.asyncio(loop_scope="session")

JOURNEY = "opened-or-not"
OPENED_OR_NOT = f"""\
journey: {JOURNEY}
name: Opened or not
trigger: {{ event: signed.up }}
steps:
  - id: welcome
    send: {{ channel: email, subject: "Welcome", body: "Hello" }}
  - id: wait-open
    wait_for:
      event: message.opened
      when: "event.properties.step == 'welcome'"
      timeout: 2d
    save_as: open
    on_timeout: not-opened
  - id: opened
    update_profile: {{ set: {{ path: opened, via: "{{{{ open.properties.source }}}}" }} }}
    next: done
  - id: not-opened
    update_profile: {{ set: {{ path: timed-out }} }}
  - id: done
    exit: {{}}
"""


async def waiting_for_the_open(engine: Engine, customer: str) -> WorkflowHandle[Any, Any]:
    """The run, once its welcome is sent and it waits for message.opened."""
    engine.deploy(compiled_text(OPENED_OR_NOT))
    engine.store.upsert_customer(customer, {"email": f"{customer}@example.com"})
    await engine.send(customer, "signed.up")
    handle = engine.client.get_workflow_handle(workflow_id_for(JOURNEY, customer))
    for _ in range(250):
        try:
            status = await handle.query("status", result_type=RunStatus)
        except Exception:  # not started yet
            status = None
        if status is not None and status.waiting_for == "message.opened":
            return handle
        await asyncio.sleep(0.02)
    raise AssertionError("the run never waited for message.opened")


def welcome_of(engine: Engine, customer: str) -> str:
    [message] = [m for m in engine.store.messages_for(customer) if m.step_id == "welcome"]
    assert message.status == "sent" and message.ref is not None
    return message.ref


async def test_an_open_of_the_welcome_takes_the_opened_path(engine: Engine) -> None:
    customer = f"ada-{uuid.uuid4().hex[:8]}"
    handle = await waiting_for_the_open(engine, customer)

    outcome = await engine.intake.engagement(
        signal(welcome_of(engine, customer), "opened", source="tracking")
    )
    assert outcome.status == "recorded"
    result = await engine.outcome(handle.id)

    assert result.status == "completed"
    profile = engine.store.get_customer(customer)
    assert profile is not None
    assert (profile.traits["path"], profile.traits["via"]) == ("opened", "tracking")


async def test_without_an_open_the_wait_times_out(engine: Engine) -> None:
    customer = f"bob-{uuid.uuid4().hex[:8]}"
    handle = await waiting_for_the_open(engine, customer)
    await engine.intake.engagement(signal(welcome_of(engine, customer), "delivered"))

    await engine.outcome(handle.id)

    profile = engine.store.get_customer(customer)
    assert profile is not None and profile.traits["path"] == "timed-out"


async def test_an_open_of_another_step_does_not_end_the_wait(engine: Engine) -> None:
    customer = f"grace-{uuid.uuid4().hex[:8]}"
    handle = await waiting_for_the_open(engine, customer)
    other = sent_message(engine.store, customer, "newsletter", journey_id=JOURNEY, visit=7)
    assert (await engine.intake.engagement(signal(other, "opened"))).status == "recorded"

    await engine.outcome(handle.id)

    profile = engine.store.get_customer(customer)
    assert profile is not None and profile.traits["path"] == "timed-out"
