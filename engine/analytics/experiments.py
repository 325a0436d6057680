"""Experiment results of a journey, computed from the store.

Exposures are the stored variant assignments (one per customer, sticky), and
conversions are the goal conversions recorded by runs with their variant. The
baseline a variant is compared with is the holdout when the split has one
(what the messages achieved over doing nothing), else the first variant.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict

from dsl.compiled import CompiledJourney, SplitNode
from engine.analytics.stats import (
    chi_square_independence,
    lift,
    mean_difference,
    mean_interval,
    probability_to_beat,
    sample_ratio_mismatch,
    wilson_interval,
)
from engine.store import Store


class Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class VariantResult(Result):
    name: str
    weight: float
    holdout: bool
    exposures: int
    conversions: int
    rate: float
    rate_low: float
    rate_high: float
    lift: float | None
    difference_low: float | None
    difference_high: float | None
    probability_to_beat_baseline: float | None
    # With a goal `value`: revenue of the variant's customers, per exposed customer with
    # its 95% interval, and the difference per exposed customer from the baseline.
    revenue: float | None = None
    revenue_per_exposure: float | None = None
    revenue_per_exposure_low: float | None = None
    revenue_per_exposure_high: float | None = None
    incremental_revenue_per_exposure: float | None = None
    incremental_low: float | None = None
    incremental_high: float | None = None


class ExperimentResult(Result):
    experiment: str
    step_id: str
    baseline: str
    variants: list[VariantResult]
    chi_square: float
    p_value: float
    sample_ratio_p_value: float
    sample_ratio_mismatch: bool


def experiment_results(store: Store, journey: CompiledJourney) -> list[ExperimentResult]:
    """One result per split step of the journey."""
    conversions = store.conversions(journey.id)
    converted_customers = {c.customer_id for c in conversions}
    valued = journey.goal is not None and journey.goal.value is not None
    worth: dict[str, float] = {}
    for conversion in conversions:
        worth[conversion.customer_id] = worth.get(conversion.customer_id, 0.0) + (
            conversion.value or 0.0
        )
    results = []
    for node in journey.steps.values():
        if not isinstance(node, SplitNode):
            continue
        assigned = store.assignments(node.experiment)
        counts = {v.name: [0, 0] for v in node.variants}  # exposures, conversions
        for customer, name in assigned.items():
            if name in counts:
                counts[name][0] += 1
                counts[name][1] += customer in converted_customers
        values: dict[str, list[float]] = {v.name: [] for v in node.variants}
        for customer, name in assigned.items():
            if name in values:
                values[name].append(worth.get(customer, 0.0))
        baseline = next((v for v in node.variants if v.holdout), node.variants[0])
        base_n, base_c = counts[baseline.name]
        variants = []
        for variant in node.variants:
            n, c = counts[variant.name]
            interval = wilson_interval(c, n)
            is_base = variant.name == baseline.name
            change = None if is_base else lift(base_c, base_n, c, n)
            variants.append(
                VariantResult(
                    name=variant.name,
                    weight=variant.weight,
                    holdout=variant.holdout,
                    exposures=n,
                    conversions=c,
                    rate=c / n if n else 0.0,
                    rate_low=interval.low,
                    rate_high=interval.high,
                    lift=change.relative if change else None,
                    difference_low=change.difference_interval.low if change else None,
                    difference_high=change.difference_interval.high if change else None,
                    probability_to_beat_baseline=(
                        None if is_base else probability_to_beat(base_c, base_n, c, n)
                    ),
                    **(
                        _revenue(values[variant.name], values[baseline.name], is_base)
                        if valued
                        else {}
                    ),
                )
            )
        exposures = [counts[v.name][0] for v in node.variants]
        converted = [counts[v.name][1] for v in node.variants]
        test = chi_square_independence(converted, exposures)
        ratio = sample_ratio_mismatch(exposures, [v.weight for v in node.variants])
        results.append(
            ExperimentResult(
                experiment=node.experiment,
                step_id=node.id,
                baseline=baseline.name,
                variants=variants,
                chi_square=test.statistic,
                p_value=test.p_value,
                sample_ratio_p_value=ratio.p_value,
                sample_ratio_mismatch=ratio.mismatch,
            )
        )
    return results


def _revenue(mine: list[float], baseline: list[float], is_base: bool) -> dict[str, float | None]:
    """The revenue fields of a variant: total, per exposure, and over the baseline."""
    per = mean_interval(mine)
    more = None if is_base else mean_difference(baseline, mine)
    return {
        "revenue": round(math.fsum(mine), 2),
        "revenue_per_exposure": per.mean,
        "revenue_per_exposure_low": per.interval.low,
        "revenue_per_exposure_high": per.interval.high,
        "incremental_revenue_per_exposure": more.mean if more else None,
        "incremental_low": more.interval.low if more else None,
        "incremental_high": more.interval.high if more else None,
    }
