"""Segment re-evaluation cost per event as the number of segments grows, on SQLite and PostgreSQL.

Every generated segment depends on `order.completed` (the worst case: each
order re-evaluates all of them), with a different window each, so the one
aggregate query per event gets one column more per segment. What is timed is
the router's segment step for one event: reading the definitions' fingerprint,
locking the customer, the aggregate query, deciding, and writing the changes.
Storing the event itself is not timed.

Run: `python -m bench.segments [--segments 1 10 100] [--events 200] [--customers 200]
[--history 20] [--backends sqlite postgresql] [--append]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.common import append_results
from dsl.segment_loader import load_segment_text
from dsl.segment_models import CompiledSegment
from engine.segments.evaluation import SegmentEngine
from engine.store import EventRecord, Store

POSTGRES_URL = os.environ.get(
    "CXFLOW_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def segment_text(index: int) -> str:
    """One of four realistic shapes, each with its own window."""
    shape = index % 4
    head = f"segment: s{index}\nname: Segment {index}\nmatch:\n"
    if shape == 0:
        body = f"  count: order.completed\n  within: {7 + index}d\n  at_least: 2\n"
    elif shape == 1:
        body = (
            f"  sum: total\n  of: order.completed\n  within: {30 + index}d\n"
            f"  greater_than: {100 + index}\n"
        )
    elif shape == 2:
        body = (
            "  all:\n    - performed: order.completed\n"
            f"    - not: {{ performed: order.completed, within: {1 + index}d }}\n"
        )
    else:
        body = (
            "  any:\n    - { trait: plan, equals: pro }\n"
            f"    - {{ max: total, of: order.completed, within: {60 + index}d,"
            f" at_least: {index} }}\n"
        )
    return head + body


def segments(count: int) -> list[CompiledSegment]:
    compiled = []
    for index in range(count):
        result = load_segment_text(segment_text(index))
        if result.compiled is None:
            raise SystemExit("\n".join(d.render() for d in result.diagnostics))
        compiled.append(result.compiled)
    return compiled


@contextmanager
def opened(backend: str) -> Iterator[Store]:
    """A fresh store: a temporary SQLite file, or a private PostgreSQL schema."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            store = Store.open(f"sqlite:///{Path(folder) / 'bench.db'}")
            try:
                yield store
            finally:
                store.dispose()
        return
    admin = create_engine(POSTGRES_URL)
    schema = f"cxflow_bench_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        store = Store.open(POSTGRES_URL, search_path=schema)
        try:
            yield store
        finally:
            store.dispose()
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def event(customer: str, at: datetime, total: float) -> EventRecord:
    return EventRecord(
        message_id=str(uuid.uuid4()),
        customer_id=customer,
        name="order.completed",
        properties={"total": total},
        timestamp=at,
        received_at=at,
    )


def measure(
    backend: str, segment_count: int, events: int, customers: int, history: int
) -> list[float]:
    """Seconds of the segment step for each of ``events`` new orders."""
    now = datetime.now(UTC)
    with opened(backend) as store:
        for compiled in segments(segment_count):
            store.deploy_segment(compiled)
        for number in range(customers):
            customer = f"c{number}"
            store.upsert_customer(customer, {"plan": "pro" if number % 3 == 0 else "free"})
            for past in range(history):
                at = now - timedelta(days=(past * 7 + number) % 120, minutes=past)
                store.record_event(event(customer, at, float(10 + (past * 13) % 90)))
        engine = SegmentEngine(store)
        engine.definitions()  # the definitions are parsed once per deploy, not per event
        timings = []
        for number in range(events):
            customer = f"c{number % customers}"
            store.record_event(event(customer, now, 42.0))
            started = time.perf_counter()
            engine.on_event(customer, "order.completed", now)
            timings.append(time.perf_counter() - started)
        return timings


def table(rows: list[tuple[str, int, list[float]]]) -> str:
    lines = [
        "| backend | segments | events | median ms/event | p90 ms/event | per segment µs |",
        "|---|---|---|---|---|---|",
    ]
    for backend, count, timings in rows:
        ms = sorted(t * 1000 for t in timings)
        median = statistics.median(ms)
        p90 = ms[max(int(len(ms) * 0.9) - 1, 0)]
        lines.append(
            f"| {backend} | {count} | {len(ms)} | {median:.2f} | {p90:.2f} | "
            f"{median * 1000 / count:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--segments", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--events", type=int, default=200, help="Timed events per run.")
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--history", type=int, default=20, help="Past orders per customer.")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--append", action="store_true", help="Append to docs/benchmarks.md.")
    args = parser.parse_args()
    rows = [
        (backend, count, measure(backend, count, args.events, args.customers, args.history))
        for backend in args.backends
        for count in args.segments
    ]
    result = table(rows)
    print(result)
    if args.append:
        command = (
            f"python -m bench.segments --segments {' '.join(map(str, args.segments))} "
            f"--events {args.events} --customers {args.customers} --history {args.history} "
            f"--backends {' '.join(args.backends)}"
        )
        append_results("Segment re-evaluation per event", command, result)


if __name__ == "__main__":
    main()
