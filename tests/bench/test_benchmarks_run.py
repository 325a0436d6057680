"""The benchmark scripts still run (at a tiny size); their numbers live in docs/benchmarks.md."""

from __future__ import annotations

import asyncio

from bench.dsl_compile import journey_text, measure
from bench.interpreter_overhead import benchmark_journey
from bench.interpreter_overhead import measure as overhead
from bench.interpreter_overhead import table as overhead_table
from dsl.loader import load_text


def test_the_generated_long_journey_is_valid_and_has_the_asked_length() -> None:
    result = load_text(journey_text(30))
    assert result.ok and result.compiled is not None
    assert len(result.compiled.steps) == 30


def test_dsl_benchmark_runs_at_a_tiny_size() -> None:
    timings = measure(steps=12, repeat=2)
    assert len(timings) == 2 and all(t > 0 for t in timings)


def test_interpreter_benchmark_runs_at_a_tiny_size() -> None:
    results = asyncio.run(overhead(2, "time-skipping"))
    assert set(results) == {"hand-written", "interpreter"}
    for wall, cpu, events in results.values():
        assert wall > 0 and cpu > 0 and events > 10
    assert "ratio interpreter / hand-written" in overhead_table(results, 2)


def test_both_benchmark_journeys_are_the_shipped_one_without_quiet_hours() -> None:
    for server in ("time-skipping", "dev"):
        journey = benchmark_journey(server)  # type: ignore[arg-type]
        assert journey.id == "abandoned-cart" and journey.settings.quiet_hours is None
