"""Experiment results from the store: counts, baseline, statistics and the SRM check."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from scipy import stats

from engine.analytics.experiments import experiment_results
from engine.runtime.assignment import assign_variant
from engine.store import ConversionRecord, Store
from tests.runtime.conftest import compiled

WEIGHTS = [("reminder", 45.0), ("discount", 45.0), ("holdout", 10.0)]
RATES = {"reminder": 0.05, "discount": 0.08, "holdout": 0.03}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path / 'a.db'}")


def simulate(store: Store, customers: int) -> dict[str, list[int]]:
    """Assign customers with the engine's hash, convert them at fixed rates, store both."""
    chance = random.Random(7)
    counts = {name: [0, 0] for name, _ in WEIGHTS}
    for number in range(customers):
        customer = f"c{number}"
        variant = store.assign_variant(
            "cart-offer-2026", customer, assign_variant("cart-offer-2026", customer, WEIGHTS)
        )
        counts[variant][0] += 1
        if chance.random() < RATES[variant]:
            counts[variant][1] += 1
            store.record_conversion(
                ConversionRecord(
                    workflow_id=f"journey:abandoned-cart:{customer}",
                    run_id=f"run-{customer}",
                    journey_id="abandoned-cart",
                    customer_id=customer,
                    goal_event="order.completed",
                    message_id=f"m-{customer}",
                    variant=variant,
                    converted_at=datetime.now(UTC),
                )
            )
    return counts


def test_results_match_the_simulated_population(store: Store) -> None:
    counts = simulate(store, 3000)
    [result] = experiment_results(store, compiled("abandoned-cart"))
    assert (result.experiment, result.step_id, result.baseline) == (
        "cart-offer-2026",
        "offer-test",
        "holdout",
    )
    by_name = {v.name: v for v in result.variants}
    for name, (exposures, conversions) in counts.items():
        assert (by_name[name].exposures, by_name[name].conversions) == (exposures, conversions)
    table = [[c, n - c] for n, c in counts.values()]
    statistic, p_value, _, _ = stats.chi2_contingency(table, correction=False)
    assert result.chi_square == pytest.approx(statistic)
    assert result.p_value == pytest.approx(p_value, rel=1e-6, abs=1e-12)
    assert not result.sample_ratio_mismatch  # the hash splits 45/45/10 as configured
    holdout = by_name["holdout"]
    assert holdout.lift is None and holdout.probability_to_beat_baseline is None
    discount = by_name["discount"]
    assert discount.lift is not None and discount.lift > 0
    assert discount.probability_to_beat_baseline is not None
    assert discount.probability_to_beat_baseline > 0.9


def test_a_broken_split_is_flagged(store: Store) -> None:
    for number in range(400):  # everyone in one arm: the assignment is broken
        store.assign_variant("cart-offer-2026", f"c{number}", "reminder")
    [result] = experiment_results(store, compiled("abandoned-cart"))
    assert result.sample_ratio_mismatch
