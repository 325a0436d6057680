"""``GET /v1/journeys/{journey_id}/report``: the numbers of `cxflow report`, as JSON.

Dashboards and notebooks read the same report a marketer sees in the terminal
or the HTML page: runs, the per-step funnel and the experiment results. It
needs a key of scope ``read`` (``cxflow keys create --source NAME --scope
read``): event sources' write keys read nothing back.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path

from dsl.types import SLUG_PATTERN
from engine.analytics.report import JourneyReport, build_report
from engine.api.auth import Reader
from engine.api.deps import StoreDep
from engine.api.models import ErrorBody
from engine.api.problems import ApiProblemError

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
