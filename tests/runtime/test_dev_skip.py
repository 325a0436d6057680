"""`cxflow runs skip`: a run of cxflow dev leaves its wait at once; no other run does."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from engine.cli.runs import _skip, waiting_line
from engine.errors import CommandError
from engine.settings import Settings
from tests.runtime.conftest import Engine, compiled_text
from tests.runtime.test_controls import NUDGE, eventually, status, unique
from workflows.journey import workflow_id_for
from workflows.models import RunStatus

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def waiting_at(engine: Engine, workflow_id: str, step: str) -> RunStatus:
    deadline = time.monotonic() + 10
    while (found := await status(engine, workflow_id)).step != step or found.waiting is None:
        assert time.monotonic() < deadline, f"the run never waited at {step}: {found}"
    return found


def cli_settings(engine: Engine) -> Settings:
    target = engine.env.client.service_client.config.target_host
    return engine.runtime.settings.model_copy(update={"temporal_address": target})


async def test_a_dev_run_leaves_its_timer_now_and_says_where_it_went(engine: Engine) -> None:
    engine.runtime.router.dev_runs = True
    engine.deploy(compiled_text(NUDGE))
    customer = unique("ada")
    engine.store.upsert_customer(customer, {"email": f"{customer}@example.com"})
    await engine.send(customer, "go")
    workflow_id = workflow_id_for("nudge", customer)
    before = await waiting_at(engine, workflow_id, "later")
    assert before.dev and before.waiting == "timer"
    assert before.waiting_until is not None
    line = waiting_line(workflow_id, before, before.waiting_until - timedelta(minutes=59))
    assert line.startswith("at step later: waiting for a timer (wait) until ")
    assert line.endswith(f"(in 59m)\n  end the wait now: cxflow runs skip {workflow_id}")

    after = await _skip(cli_settings(engine), workflow_id)

    assert after.step == "after" and after.waiting == "timer"
    await eventually(lambda: len(engine.outbox_messages()) == 1)
    assert engine.outbox_messages()[0]["body"] == f"Hi {customer}"
    assert (await engine.outcome(workflow_id)).status == "completed"


async def test_other_runs_are_refused_and_keep_waiting(engine: Engine) -> None:
    engine.deploy(compiled_text(NUDGE))
    customer = unique("grace")
    engine.store.upsert_customer(customer, {"email": f"{customer}@example.com"})
    await engine.send(customer, "go")
    workflow_id = workflow_id_for("nudge", customer)
    await waiting_at(engine, workflow_id, "later")

    with pytest.raises(CommandError) as refused:
        await _skip(cli_settings(engine), workflow_id)

    assert refused.value.code == "run_not_skippable"
    assert str(refused.value) == (
        f"{workflow_id} was not started by `cxflow dev`: runs elsewhere wait their real time "
        "(test a journey's waits with `cxflow test`, in seconds)"
    )
    # Even a signal sent by hand changes nothing for a run not of cxflow dev.
    await engine.client.get_workflow_handle(workflow_id).signal("skip_wait")
    assert (await status(engine, workflow_id)).step == "later"
    assert engine.outbox_messages() == []


async def test_the_waiting_line_names_quiet_hours_and_events() -> None:
    now = datetime(2026, 12, 1, 22, 0, tzinfo=UTC)
    quiet = RunStatus(
        journey_id="j",
        version="v",
        customer_id="c",
        step="hello",
        waiting_for=None,
        saved={},
        variants={},
        converted=False,
        exit_reason=None,
        waiting="quiet_hours",
        waiting_until=now + timedelta(hours=10),
        dev=False,
    )
    assert waiting_line("journey:j:c", quiet, now) == (
        "at step hello: waiting for the end of the journey's quiet hours (in the customer's "
        "time zone, or the journey's default_timezone when the customer has none) until "
        "2026-12-02 08:00 UTC (in 10h)"
    )
    event = quiet.model_copy(
        update={"waiting": "event", "waiting_for": "order.completed", "dev": True}
    )
    assert waiting_line("journey:j:c", event, now) == (
        "at step hello: waiting for the event order.completed, or its timeout until "
        "2026-12-02 08:00 UTC (in 10h)\n  end the wait now: cxflow runs skip journey:j:c"
    )
