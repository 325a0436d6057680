"""Statistics for experiment results, in plain Python (no numpy/scipy at run time).

A marketer reads these numbers to decide which message to keep, so each one is
a standard method with a reference: Wilson score intervals for conversion
rates, Pearson's chi-square for "do the variants differ", the same test as a
goodness-of-fit check for sample-ratio mismatch, Newcombe's interval for a difference of
two small-sample proportions, the exact Bayesian
probability that a variant beats control (Beta(1, 1) priors), and normal
(Welch) intervals for means such as revenue per exposed customer and for differences of
two NPS (the two variances summed). The tests check
every function against scipy on fixed data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054  # two-sided 95% normal quantile


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def rate(part: int, whole: int) -> float | None:
    """``part / whole``; None (no rate, not 0%) when there is nothing to divide by."""
    return part / whole if whole else None


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> Interval:
    """Wilson score interval of a proportion: sane at 0%, 100% and small samples."""
    if trials <= 0:
        return Interval(0.0, 1.0)
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be within 0..{trials}, got {successes}")
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return Interval(max(0.0, centre - spread), min(1.0, centre + spread))


@dataclass(frozen=True)
class Lift:
    """Relative change of a variant's rate over control, with a 95% interval."""

    relative: float | None
    difference: float
    difference_interval: Interval


def lift(
    control_conversions: int, control_n: int, variant_conversions: int, variant_n: int
) -> Lift:
    """Lift over control; the interval is for the absolute difference (unpooled normal)."""
    if control_n <= 0 or variant_n <= 0:
        return Lift(None, 0.0, Interval(-1.0, 1.0))
    pc = control_conversions / control_n
    pv = variant_conversions / variant_n
    difference = pv - pc
    se = math.sqrt(pc * (1 - pc) / control_n + pv * (1 - pv) / variant_n)
    relative = difference / pc if pc > 0 else None
    return Lift(relative, difference, Interval(difference - Z_95 * se, difference + Z_95 * se))


def proportion_difference(
    control_successes: int,
    control_n: int,
    variant_successes: int,
    variant_n: int,
    z: float = Z_95,
) -> Lift | None:
    """Variant rate minus control rate with Newcombe's hybrid score interval (his method
    10): built from the two Wilson intervals, so it stays inside −1..1 and keeps a width
    at 0% and 100%, where the plain normal interval collapses. For small groups such as
    a global control group. None when either group is empty.
    """
    if control_n <= 0 or variant_n <= 0:
        return None
    pc, pv = control_successes / control_n, variant_successes / variant_n
    c = wilson_interval(control_successes, control_n, z)
    v = wilson_interval(variant_successes, variant_n, z)
    difference = pv - pc
    low = difference - math.sqrt((pv - v.low) ** 2 + (c.high - pc) ** 2)
    high = difference + math.sqrt((v.high - pv) ** 2 + (pc - c.low) ** 2)
    relative = difference / pc if pc > 0 else None
    return Lift(relative, difference, Interval(low, high))


@dataclass(frozen=True)
class Mean:
    """A sample mean (e.g. revenue per exposed customer) with its 95% interval."""

    mean: float
    interval: Interval


def mean_interval(values: list[float], z: float = Z_95) -> Mean:
    """Mean with a normal-approximation interval: mean ± z·s/√n (s, the sample standard
    deviation); a single value or none has no spread to estimate, so the interval is the
    mean itself (or 0)."""
    n = len(values)
    if n == 0:
        return Mean(0.0, Interval(0.0, 0.0))
    mean = math.fsum(values) / n
    if n == 1:
        return Mean(mean, Interval(mean, mean))
    variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    spread = z * math.sqrt(variance / n)
    return Mean(mean, Interval(mean - spread, mean + spread))


def mean_difference(control: list[float], variant: list[float], z: float = Z_95) -> Mean:
    """Variant mean minus control mean, with Welch's (unpooled) normal interval."""
    if not control or not variant:
        return Mean(0.0, Interval(0.0, 0.0))
    c, v = mean_interval(control), mean_interval(variant)
    se = math.sqrt(_variance_of_mean(control, c.mean) + _variance_of_mean(variant, v.mean))
    difference = v.mean - c.mean
    return Mean(difference, Interval(difference - z * se, difference + z * se))


def _variance_of_mean(values: list[float], mean: float) -> float:
    n = len(values)
    if n < 2:
        return 0.0
    return math.fsum((x - mean) ** 2 for x in values) / (n - 1) / n


@dataclass(frozen=True)
class NetPromoter:
    """Net Promoter Score (−100..100) with its 95% interval."""

    score: float
    interval: Interval


def net_promoter(promoters: int, passives: int, detractors: int, z: float = Z_95) -> NetPromoter:
    """NPS = 100·(p_promoters − p_detractors); its variance from the multinomial
    proportions, (p_P + p_D − (p_P − p_D)²)/n, gives a normal interval, clipped to
    −100..100."""
    n = promoters + passives + detractors
    if n <= 0:
        return NetPromoter(0.0, Interval(-100.0, 100.0))
    p, d = promoters / n, detractors / n
    score = p - d
    spread = z * math.sqrt(max(0.0, p + d - score * score) / n)
    return NetPromoter(
        100 * score,
        Interval(max(-100.0, 100 * (score - spread)), min(100.0, 100 * (score + spread))),
    )


def _nps_variance(promoters: int, passives: int, detractors: int) -> tuple[float, float]:
    """(NPS as a proportion difference, the variance of that estimate)."""
    n = promoters + passives + detractors
    p, d = promoters / n, detractors / n
    return p - d, max(0.0, p + d - (p - d) ** 2) / n


def net_promoter_difference(
    control: tuple[int, int, int], variant: tuple[int, int, int], z: float = Z_95
) -> Mean | None:
    """Variant NPS minus control NPS, in points, with a normal 95% interval.

    The two groups are independent samples, so the variance of the difference is the sum
    of the two NPS variances (each the multinomial one of :func:`net_promoter`). Each
    count is (promoters, passives, detractors); None when either group has no answers.
    Not clipped: a difference runs from −200 to 200.
    """
    if sum(control) <= 0 or sum(variant) <= 0:
        return None
    c, c_var = _nps_variance(*control)
    v, v_var = _nps_variance(*variant)
    difference = 100 * (v - c)
    spread = 100 * z * math.sqrt(c_var + v_var)
    return Mean(difference, Interval(difference - spread, difference + spread))


@dataclass(frozen=True)
class ChiSquare:
    statistic: float
    dof: int
    p_value: float


def chi_square_independence(conversions: list[int], exposures: list[int]) -> ChiSquare:
    """Pearson's chi-square (no continuity correction) on converted / not converted per variant."""
    if len(conversions) != len(exposures) or len(conversions) < 2:
        raise ValueError("need conversions and exposures for at least two variants")
    rows = [(c, n - c) for c, n in zip(conversions, exposures, strict=True)]
    total = sum(exposures)
    column_totals = [sum(r[0] for r in rows), sum(r[1] for r in rows)]
    if total == 0 or 0 in column_totals:
        return ChiSquare(0.0, len(rows) - 1, 1.0)
    statistic = 0.0
    for (converted, not_converted), n in zip(rows, exposures, strict=True):
        for observed, column_total in (
            (converted, column_totals[0]),
            (not_converted, column_totals[1]),
        ):
            expected = n * column_total / total
            if expected > 0:
                statistic += (observed - expected) ** 2 / expected
    dof = len(rows) - 1
    return ChiSquare(statistic, dof, chi_square_sf(statistic, dof))


@dataclass(frozen=True)
class SampleRatio:
    statistic: float
    p_value: float
    mismatch: bool


SRM_THRESHOLD = 0.001  # the customary threshold: a mismatch this unlikely means a bug


def sample_ratio_mismatch(observed: list[int], weights: list[float]) -> SampleRatio:
    """Goodness of fit of the observed split to the configured weights.

    A mismatch means the assignment or the logging is broken, so the experiment's
    other numbers should not be trusted.
    """
    total = sum(observed)
    weight_total = sum(weights)
    if total == 0 or weight_total <= 0:
        return SampleRatio(0.0, 1.0, False)
    statistic = 0.0
    for count, weight in zip(observed, weights, strict=True):
        expected = total * weight / weight_total
        if expected > 0:
            statistic += (count - expected) ** 2 / expected
    dof = sum(1 for w in weights if w > 0) - 1
    p_value = chi_square_sf(statistic, dof) if dof > 0 else 1.0
    return SampleRatio(statistic, p_value, p_value < SRM_THRESHOLD)


def probability_to_beat(
    control_conversions: int, control_n: int, variant_conversions: int, variant_n: int
) -> float:
    """P(variant rate > control rate) with Beta(1, 1) priors, computed exactly.

    Evan Miller's closed form for Beta-distributed rates (sum over the variant's
    successes), in logs so large samples do not overflow.
    """
    alpha_a, beta_a = control_conversions + 1, control_n - control_conversions + 1
    alpha_b, beta_b = variant_conversions + 1, variant_n - variant_conversions + 1
    total = 0.0
    for i in range(alpha_b):
        total += math.exp(
            _log_beta(alpha_a + i, beta_a + beta_b)
            - math.log(beta_b + i)
            - _log_beta(1 + i, beta_b)
            - _log_beta(alpha_a, beta_a)
        )
    return min(1.0, max(0.0, total))


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def chi_square_sf(statistic: float, dof: int) -> float:
    """Survival function of the chi-square distribution: Q(dof/2, statistic/2)."""
    if statistic <= 0:
        return 1.0
    return _regularized_upper_gamma(dof / 2, statistic / 2)


def _regularized_upper_gamma(a: float, x: float) -> float:
    """Q(a, x) by series for small x and Lentz's continued fraction otherwise."""
    if x < a + 1:
        term = 1.0 / a
        total = term
        for n in range(1, 10_000):
            term *= x / (a + n)
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(-x + a * math.log(x) - math.lgamma(a)))
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return min(1.0, math.exp(-x + a * math.log(x) - math.lgamma(a)) * h)
