"""The surveys page: NPS, CSAT and CES with their intervals, weekly trends, breakdowns and
the latest comments, for all answers or those of one journey, segment or variant.

The figures are the VoC report's (:func:`engine.analytics.voc.voc_report`, filtered by
:class:`engine.analytics.voc.AnswerFilter`), as ``cxflow report voc`` prints them; with a
journey chosen, its splits' survey scores per variant are
:func:`engine.analytics.survey_variants.survey_metrics`'.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from dsl.compiled import SplitNode
from engine.analytics.survey_variants import SurveyMetric, survey_metrics
from engine.analytics.voc import KINDS, AnswerFilter, Breakdown, VocReport, voc_report
from engine.console.charts import Chart, lines
from engine.console.context import ConsoleContext, ContextDep
from engine.console.period import Period, PeriodDep
from engine.console.security import ViewerDep
from engine.console.templating import render

router = APIRouter()

TRENDS = {
    "nps": ("NPS per week", (-100.0, 100.0)),
    "csat": ("CSAT per week (% satisfied)", (0.0, 100.0)),
    "ces": ("CES per week (1 to 7, lower is easier)", (1.0, 7.0)),
}
NAMES = {"nps": "NPS", "csat": "CSAT", "ces": "CES"}
Choice = Annotated[str, Query(max_length=200)]


def trend_charts(weeks: list[Breakdown]) -> list[Chart]:
    """One line chart per kind with answers: its score per ISO week (gaps without)."""
    labels = [w.key for w in weeks]
    charts = []
    for kind in KINDS:
        values = [next((s.score for s in w.scores if s.kind == kind), None) for w in weeks]
        if any(v is not None for v in values):
            title, scale = TRENDS[kind]
            charts.append(lines(title, labels, {NAMES[kind]: values}, range_=scale))
    return charts


def _options(context: ConsoleContext) -> tuple[list[str], list[str], list[str]]:
    """The journeys, segments and variants (``journey/variant``) the filters offer."""
    store = context.store
    journeys = store.active_journeys()
    variants = sorted(
        f"{journey.id}/{variant.name}"
        for journey in journeys
        for node in journey.steps.values()
        if isinstance(node, SplitNode)
        for variant in node.variants
    )
    segments = [segment.id for segment in store.active_segments()]
    return sorted(store.journey_ids()), segments, variants


def _gather(
    context: ConsoleContext, span: Period, only: AnswerFilter
) -> tuple[VocReport, list[SurveyMetric], tuple[list[str], list[str], list[str]]]:
    store = context.store
    report = voc_report(store, span.since, span.until, only)
    metrics: list[SurveyMetric] = []
    if only.journey:
        journey = store.get_journey(only.journey)
        if journey is not None:
            metrics = survey_metrics(store, journey)
    return report, metrics, _options(context)


@router.get("/surveys")
async def surveys(
    request: Request,
    context: ContextDep,
    viewer: ViewerDep,
    span: PeriodDep,
    journey: Choice = "",
    segment: Choice = "",
    variant: Choice = "",
) -> Response:
    only = AnswerFilter(journey=journey or None, segment=segment or None, variant=variant or None)
    report, metrics, (journeys, segments, variants) = await asyncio.to_thread(
        _gather, context, span, only
    )
    chosen = {"journey": journey, "segment": segment, "variant": variant}
    breakdowns = [
        ("By survey", report.by_survey),
        ("By journey", report.by_journey),
        ("By variant", report.by_variant),
        ("By segment", report.by_segment),
        ("By channel the link went by", report.by_channel),
    ]
    return render(
        request,
        "surveys/index.html",
        title="Surveys",
        report=report,
        span=span,
        chosen=chosen,
        filtered=any(chosen.values()),
        journeys=journeys,
        segments=segments,
        variants=variants,
        kinds=KINDS,
        names=NAMES,
        charts=trend_charts(report.by_week),
        breakdowns=[(title, rows) for title, rows in breakdowns if rows],
        metrics=metrics,
    )
