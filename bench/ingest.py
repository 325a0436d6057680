"""Benchmark 2: events per second accepted by the HTTP event API, into SQLite and PostgreSQL.

The API runs as users run it, `cxflow api` in its own process (uvicorn, one
worker), in front of a Temporal dev server and the store. The load comes from
this process over loopback (httpx, ``--concurrency`` requests in flight):

- ``single``: one `POST /v1/track` per event;
- ``batch``: `POST /v1/batch` with 100 track calls each.

An answer 200 means the event is stored (deduplicated on its messageId) and
routed: the store write, the segment recomputation and the routing bookkeeping
are in the time, but no journey is deployed, so no workflow starts (the
interpreter benchmark and first-send benchmark measure that part). Latency is
per request. Run: ``python -m bench.ingest [--events 5000] [--backends sqlite,postgresql]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
from sqlalchemy import create_engine, text
from temporalio.testing import WorkflowEnvironment

from bench.common import append_results
from engine.runtime.devserver import find_binary, wait_for_port
from engine.store import Store

Backend = Literal["sqlite", "postgresql"]
Mode = Literal["single", "batch"]
BATCH = 100
POSTGRES_URL = os.environ.get(
    "CXFLOW_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CXFLOW = Path(sys.executable).parent / "cxflow"


@dataclass(frozen=True)
class Measurement:
    backend: Backend
    mode: Mode
    events: int
    seconds: float
    latencies_ms: list[float]

    @property
    def per_second(self) -> float:
        return self.events / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@contextlib.contextmanager
def database(backend: Backend, folder: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A fresh store: its URL, and the environment that points `cxflow api` at it."""
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'ingest.db'}"
        yield url, {"CXFLOW_DATABASE_URL": url}
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    # libpq options: every connection of the API process works in the private schema.
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    try:
        yield url, {"CXFLOW_DATABASE_URL": url}
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def api_process(env: dict[str, str]) -> AsyncIterator[str]:
    """`cxflow api` in a subprocess; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [str(CXFLOW), "api", "--port", str(port)],
        env={**os.environ, "CXFLOW_SECRET_KEY": "bench-ingest-secret", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if not await asyncio.to_thread(wait_for_port, "127.0.0.1", port, 30):
            process.kill()
            raise RuntimeError(f"cxflow api did not start: {process.communicate()[1]}")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def call(n: int, prefix: str, event: str = "page.viewed") -> dict[str, Any]:
    """One track call of 500 customers' traffic; an order (which keeps the customer's
    lifetime value current) carries an order id and a total."""
    properties: dict[str, Any] = {"path": f"/products/{n}", "price": n % 97}
    if event == "order.completed":
        properties = {"order_id": f"{prefix}-{n}", "total": float(n % 97), "currency": "EUR"}
    return {
        "type": "track",
        "userId": f"customer-{n % 500}",
        "event": event,
        "messageId": f"{prefix}-{n}",
        "properties": properties,
    }


async def load(
    url: str, key: str, mode: Mode, events: int, concurrency: int, event: str = "page.viewed"
) -> list[float]:
    """Send ``events`` events; the latency of each request in milliseconds."""
    prefix = uuid.uuid4().hex[:8]
    if mode == "single":
        bodies = [(f"{url}/v1/track", call(n, prefix, event)) for n in range(events)]
    else:
        bodies = [
            (f"{url}/v1/batch", {"batch": [call(n, prefix, event) for n in range(i, i + BATCH)]})
            for i in range(0, events, BATCH)
        ]
    queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
    for item in bodies:
        queue.put_nowait(item)
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(auth=(key, ""), limits=limits, timeout=60) as http:

        async def worker() -> None:
            while not queue.empty():
                target, body = queue.get_nowait()
                started = time.perf_counter()
                answer = await http.post(target, json=body)
                latencies.append((time.perf_counter() - started) * 1000)
                if answer.status_code != 200:
                    raise RuntimeError(f"{target} answered {answer.status_code}: {answer.text}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def measure(
    backends: list[Backend],
    events: int,
    concurrency: int,
    warmup: int = 50,
    event: str = "page.viewed",
) -> list[Measurement]:
    results = []
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(find_binary("temporal"))
    ) as temporal:
        address = temporal.client.service_client.config.target_host
        for backend in backends:
            with (
                tempfile.TemporaryDirectory(prefix="cxflow-ingest-") as folder,
                database(backend, Path(folder)) as (url, env),
            ):
                store = Store.open(url)
                key = store.create_write_key("bench")
                store.dispose()
                async with api_process({**env, "CXFLOW_TEMPORAL_ADDRESS": address}) as api:
                    await load(api, key, "single", warmup, concurrency, event)
                    modes: tuple[Mode, ...] = ("single", "batch")
                    for mode in modes:
                        started = time.perf_counter()
                        latencies = await load(api, key, mode, events, concurrency, event)
                        seconds = time.perf_counter() - started
                        results.append(Measurement(backend, mode, events, seconds, latencies))
    return results


def table(results: list[Measurement], concurrency: int) -> str:
    lines = [
        "| store | mode | events | events/s | request p50 ms | request p99 ms | mean ms |"
        "\n|---|---|---|---|---|---|---|"
    ]
    for m in results:
        lines.append(
            f"| {m.backend} | {m.mode}{' (100 per request)' if m.mode == 'batch' else ''} | "
            f"{m.events} | {m.per_second:.0f} | {m.percentile(0.5):.1f} | "
            f"{m.percentile(0.99):.1f} | {statistics.mean(m.latencies_ms):.1f} |"
        )
    lines.append(f"\n{concurrency} requests in flight; `cxflow api` with one uvicorn worker.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument(
        "--event", default="page.viewed", help="page.viewed, or order.completed (with totals)"
    )
    args = parser.parse_args()
    backends: list[Backend] = []
    for name in args.backends.split(","):
        if name not in ("sqlite", "postgresql"):
            parser.error(f"unknown backend {name!r}: use sqlite, postgresql or both")
        backends.append("sqlite" if name == "sqlite" else "postgresql")
    results = asyncio.run(measure(backends, args.events, args.concurrency, event=args.event))
    text_table = table(results, args.concurrency)
    print(text_table)
    if not args.no_record:
        append_results(
            "Event ingest through the HTTP API",
            f"python -m bench.ingest --events {args.events} --concurrency {args.concurrency} "
            f"--backends {args.backends} --event {args.event}",
            text_table,
        )


if __name__ == "__main__":
    main()
