"""Events accepted while Temporal is down reach their journeys once it is back: each once.

A Temporal dev server of the test's own keeps its state in a SQLite file, so stopping
and starting it is a real restart with the stored histories. A worker and ``cxflow
api`` run on it; the journey sends one webhook and one email (to a real SMTP server)
per trigger. With Temporal stopped, a batch of N identify and N track calls (distinct
customers and messageIds) gets a 200: the API stores the
calls, waits for Temporal up to its dispatch timeout, then answers. Temporal is
started again on the same port with the same data; the API's reroute hands the
events over (it leaves alone those received in the last 20 s, which their own
request may still be routing). The store must end with N runs, the receiver with N
deliveries and the SMTP server with N mails, one each per customer: none lost, none
doubled.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from engine.runtime.devserver import TemporalDevServer
from engine.store import Store
from tests.faults.crash_support import (
    ApiProcess,
    Describable,
    WorkerPool,
    deliveries,
    email_address,
    mails,
    smtp_settings,
    wait_until,
    webhook_journey,
)
from tests.peers.http_receiver import HttpReceiver
from tests.peers.smtp_server import SmtpPeer
from tests.runtime.conftest import compiled_text
from workflows.journey import workflow_id_for

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

N = 20
JOURNEY = "temporal-restart"
EVENT = "restart.test"


async def test_events_accepted_while_temporal_is_down_make_one_run_and_one_delivery_each(
    own_temporal: TemporalDevServer,
    worker_pool: WorkerPool,
    api_process: ApiProcess,
    receiver: HttpReceiver,
    smtp: SmtpPeer,
    tmp_path: Path,
) -> None:
    began = time.monotonic()
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store.open(url)
    try:
        store.deploy_journey(
            compiled_text(webhook_journey(JOURNEY, EVENT, receiver.url(), email=True))
        )
        key = store.create_write_key("fault")
        settings = {
            "CXFLOW_TEMPORAL_ADDRESS": own_temporal.address,
            "CXFLOW_TASK_QUEUE": f"restart-{uuid.uuid4()}",
            "CXFLOW_DATABASE_URL": url,
            "CXFLOW_ACTIVITY_TIMEOUT_SECONDS": "10",
            "CXFLOW_SHUTDOWN_GRACE_SECONDS": "1",
            **smtp_settings(smtp),
        }
        worker = worker_pool.start(**settings)
        api_process.start(**settings)
        logs: list[Describable] = [api_process, worker_pool]

        def identify(customer: str) -> dict[str, object]:
            traits = {"email": email_address(customer)}
            return {
                "type": "identify",
                "userId": customer,
                "messageId": f"i-{customer}",
                "traits": traits,
            }

        def track(customer: str) -> dict[str, object]:
            return {
                "type": "track",
                "userId": customer,
                "event": EVENT,
                "messageId": f"m-{customer}",
            }

        def batch(customers: list[str]) -> httpx.Response:
            calls = [identify(c) for c in customers] + [track(c) for c in customers]
            return httpx.post(
                f"{api_process.url}/v1/batch", json={"batch": calls}, auth=(key, ""), timeout=60
            )

        # Before the outage: the whole path works (and has history for the restart to keep).
        warm_up = f"warm-{uuid.uuid4().hex[:8]}"
        answer = batch([warm_up])
        assert answer.status_code == 200, answer.text
        await wait_until(
            lambda: len(mails(smtp)[warm_up]) == 1,
            timeout=30,
            what="the warm-up event was not delivered",
            logs=logs,
            must_live=worker,
        )

        # --- Temporal down: the batch is stored, and answered 200 ---------------------------
        own_temporal.stop()
        stopped_at = time.monotonic()
        customers = [f"restart-{n:02d}-{uuid.uuid4().hex[:8]}" for n in range(N)]
        sent = time.monotonic()
        answer = batch(customers)
        answered_in = time.monotonic() - sent
        assert answer.status_code == 200, answer.text
        # The identify calls need no Temporal (no journey waits for them): routed. The
        # first track call found Temporal down, and routing stopped there: N unrouted.
        pending = store.unrouted_events(limit=1000)
        assert sorted(e.message_id for e in pending) == sorted(f"m-{c}" for c in customers)
        assert api_process.metrics()["cxflow_events_pending"] == N
        assert deliveries(receiver, customers) == dict.fromkeys(customers, 0) | {warm_up: 1}
        assert all(store.get_customer(c) is not None for c in customers)

        # --- Temporal back, same port, same data -------------------------------------------
        own_temporal.start()
        restarted = time.monotonic()
        down_for = restarted - stopped_at
        routed_in = await wait_until(
            lambda: store.unrouted_events(limit=1000) == [],
            timeout=90,
            what="the stored events were not all routed after Temporal came back",
            logs=logs,
            interval=0.2,
        )
        delivered_in = await wait_until(
            lambda: all(deliveries(receiver)[c] >= 1 for c in customers),
            timeout=60,
            what="not every customer got its webhook after Temporal came back",
            logs=logs,
            interval=0.2,
        )
        await asyncio.sleep(3)  # room for a second run or delivery, were one made

        # The restart kept Temporal's state: the run before the outage is still there.
        client = await Client.connect(own_temporal.address)
        before = await client.get_workflow_handle(workflow_id_for(JOURNEY, warm_up)).describe()
        assert before.status == WorkflowExecutionStatus.COMPLETED, before.status

        # Exactly one run per trigger message, one delivery per customer, nothing parked.
        runs = store.get_runs(journey_id=JOURNEY, limit=1000)
        assert sorted(r.customer_id for r in runs) == sorted([warm_up, *customers]), runs
        assert {r.trigger_message_id for r in runs} == {f"m-{c}" for c in [warm_up, *customers]}
        await wait_until(
            lambda: all(
                r.status == "completed" for r in store.get_runs(journey_id=JOURNEY, limit=1000)
            ),
            timeout=30,
            what="not every run completed",
            logs=logs,
        )
        counted = deliveries(receiver)
        assert counted == dict.fromkeys([warm_up, *customers], 1), counted
        mailed = mails(smtp)
        assert {c: len(ids) for c, ids in mailed.items()} == dict.fromkeys(
            [warm_up, *customers], 1
        ), mailed
        assert len({ids[0] for ids in mailed.values()}) == N + 1  # a Message-ID per run
        keys = [r.header("Idempotency-Key") for r in receiver.requests]
        assert len(set(keys)) == N + 1, keys
        assert store.failed_events() == []
        gauges = api_process.metrics()
        assert (
            gauges["cxflow_events_pending"],
            gauges["cxflow_events_retrying"],
            gauges["cxflow_events_failed"],
        ) == (0, 0, 0)
        assert worker.alive(), worker_pool.describe()
        print(
            f"\ntemporal restart test: N={N}; the batch was answered 200 in {answered_in:.1f} s "
            f"with Temporal down ({down_for:.1f} s down); routed {routed_in:.1f} s and all "
            f"delivered {routed_in + delivered_in:.1f} s after the restart; "
            f"runs {len(runs)}, webhook deliveries {sum(counted.values())} "
            f"({len(receiver.requests)} requests), mails {len(smtp.messages)}; "
            f"{time.monotonic() - began:.1f} s in all"
        )
    finally:
        store.dispose()
