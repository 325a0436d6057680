"""Experiment results of a journey, computed from the store.

Exposures are the stored variant assignments (one per customer, sticky), and
conversions are the goal conversions recorded by runs with their variant. The
baseline a variant is compared with is the holdout when the split has one
(what the messages achieved over doing nothing), else the first variant.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from dsl.compiled import CompiledJourney, SplitNode
from engine.analytics.stats import (
    chi_square_independence,
    lift,
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
    converted_customers = {c.customer_id for c in store.conversions(journey.id)}
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
