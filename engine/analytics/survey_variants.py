"""Survey scores as an experiment metric: NPS, CSAT and CES per variant of a journey's
splits, each against the baseline variant (the holdout when there is one).

The unit is the exposed customer, as for conversions: each customer counts once per kind,
with their latest answer (to any survey) given at or after their assignment, so an answer
from before the split cannot be credited to it. The figure of a kind is the VoC report's
(engine.analytics.voc.score_of); the difference from the baseline has a 95% interval:
NPS, normal with the two NPS variances summed (stats.net_promoter_difference); CSAT
(% satisfied), the unpooled difference of two proportions (stats.lift); CES (mean), Welch's
(stats.mean_difference).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from dsl.compiled import CompiledJourney, SplitNode
from engine.analytics.stats import lift, mean_difference, net_promoter_difference
from engine.analytics.voc import KINDS, Answer, Kind, score_of, survey_answers
from engine.store import Store


class Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class VariantScore(Result):
    name: str
    holdout: bool
    answers: int  # customers of the variant with an answer of this kind
    score: float | None
    low: float | None
    high: float | None
    # The variant's score minus the baseline's (NPS and CSAT points, CES score units);
    # None for the baseline itself and when either has no answers.
    difference: float | None = None
    difference_low: float | None = None
    difference_high: float | None = None


class SurveyMetric(Result):
    """One kind of score across the variants of one split."""

    experiment: str
    step_id: str
    kind: Kind
    baseline: str
    variants: list[VariantScore]


def survey_metrics(store: Store, journey: CompiledJourney) -> list[SurveyMetric]:
    """Per split step and kind with any answer, the score of each variant."""
    splits = [node for node in journey.steps.values() if isinstance(node, SplitNode)]
    if not splits:
        return []
    answers, _ignored = survey_answers(store)
    results = []
    for node in splits:
        assigned = store.reports.assigned(node.experiment)
        latest: dict[tuple[str, Kind], Answer] = {}
        for answer in answers:  # oldest first: the last one kept is the latest
            seat = assigned.get(answer.customer_id)
            if seat is not None and answer.at >= seat.assigned_at:
                latest[(answer.customer_id, answer.kind)] = answer
        baseline = next((v for v in node.variants if v.holdout), node.variants[0])
        for kind in KINDS:
            scores: dict[str, list[float]] = {v.name: [] for v in node.variants}
            for (customer, answered), answer in latest.items():
                variant = assigned[customer].variant
                if answered == kind and variant in scores:
                    scores[variant].append(answer.score)
            if not any(scores.values()):
                continue
            results.append(
                SurveyMetric(
                    experiment=node.experiment,
                    step_id=node.id,
                    kind=kind,
                    baseline=baseline.name,
                    variants=[
                        _variant(kind, v.name, v.holdout, scores[v.name], scores[baseline.name],
                                 v.name == baseline.name)
                        for v in node.variants
                    ],
                )
            )  # fmt: skip
    return results


def _variant(
    kind: Kind, name: str, holdout: bool, mine: list[float], base: list[float], is_base: bool
) -> VariantScore:
    score = score_of(kind, mine)
    figure = VariantScore(
        name=name,
        holdout=holdout,
        answers=score.answers,
        score=score.score,
        low=score.low,
        high=score.high,
    )
    difference = None if is_base else _difference(kind, base, mine)
    if difference is None:
        return figure
    return figure.model_copy(
        update={
            "difference": difference[0],
            "difference_low": difference[1],
            "difference_high": difference[2],
        }
    )


def _difference(
    kind: Kind, base: list[float], mine: list[float]
) -> tuple[float, float, float] | None:
    """(variant − baseline, low, high) of the kind's figure; None if either has no answers."""
    if not base or not mine:
        return None
    if kind == "nps":
        nps = net_promoter_difference(_nps_counts(base), _nps_counts(mine))
        return None if nps is None else (nps.mean, nps.interval.low, nps.interval.high)
    if kind == "csat":
        change = lift(
            sum(1 for s in base if s >= 4), len(base), sum(1 for s in mine if s >= 4), len(mine)
        )
        interval = change.difference_interval
        return 100 * change.difference, 100 * interval.low, 100 * interval.high
    mean = mean_difference(base, mine)
    return mean.mean, mean.interval.low, mean.interval.high


def _nps_counts(scores: list[float]) -> tuple[int, int, int]:
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    return promoters, len(scores) - promoters - detractors, detractors
