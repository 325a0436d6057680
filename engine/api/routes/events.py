"""The tracking calls: Segment's HTTP API paths, and the one-letter ones analytics.js uses.

Each call is stored durably (deduplicated on its messageId) before the API
answers 200, then handed to Temporal by the intake; if Temporal is unreachable
the answer is still 200 and the intake's reroute hands the events over later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from connectors.inbound import InboundRejectedError
from engine.api.auth import Source
from engine.api.deps import IntakeDep, StoreDep
from engine.api.models import Accepted, Batch, ErrorBody
from engine.api.problems import ApiProblemError, rejected
from engine.ingest.calls import (
    AliasCall,
    AnyCall,
    GroupCall,
    IdentifyCall,
    PageCall,
    ScreenCall,
    TrackCall,
)
from engine.ingest.intake import Intake

router = APIRouter(tags=["events"])


# Each call's one-letter twin (analytics.js's paths; /v1/import is Segment's old batch
# path) is the same function, left out of the docs.


@router.post("/v1/track", summary="Record an event", response_model=Accepted)
@router.post("/v1/t", include_in_schema=False, response_model=Accepted)
async def track(call: TrackCall, source: Source, intake: IntakeDep) -> Accepted:
    """The customer did something: starts the journeys it triggers and reaches the runs
    waiting for it."""
    await _ingest(intake, [call], source, batch=False)
    return Accepted()


@router.post("/v1/identify", summary="Update a customer's traits", response_model=Accepted)
@router.post("/v1/i", include_in_schema=False, response_model=Accepted)
async def identify(call: IdentifyCall, source: Source, intake: IntakeDep) -> Accepted:
    """Merge traits into the customer's profile (created when new); `traits.timezone`
    sets the time zone used by send windows. With both userId and anonymousId, the
    anonymous visitor's profile joins the customer's."""
    await _ingest(intake, [call], source, batch=False)
    return Accepted()


@router.post("/v1/page", summary="Record a page view", response_model=Accepted)
@router.post("/v1/p", include_in_schema=False, response_model=Accepted)
async def page(call: PageCall, source: Source, intake: IntakeDep) -> Accepted:
    """The customer viewed a web page: stored as the event `page.viewed`."""
    await _ingest(intake, [call], source, batch=False)
    return Accepted()


@router.post("/v1/screen", summary="Record a screen view", response_model=Accepted)
@router.post("/v1/s", include_in_schema=False, response_model=Accepted)
async def screen(call: ScreenCall, source: Source, intake: IntakeDep) -> Accepted:
    """The customer viewed an app screen: stored as the event `screen.viewed`."""
    await _ingest(intake, [call], source, batch=False)
    return Accepted()


@router.post("/v1/group", summary="Put a customer in a group", response_model=Accepted)
@router.post("/v1/g", include_in_schema=False, response_model=Accepted)
async def group(call: GroupCall, source: Source, intake: IntakeDep) -> Accepted:
    """The customer belongs to a group (an account): the group's traits merge into the
    stored ones, and journeys read it as `customer.groups`."""
    await _ingest(intake, [call], source, batch=False)
    return Accepted()


@router.post("/v1/alias", summary="Join a previous id to a user id", response_model=Accepted)
@router.post("/v1/a", include_in_schema=False, response_model=Accepted)
async def alias(call: AliasCall, source: Source, intake: IntakeDep) -> Accepted:
    """`previousId` is `userId` from now on: its profile and history join the user's, by
    the merge rules of docs/api.md (two known user ids are never joined by a call)."""
    await _ingest(intake, [call], source, batch=False)
    return Accepted()


@router.post("/v1/batch", summary="Send several calls at once", response_model=Accepted)
@router.post("/v1/b", include_in_schema=False, response_model=Accepted)
@router.post("/v1/import", include_in_schema=False, response_model=Accepted)
async def batch(body: Batch, source: Source, intake: IntakeDep) -> Accepted:
    """1 to 100 calls of any type, stored in order; if one is invalid, none is."""
    await _ingest(intake, body.calls(), source, batch=True, sent_at=body.sent_at)
    return Accepted()


@router.get(
    "/v1/projects/{write_key}/settings",
    summary="analytics.js settings for a write key",
    responses={404: {"model": ErrorBody, "description": "Not a write key."}},
)
async def sdk_settings(
    write_key: Annotated[
        str, Path(min_length=1, max_length=100, description="The source's write key.")
    ],
    request: Request,
    store: StoreDep,
) -> dict[str, Any]:
    """What analytics.js fetches from its CDN before it sends anything: with `cdnURL`
    set to this API, the settings say to send every call here (and no telemetry)."""
    if await asyncio.to_thread(store.check_write_key, write_key, "write") is None:
        raise ApiProblemError(
            404,
            "not a write key: create one with `cxflow keys create --source NAME`",
            code="not_found",
        )
    api_host = f"{request.url.netloc}/v1"
    segmentio = {"apiKey": write_key, "apiHost": api_host, "protocol": request.url.scheme}
    return {
        "integrations": {"Segment.io": segmentio},
        "plan": {"track": {"__default": {"enabled": True}}},
        "metrics": {"sampleRate": 0},
    }


@router.post("/v1/m", include_in_schema=False, response_model=Accepted)
async def sdk_metrics() -> Accepted:
    """analytics.js's own usage counters: accepted and dropped (they are not events)."""
    return Accepted()


async def _ingest(
    intake: Intake,
    calls: Sequence[AnyCall],
    source: str,
    *,
    batch: bool,
    sent_at: datetime | None = None,
) -> None:
    try:
        await intake.ingest(calls, source, sent_at=sent_at)
    except InboundRejectedError as error:
        raise rejected(error, batch=batch) from None


@router.get("/healthz", summary="Liveness", responses={200: {"description": "Serving."}})
async def healthz() -> dict[str, str]:
    """Answers while the process serves requests (no write key needed)."""
    return {"status": "ok"}
