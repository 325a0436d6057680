"""Experiment statistics against scipy on fixed data (scipy is a test-only dependency)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from engine.analytics.stats import (
    chi_square_independence,
    chi_square_sf,
    lift,
    mean_difference,
    mean_interval,
    net_promoter,
    net_promoter_difference,
    probability_to_beat,
    proportion_difference,
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


def wilson(successes: int, n: int) -> tuple[float, float]:
    ci = stats.binomtest(successes, n).proportion_ci(0.95, method="wilson")
    return ci.low, ci.high


@pytest.mark.parametrize(
    ("control", "variant"), [((1, 3), (6, 12)), ((0, 5), (0, 40)), ((1, 1), (0, 1)), ((30, 1000), (45, 1000))]
)  # fmt: skip
def test_newcombes_interval_is_built_from_the_two_wilson_intervals(
    control: tuple[int, int], variant: tuple[int, int]
) -> None:
    pc, pv = control[0] / control[1], variant[0] / variant[1]
    (lc, uc), (lv, uv) = wilson(*control), wilson(*variant)
    result = proportion_difference(*control, *variant)
    assert result is not None
    assert result.difference == pytest.approx(pv - pc)
    low, high = result.difference_interval.low, result.difference_interval.high
    assert low == pytest.approx(pv - pc - math.sqrt((pv - lv) ** 2 + (uc - pc) ** 2))
    assert high == pytest.approx(pv - pc + math.sqrt((uv - pv) ** 2 + (pc - lc) ** 2))
    assert -1 <= low < high <= 1  # keeps a width at 0% and 100%
    assert proportion_difference(0, 0, 1, 2) is None


def as_points(scores: list[int]) -> np.ndarray:
    """An NPS answer as +1 (promoter), 0 (passive) or −1 (detractor): NPS is their mean."""
    return np.array([1 if s >= 9 else -1 if s <= 6 else 0 for s in scores], dtype=float)


@pytest.mark.parametrize(
    ("control", "variant"),
    [([10, 9, 3, 7, 8, 6], [10, 10, 9, 9, 2]), ([0, 1, 2], [10]), ([9] * 20, [9] * 19 + [0])],
)
def test_the_nps_difference_sums_the_two_variances(control: list[int], variant: list[int]) -> None:
    c, v = as_points(control), as_points(variant)
    # The multinomial variance of NPS is the population variance of the ±1 points.
    se = math.sqrt(c.var(ddof=0) / len(c) + v.var(ddof=0) / len(v))
    expected = 100 * (v.mean() - c.mean())
    counts = [(int(sum(p == 1)), int(sum(p == 0)), int(sum(p == -1))) for p in (c, v)]
    result = net_promoter_difference(counts[0], counts[1])
    assert result is not None
    assert result.mean == pytest.approx(expected)
    assert result.interval.low == pytest.approx(expected - 100 * stats.norm.ppf(0.975) * se)
    assert result.interval.high == pytest.approx(expected + 100 * stats.norm.ppf(0.975) * se)
    one = net_promoter(*counts[1])  # each side's own interval uses the same variance
    assert one.score == pytest.approx(100 * v.mean())
    assert net_promoter_difference((0, 0, 0), counts[1]) is None
