"""PostgreSQL losing every connection, again and again, loses and doubles nothing.

The API and a worker run on a PostgreSQL database of the test's own. A client sends,
one call at a time, an identify (with an email address) and a track call for each of
M customers, each call with its own messageId, and retries a failed call (a 5xx or a
broken connection) with the same messageId, a bounded number of times, as Segment's
SDKs do. Meanwhile the test terminates every backend connection of the database from
an admin connection, every 0.1 s: the API's and the worker's pools lose connections
in the middle of transactions and between them.

Then: every call answered 200 is stored exactly once; every stored event ends routed
(the reroute of an event whose routing was interrupted waits out its 20 s grace); the
store has one run per track call, the HTTP receiver one webhook per customer, and the
SMTP server one message (one Message-ID) per customer. SMTP has no idempotency key: a
send retried after the server took it arrives again with the same Message-ID, so the
copies are counted and printed, not asserted. So are the calls that needed a retry:
what the outage costs the sender.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from temporalio.testing import WorkflowEnvironment

from engine.store import Store
from tests.faults.conftest import POSTGRES_ADMIN_URL
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

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

M = 40  # customers: an identify and a track call each
KILL_EVERY = 0.1  # seconds between terminations: often enough to hit transactions
KILLS = 10  # rounds of terminating every connection of the database, at least
CALL_PAUSE = 0.02  # seconds between calls
MAX_TRIES = 6  # per call, the first included
JOURNEY = "postgres-loss"
EVENT = "pg.test"


async def test_postgres_losing_its_connections_loses_and_doubles_nothing(
    dev_server: WorkflowEnvironment,
    postgres_url: str,
    worker_pool: WorkerPool,
    api_process: ApiProcess,
    receiver: HttpReceiver,
    smtp: SmtpPeer,
) -> None:
    began = time.monotonic()
    database = postgres_url.rsplit("/", 1)[1]
    store = Store.open(postgres_url)
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    own = create_engine(postgres_url, pool_pre_ping=True)  # the test's reads, not the store's
    try:
        journey = webhook_journey(JOURNEY, EVENT, receiver.url(), email=True)
        store.deploy_journey(compiled_text(journey))
        key = store.create_write_key("fault")
        settings = {
            "CXFLOW_TEMPORAL_ADDRESS": dev_server.client.service_client.config.target_host,
            "CXFLOW_TASK_QUEUE": f"pg-loss-{uuid.uuid4()}",
            "CXFLOW_DATABASE_URL": postgres_url,
            "CXFLOW_ACTIVITY_TIMEOUT_SECONDS": "10",
            "CXFLOW_SHUTDOWN_GRACE_SECONDS": "1",
            **smtp_settings(smtp),
        }
        worker = worker_pool.start(**settings)
        api_process.start(**settings)
        logs: list[Describable] = [api_process, worker_pool]

        def terminate_all() -> int:
            """End every backend of the test's database (the test's own pool's too)."""
            with admin.connect() as connection:
                killed = connection.execute(
                    text(
                        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                        "FROM pg_stat_activity WHERE datname = :name "
                        "AND pid <> pg_backend_pid()"
                    ),
                    {"name": database},
                ).scalar_one()
            return int(killed)

        def rows(query: str) -> list[tuple[Any, ...]]:
            with own.connect() as connection:
                return [tuple(row) for row in connection.execute(text(query))]

        customers = [f"pg-{n:02d}-{uuid.uuid4().hex[:8]}" for n in range(M)]
        calls: list[tuple[str, dict[str, Any]]] = []
        for customer in customers:
            traits = {"email": email_address(customer)}
            calls.append(
                (
                    "/v1/identify",
                    {"userId": customer, "messageId": f"i-{customer}", "traits": traits},
                )
            )
            calls.append(
                ("/v1/track", {"userId": customer, "event": EVENT, "messageId": f"m-{customer}"})
            )
        accepted: list[str] = []  # messageIds answered 200
        tries: Counter[str] = Counter()  # per messageId
        failures: Counter[str] = Counter()  # what a failed try got
        terminated: list[int] = []  # backends terminated, per round
        sending = True

        async def client() -> None:
            async with httpx.AsyncClient(base_url=api_process.url, auth=(key, "")) as http:
                for path, body in calls:
                    message_id = body["messageId"]
                    for attempt in range(MAX_TRIES):
                        tries[message_id] += 1
                        try:
                            answer = await http.post(path, json=body, timeout=30)
                        except httpx.HTTPError as error:
                            failures[type(error).__name__] += 1
                        else:
                            if answer.status_code == 200:
                                accepted.append(message_id)
                                break
                            assert answer.status_code >= 500, answer.text  # never a 4xx
                            failures[f"HTTP {answer.status_code}"] += 1
                        await asyncio.sleep(0.2 * 2**attempt)  # Segment-like backoff
                    await asyncio.sleep(CALL_PAUSE)

        async def killer() -> None:
            while sending or len(terminated) < KILLS:
                await asyncio.sleep(KILL_EVERY)
                terminated.append(await asyncio.to_thread(terminate_all))

        kills = asyncio.create_task(killer())
        sent_at = time.monotonic()
        try:
            await client()
        finally:
            sending = False
            await kills
        send_time = time.monotonic() - sent_at
        assert len(terminated) >= KILLS
        assert sum(terminated) > 0, "no connection was ever terminated: the test tested nothing"

        # Every call got its 200 within its retries (a lasting failure would be a finding),
        # and is stored exactly once: the messageId is the key, whatever was retried.
        every_id = [body["messageId"] for _, body in calls]
        assert sorted(accepted) == sorted(every_id), sorted(set(every_id) - set(accepted))
        stored = Counter(dict(rows("SELECT message_id, count(*) FROM events GROUP BY 1")))
        assert stored == Counter(dict.fromkeys(every_id, 1)), stored

        # Every stored event routed; one run per track call, one delivery per customer.
        routed_in = await wait_until(
            lambda: store.unrouted_events(limit=1000) == [],
            timeout=90,
            what="stored events were left unrouted after the connection losses",
            logs=logs,
            interval=0.2,
        )
        await wait_until(
            lambda: sum(r.status == "completed" for r in store.get_runs(JOURNEY, limit=1000)) >= M,
            timeout=60,
            what="not every run completed",
            logs=logs,
            interval=0.2,
        )
        done_in = time.monotonic() - sent_at - send_time
        await asyncio.sleep(3)  # room for a second run or delivery, were one made
        runs = store.get_runs(JOURNEY, limit=1000)
        assert Counter(r.trigger_message_id for r in runs) == Counter(
            {f"m-{c}": 1 for c in customers}
        ), runs
        assert {r.status for r in runs} == {"completed"}, runs
        counted = deliveries(receiver)
        assert counted == dict.fromkeys(customers, 1), counted
        mailed = mails(smtp, customers)
        assert {c: len(set(ids)) for c, ids in mailed.items()} == dict.fromkeys(customers, 1)
        assert len({ids[0] for ids in mailed.values()}) == M  # a Message-ID per run
        sends = dict(rows("SELECT status, count(*) FROM message_log GROUP BY status"))
        assert sends == {"sent": 2 * M}, sends  # two sends per run, none failed or skipped
        assert store.failed_events() == []
        assert worker.alive(), worker_pool.describe()
        [(counted_against,)] = rows("SELECT count(*) FROM events WHERE route_attempts > 0")

        retried = sum(1 for n in tries.values() if n > 1)
        copies = sum(len(ids) for ids in mailed.values()) - M
        print(
            f"\npostgres loss test: {len(calls)} calls ({M} customers) in {send_time:.1f} s; "
            f"{len(terminated)} terminations, {sum(terminated)} backends ended; "
            f"{retried} call(s) needed a retry ({sum(tries.values()) - len(calls)} retries, "
            f"at most {max(tries.values())} tries for a call: {dict(failures)}); stored {sum(stored.values())}, runs {len(runs)}, webhook "
            f"deliveries {sum(counted.values())} ({len(receiver.requests)} requests), mails "
            f"{len(smtp.messages)} ({copies} copies with the same Message-ID); events with a "
            f"routing failure counted against them: {counted_against}; all routed "
            f"{routed_in:.1f} s and all runs done {done_in:.1f} s after the last call; "
            f"{time.monotonic() - began:.1f} s in all"
        )
    finally:
        store.dispose()
        admin.dispose()
        own.dispose()
