"""Accepted events are never lost: stored first, routed when Temporal can be reached."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from engine.errors import TemporalUnavailableError
from engine.ingest.intake import Intake
from engine.ingest.router import EventRouter
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


async def test_an_event_accepted_while_temporal_is_down_is_routed_later(engine: Engine) -> None:
    engine.deploy(compiled_text(HELLO))
    engine.store.upsert_customer("patient", {"email": "patient@example.com"})
    unreachable = await Client.connect(
        "127.0.0.1:1", lazy=True, data_converter=pydantic_data_converter
    )
    intake = Intake(engine.store, EventRouter(unreachable, engine.store, engine.task_queue))
    event = CustomerEvent(
        message_id=str(uuid.uuid4()),
        customer_id="patient",
        name="signed.up",
        timestamp=datetime.now(UTC),
    )
    with pytest.raises(TemporalUnavailableError, match="it will be routed when Temporal is"):
        await intake.send(event)
    assert [e.message_id for e in engine.store.unrouted_events()] == [event.message_id]
    again = await engine.intake.send(event)  # a client retry: already accepted
    assert not again.stored
    assert await engine.intake.reroute_pending() == 1
    assert engine.store.unrouted_events() == []
    result = await engine.outcome(workflow_id_for("hello", "patient"))
    assert result.status == "completed"
    assert [m["recipient"]["customer_id"] for m in engine.outbox_messages()] == ["patient"]
