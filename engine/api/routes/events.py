"""``/v1/track``, ``/v1/identify``, ``/v1/batch``: emitting systems send Segment-style calls.

Each call is stored durably (deduplicated on its messageId) before the API
answers 200, then handed to Temporal by the intake; if Temporal is unreachable
the answer is still 200 and the intake's reroute hands the events over later.
"""

from __future__ import annotations

from fastapi import APIRouter

from engine.api.auth import Source
from engine.api.deps import IntakeDep
from engine.api.models import Accepted, Batch
from engine.ingest.calls import IdentifyCall, TrackCall

router = APIRouter(tags=["events"])


@router.post("/v1/track", summary="Record an event", response_model=Accepted)
async def track(call: TrackCall, source: Source, intake: IntakeDep) -> Accepted:
    """The customer did something: starts the journeys it triggers and reaches the runs
    waiting for it."""
    await intake.ingest([call], source)
    return Accepted()


@router.post("/v1/identify", summary="Update a customer's traits", response_model=Accepted)
async def identify(call: IdentifyCall, source: Source, intake: IntakeDep) -> Accepted:
    """Merge traits into the customer's profile (created when new); `traits.timezone`
    sets the time zone used by send windows."""
    await intake.ingest([call], source)
    return Accepted()


@router.post("/v1/batch", summary="Send several calls at once", response_model=Accepted)
async def batch(body: Batch, source: Source, intake: IntakeDep) -> Accepted:
    """1 to 100 track and identify calls, stored in order; if one is invalid, none is."""
    await intake.ingest(body.batch, source)
    return Accepted()


@router.get("/healthz", summary="Liveness", responses={200: {"description": "Serving."}})
async def healthz() -> dict[str, str]:
    """Answers while the process serves requests (no write key needed)."""
    return {"status": "ok"}
