"""The ingest benchmark still runs (tiny size, both stores); its numbers live in docs."""

from __future__ import annotations

import asyncio

import pytest

from bench.ingest import measure, table

pytestmark = pytest.mark.slow


def test_ingest_benchmark_runs_at_a_tiny_size() -> None:
    results = asyncio.run(measure(["sqlite", "postgresql"], events=200, concurrency=4, warmup=5))
    assert [(m.backend, m.mode) for m in results] == [
        ("sqlite", "single"), ("sqlite", "batch"),
        ("postgresql", "single"), ("postgresql", "batch"),
    ]  # fmt: skip
    assert all(m.per_second > 0 and len(m.latencies_ms) for m in results)
    assert [len(m.latencies_ms) for m in results] == [200, 2, 200, 2]
    assert "| postgresql | batch (100 per request) | 200 |" in table(results, 4)
