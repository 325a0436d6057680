"""``POST /v1/journeys/{journey_id}/start``: a system starts an ``api:``-triggered journey.

The start is stored before the answer (as the event ``api:<journey>``), so it is
idempotent on ``messageId`` (or the ``Idempotency-Key`` header) and happens even if
Temporal is down at that moment; the journey's entry rules apply as for any trigger.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from pydantic import Field

from engine.api.auth import Source
from engine.api.deps import IntakeDep
from engine.api.models import ErrorBody
from engine.api.problems import ApiProblemError
from engine.api.routes.reports import JourneyId
from engine.errors import RoutingError
from engine.ingest.calls import ApiModel, CustomerId, JsonObject, MessageId
from engine.ingest.intake import StartOutcome

router = APIRouter(tags=["journeys"])


class StartRequest(ApiModel):
    """Who enters the journey, with what inputs."""

    user_id: CustomerId = Field(alias="userId", description="The customer who enters.")
    properties: JsonObject = Field(
        default_factory=dict, description="Inputs: the run reads them as `event.properties`."
    )
    message_id: MessageId | None = Field(default=None, alias="messageId")


@router.post(
    "/v1/journeys/{journey_id}/start",
    summary="Start a journey for a customer",
    response_model=StartOutcome,
    response_model_by_alias=True,
    responses={
        202: {"model": StartOutcome, "description": "Stored; it starts when Temporal is back."},
        404: {"model": ErrorBody, "description": "No journey with an `api` trigger has this id."},
    },
)
async def start_journey(
    journey_id: JourneyId,
    body: StartRequest,
    source: Source,
    intake: IntakeDep,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=255, description="Used as the messageId when the body has none."),
    ] = None,
) -> JSONResponse:
    """`status` says what happened: `started`, `running` (in the journey already),
    `refused` (entry rules: `reason`), `duplicate` (this messageId was used: nothing
    done), or `queued` (202: stored, starts when the workflow engine is reachable)."""
    message_id = body.message_id or idempotency_key or str(uuid.uuid4())
    try:
        outcome = await intake.start(journey_id, body.user_id, dict(body.properties), message_id)
    except RoutingError as error:
        raise ApiProblemError(404, str(error), code=error.code) from None
    return JSONResponse(
        outcome.model_dump(mode="json", by_alias=True),
        status_code=202 if outcome.status == "queued" else 200,
    )
