"""`cxflow demo`: the shipped abandoned-cart journey, simulated shoppers, skipped time; its
report must count what the shoppers really did, the holdout's orders included."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli.demo import ORDER_RATES, Shop, run_demo

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]


async def test_the_report_counts_every_simulated_order_by_variant(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXFLOW_CONSOLE_OUTBOX", str(tmp_path / "outbox.jsonl"))
    lines: list[str] = []
    result = await run_demo(repo / "journeys", tmp_path / "demo", Shop(400, seed=3), lines.append)

    report = result.report
    assert report.summary.runs == 400
    assert report.summary.by_status.get("running", 0) == 0
    assert report.summary.conversions == sum(result.orders.values())
    [experiment] = report.experiments
    variants = {v.name: v for v in experiment.variants}
    assert set(variants) == set(ORDER_RATES)
    for name, variant in variants.items():
        # every order is a conversion of its variant, the holdout's (whose runs ended at
        # once) as much as the others'; and the goal's value adds up to what was spent
        assert variant.conversions == result.orders.get(name, 0), name
        assert variant.revenue == pytest.approx(result.revenue.get(name, 0.0)), name
    assert result.orders["holdout"] > 0
    # the clicks went through the tracked links' real redirect, into the send steps' rows
    assert result.clicks > 0
    assert sum(step.clicked for step in report.messages) == result.clicks
    assert sum(v.exposures for v in variants.values()) == 400
    assert any("orders" in line for line in lines)
