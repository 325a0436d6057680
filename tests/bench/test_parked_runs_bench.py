"""The parked-runs benchmark still runs (tiny size); its numbers live in docs."""

from __future__ import annotations

import asyncio

import pytest

from bench.parked_runs import measure, table

pytestmark = pytest.mark.slow


def test_parked_runs_benchmark_runs_at_a_tiny_size() -> None:
    (result,) = asyncio.run(measure([20]))
    assert result.runs == 20
    assert 0 < result.start_seconds <= result.parked_seconds
    assert result.worker_rss_mib > 10 and result.server_rss_mib > 10
    assert "| 20 |" in table([result])
