"""The first-send benchmark still runs (tiny size); its numbers live in docs."""

from __future__ import annotations

import asyncio

import pytest

from bench.first_send import measure, table

pytestmark = pytest.mark.slow


def test_first_send_benchmark_runs_at_a_tiny_size() -> None:
    results = asyncio.run(measure(events=3, burst=4, concurrency=2))
    assert [(m.mode, m.events, len(m.latencies_ms)) for m in results] == [
        ("sequential", 3, 3),
        ("burst (2 at a time)", 4, 4),
    ]
    assert all(0 < latency < 60_000 for m in results for latency in m.latencies_ms)
    assert "| sequential | 3 |" in table(results)
