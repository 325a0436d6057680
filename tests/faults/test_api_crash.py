"""The API killed between starting a run and marking its event routed starts nothing twice.

The event is stored before the 200, so the reroute of a restarted API hands it over
again; the run it started before dying must not get a twin (issue: 3 of 260 events
started two runs, each sending a webhook with its own idempotency key).
"""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from tests.faults.crash_support import ApiProcess, deliveries, wait_until, webhook_journey
from tests.runtime.conftest import Engine, compiled_text
from workflows.journey import workflow_id_for

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]


async def test_the_api_killed_between_start_and_mark_makes_one_run_and_one_delivery(
    dev_engine: Engine, api_process: ApiProcess
) -> None:
    began = time.monotonic()
    engine = dev_engine
    url = engine.receiver.url("/hook")
    engine.deploy(compiled_text(webhook_journey("once-per-event", "signed.up", url)))
    key = engine.store.create_write_key("fault")
    env = {
        "CXFLOW_TEMPORAL_ADDRESS": engine.client.service_client.config.target_host,
        "CXFLOW_TASK_QUEUE": engine.task_queue,
        "CXFLOW_DATABASE_URL": engine.store.url,
    }
    customer = f"kill-{uuid.uuid4()}"
    api_process.start(**env, CXFLOW_FAILPOINTS="router.before_mark_routed")
    body = {"userId": customer, "event": "signed.up", "messageId": str(uuid.uuid4())}
    with pytest.raises(httpx.HTTPError):  # the process dies before it answers
        httpx.post(f"{api_process.url}/v1/track", json=body, auth=(key, ""), timeout=30)
    assert api_process.wait() == -9, api_process.log()
    [stored] = engine.store.unrouted_events()  # stored, run started, not marked routed
    assert stored.customer_id == customer
    outcome = await engine.outcome(workflow_id_for("once-per-event", customer))
    assert outcome.status == "completed"

    api_process.start(**env)  # the restarted API reroutes what is left
    await wait_until(
        lambda: engine.store.unrouted_events() == [],
        timeout=90,
        what="the restarted API rerouted the event",
        logs=[api_process],
        interval=0.1,
    )
    await asyncio.sleep(2)  # room for a second run, were one started
    runs = engine.store.get_runs(customer_id=customer)
    assert len(runs) == 1, runs
    assert deliveries(engine.receiver) == {customer: 1}
    print(f"\napi crash test: 1 run, 1 delivery, {time.monotonic() - began:.1f} s")
