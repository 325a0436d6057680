"""``/v1/track``, ``/v1/identify``, ``/v1/batch``: emitting systems send Segment-style calls.

Each call is stored durably (deduplicated on its messageId) before the API
answers 200, then handed to Temporal by the intake; if Temporal is unreachable
the answer is still 200 and the intake's reroute hands the events over later.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter

from connectors.inbound import InboundRejectedError
from engine.api.auth import Source
from engine.api.deps import IntakeDep
from engine.api.models import Accepted, Batch
from engine.api.problems import rejected
from engine.ingest.calls import IdentifyCall, TrackCall
from engine.ingest.intake import Intake

router = APIRouter(tags=["events"])


@router.post("/v1/track", summary="Record an event", response_model=Accepted)
async def track(call: TrackCall, source: Source, intake: IntakeDep) -> Accepted:
    """The customer did something: starts the journeys it triggers and reaches the runs
    waiting for it."""
    await _ingest(intake, [call], source, batch=False)
    return Accepted()


@router.post("/v1/identify", summary="Update a customer's traits", response_model=Accepted)
async def identify(call: IdentifyCall, source: Source, intake: IntakeDep) -> Accepted:
    """Merge traits into the customer's profile (created when new); `traits.timezone`
    sets the time zone used by send windows."""
    await _ingest(intake, [call], source, batch=False)
    return Accepted()


@router.post("/v1/batch", summary="Send several calls at once", response_model=Accepted)
async def batch(body: Batch, source: Source, intake: IntakeDep) -> Accepted:
    """1 to 100 track and identify calls, stored in order; if one is invalid, none is."""
    await _ingest(intake, body.batch, source, batch=True)
    return Accepted()


async def _ingest(
    intake: Intake, calls: Sequence[TrackCall | IdentifyCall], source: str, *, batch: bool
) -> None:
    try:
        await intake.ingest(calls, source)
    except InboundRejectedError as error:
        raise rejected(error, batch=batch) from None


@router.get("/healthz", summary="Liveness", responses={200: {"description": "Serving."}})
async def healthz() -> dict[str, str]:
    """Answers while the process serves requests (no write key needed)."""
    return {"status": "ok"}
