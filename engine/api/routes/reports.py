"""``GET /v1/journeys/{journey_id}/report``: the numbers of `cxflow report`, as JSON.

Dashboards and notebooks read the same report a marketer sees in the terminal
or the HTML page: runs, the per-step funnel and the experiment results. It
needs a key of scope ``read`` (``cxflow keys create --source NAME --scope
read``): event sources' write keys read nothing back.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from dsl.types import SLUG_PATTERN
from engine.analytics.overview import OverviewReport, overview_report
from engine.analytics.report import JourneyReport, build_report
from engine.analytics.segment_value import SegmentValueReport, segment_value_report
from engine.analytics.voc import VocReport, voc_report
from engine.api.auth import Reader
from engine.api.deps import StoreDep
from engine.api.models import ErrorBody
from engine.api.problems import ApiProblemError
from engine.settings import Settings

router = APIRouter(tags=["reports"])

JourneyId = Annotated[
    str,
    Path(
        pattern=SLUG_PATTERN,
        max_length=100,
        description="The journey's id, as in its file's `journey:` key.",
        examples=["abandoned-cart"],
    ),
]


@router.get(
    "/v1/journeys/{journey_id}/report",
    summary="A journey's report",
    response_model=JourneyReport,
    responses={404: {"model": ErrorBody, "description": "No journey with this id is deployed."}},
)
async def journey_report(journey_id: JourneyId, store: StoreDep, reader: Reader) -> JourneyReport:
    """Runs by status, the funnel of every step, and each experiment's results with its
    statistics, for the journey's active version."""
    journey = await asyncio.to_thread(store.get_journey, journey_id)
    if journey is None:
        raise ApiProblemError(
            404, f"no journey {journey_id!r} is deployed: see `cxflow journeys list`"
        )
    return await asyncio.to_thread(build_report, store, journey)


@router.get("/v1/reports/voc", summary="NPS, CSAT and CES", response_model=VocReport)
async def voc(
    store: StoreDep,
    reader: Reader,
    since: Annotated[
        datetime | None, Query(description="Only answers from this time on (ISO 8601).")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="Only answers before this time (ISO 8601).")
    ] = None,
) -> VocReport:
    """The survey scores of the workspace (from `survey.responded` events), overall and by
    survey, journey, variant, segment and week, with 95% intervals and the latest
    comments; what `cxflow report voc` prints. Times without an offset are UTC."""
    return await asyncio.to_thread(voc_report, store, _aware(since), _aware(until))


@router.get(
    "/v1/reports/overview", summary="The workspace at a glance", response_model=OverviewReport
)
async def overview(
    store: StoreDep,
    reader: Reader,
    since: Annotated[datetime | None, Query(description="From this time on (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Before this time (ISO 8601).")] = None,
) -> OverviewReport:
    """Entries, messages by channel and status, conversions and revenue per journey and
    per ISO week, the survey scores, delivery and engagement rates per channel, and the
    global control group's lift: what `cxflow report overview` prints."""
    percent = Settings.from_env().global_control_percent
    return await asyncio.to_thread(overview_report, store, _aware(since), _aware(until), percent)


@router.get(
    "/v1/reports/segments",
    summary="Customer value per segment",
    response_model=SegmentValueReport,
    responses={404: {"model": ErrorBody, "description": "No segment with this id is deployed."}},
)
async def segments_value(
    store: StoreDep,
    reader: Reader,
    segment: Annotated[
        str | None,
        Query(
            pattern=SLUG_PATTERN,
            max_length=100,
            description="Only this segment (its `segment:` id); every deployed one without.",
        ),
    ] = None,
) -> SegmentValueReport:
    """Per deployed segment, its members now and what they ordered: members, buyers,
    repeat buyers and the repeat rate (repeat buyers / buyers), orders, and revenue and
    AOV per currency, from the customers' lifetime value figures; what `cxflow segments
    value` prints."""
    report = await asyncio.to_thread(segment_value_report, store, segment)
    if segment is not None and not report.segments:
        raise ApiProblemError(
            404,
            f"no segment {segment!r} is deployed: see `cxflow segments list`",
            code="segment_not_deployed",
        )
    return report


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
