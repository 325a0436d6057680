"""Experiment statistics against scipy on fixed data (scipy is a test-only dependency)."""

from __future__ import annotations

import math

import pytest
from scipy import integrate, stats

from engine.analytics.stats import (
    chi_square_independence,
    chi_square_sf,
    lift,
    mean_difference,
    mean_interval,
    probability_to_beat,
    sample_ratio_mismatch,
    wilson_interval,
)

CASES = [(0, 10), (1, 10), (5, 10), (10, 10), (37, 412), (1200, 25000)]


@pytest.mark.parametrize(("successes", "trials"), CASES)
def test_wilson_interval_matches_scipy(successes: int, trials: int) -> None:
    expected = stats.binomtest(successes, trials).proportion_ci(0.95, method="wilson")
    interval = wilson_interval(successes, trials)
    assert interval.low == pytest.approx(expected.low, abs=1e-9)
    assert interval.high == pytest.approx(expected.high, abs=1e-9)


@pytest.mark.parametrize(
    ("conversions", "exposures"),
    [([30, 45], [1000, 1000]), ([120, 130, 100], [2000, 2010, 1990]), ([0, 3], [50, 60])],
)
def test_chi_square_matches_scipy_contingency(conversions: list[int], exposures: list[int]) -> None:
    table = [[c, n - c] for c, n in zip(conversions, exposures, strict=True)]
    statistic, p_value, dof, _ = stats.chi2_contingency(table, correction=False)
    result = chi_square_independence(conversions, exposures)
    assert result.statistic == pytest.approx(statistic, rel=1e-9)
    assert result.dof == dof
    assert result.p_value == pytest.approx(p_value, rel=1e-7, abs=1e-12)


@pytest.mark.parametrize(("x", "dof"), [(0.5, 1), (3.84, 1), (10.0, 2), (25.0, 5), (120.0, 3)])
def test_chi_square_survival_matches_scipy(x: float, dof: int) -> None:
    assert chi_square_sf(x, dof) == pytest.approx(stats.chi2.sf(x, dof), rel=1e-9, abs=1e-15)


def test_sample_ratio_mismatch_matches_scipy_chisquare() -> None:
    observed = [4620, 4410, 970]
    weights = [45.0, 45.0, 10.0]
    expected = [sum(observed) * w / 100 for w in weights]
    reference = stats.chisquare(observed, expected)
    result = sample_ratio_mismatch(observed, weights)
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-7)
    assert result.mismatch == bool(reference.pvalue < 0.001)
    assert not sample_ratio_mismatch([4510, 4490, 1000], weights).mismatch
    assert sample_ratio_mismatch([5200, 3800, 1000], weights).mismatch


@pytest.mark.parametrize(
    ("a", "b"), [((30, 1000), (45, 1000)), ((10, 100), (8, 100)), ((0, 20), (1, 20))]
)
def test_probability_to_beat_matches_numerical_integration(
    a: tuple[int, int], b: tuple[int, int]
) -> None:
    control = stats.beta(a[0] + 1, a[1] - a[0] + 1)
    variant = stats.beta(b[0] + 1, b[1] - b[0] + 1)
    expected, _ = integrate.quad(lambda x: variant.pdf(x) * control.cdf(x), 0, 1, limit=200)
    assert probability_to_beat(a[0], a[1], b[0], b[1]) == pytest.approx(expected, abs=1e-6)


def test_lift_and_its_interval() -> None:
    result = lift(30, 1000, 45, 1000)
    assert result.relative == pytest.approx(0.5)
    assert result.difference == pytest.approx(0.015)
    se = math.sqrt(0.03 * 0.97 / 1000 + 0.045 * 0.955 / 1000)
    assert result.difference_interval.low == pytest.approx(0.015 - 1.959963984540054 * se)
    assert lift(0, 100, 5, 100).relative is None  # no lift over a zero rate


REVENUE_SAMPLES = [
    [0.0, 0.0, 40.0, 0.0, 25.5, 0.0, 0.0, 99.0],
    [12.0, 0.0],
    [0.0] * 50 + [30.0] * 7 + [120.0],
]


@pytest.mark.parametrize("values", REVENUE_SAMPLES)
def test_mean_interval_matches_scipy(values: list[float]) -> None:
    mean = mean_interval(values)
    low, high = stats.norm.interval(0.95, loc=sum(values) / len(values), scale=stats.sem(values))
    assert mean.mean == pytest.approx(sum(values) / len(values))
    assert (mean.interval.low, mean.interval.high) == (pytest.approx(low), pytest.approx(high))


def test_mean_interval_of_one_value_or_none_has_no_spread() -> None:
    assert mean_interval([]).mean == 0.0 and mean_interval([]).interval.high == 0.0
    single = mean_interval([42.0])
    assert (single.mean, single.interval.low, single.interval.high) == (42.0, 42.0, 42.0)


@pytest.mark.parametrize(
    ("control", "variant"),
    [(REVENUE_SAMPLES[0], REVENUE_SAMPLES[2]), ([0.0, 5.0, 0.0], [9.0, 1.0])],
)
def test_mean_difference_is_welchs(control: list[float], variant: list[float]) -> None:
    difference = mean_difference(control, variant)
    welch = stats.ttest_ind(variant, control, equal_var=False)
    expected = sum(variant) / len(variant) - sum(control) / len(control)
    se = expected / welch.statistic  # Welch's statistic is the difference over its SE
    z = stats.norm.ppf(0.975)
    assert difference.mean == pytest.approx(expected)
    assert difference.interval.low == pytest.approx(expected - z * se)
    assert difference.interval.high == pytest.approx(expected + z * se)
    assert mean_difference([], variant).mean == 0.0  # an empty group compares with nothing
