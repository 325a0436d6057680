"""The benchmark scripts still run (at a tiny size); their numbers live in docs/benchmarks.md."""

from __future__ import annotations

from bench.dsl_compile import journey_text, measure
from dsl.loader import load_text


def test_the_generated_long_journey_is_valid_and_has_the_asked_length() -> None:
    result = load_text(journey_text(30))
    assert result.ok and result.compiled is not None
    assert len(result.compiled.steps) == 30


def test_dsl_benchmark_runs_at_a_tiny_size() -> None:
    timings = measure(steps=12, repeat=2)
    assert len(timings) == 2 and all(t > 0 for t in timings)
