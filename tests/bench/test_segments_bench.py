"""The segment benchmark still runs (tiny sizes, both backends); its numbers live in docs."""

from __future__ import annotations

import pytest

from bench.segments import measure, segments, table


def test_the_generated_segments_are_valid_and_all_depend_on_orders() -> None:
    generated = segments(8)
    assert [s.id for s in generated] == [f"s{i}" for i in range(8)]
    assert all(s.affected_by("order.completed") for s in generated)
    assert len({a for s in generated for a in s.aggregates()}) >= 8  # a window each


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_segment_benchmark_runs_at_a_tiny_size(backend: str) -> None:
    timings = measure(backend, segment_count=4, events=3, customers=2, history=2)
    assert len(timings) == 3 and all(t > 0 for t in timings)
    assert f"| {backend} | 4 | 3 |" in table([(backend, 4, timings)])
