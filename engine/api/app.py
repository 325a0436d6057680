"""The event API: emitting systems send Segment-style track, identify and batch calls.

Each call is stored durably (deduplicated on its messageId) before the API
answers 200; then it is handed to Temporal. If Temporal is unreachable the
answer is still 200: a background task hands stored events over every
``reroute_interval`` seconds once it is back.

``identify`` merges traits into the customer's profile and is also stored as an
event named ``identify`` (with the traits as its properties), in the same
transaction: that is what deduplicates it on its messageId, keeps a history of
profile changes, and lets a journey trigger or wait on ``identify``.

Requests authenticate with a write key of an event source (``cxflow keys
create``), as HTTP Basic username (Segment's convention, empty password) or as
``Authorization: Bearer <key>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.api.auth import AUTH_HELP, ApiProblemError, Source
from engine.api.models import (
    CALL_TOO_LARGE,
    CUSTOMER_ID_MISSING,
    IDENTIFY_EVENT,
    MAX_BATCH_BYTES,
    MAX_CALL_BYTES,
    Accepted,
    Batch,
    ErrorBody,
    FieldProblem,
    IdentifyCall,
    TrackCall,
)
from engine.api.reports import router as reports_router
from engine.api.shopify_webhooks import router as webhooks_router
from engine.api.survey import router as survey_router
from engine.api.unsubscribe import router as consent_router
from engine.ingest.router import EventRouter
from engine.store import EventRecord, Store
from workflows.models import CustomerEvent

log = logging.getLogger("cxflow.api")

DESCRIPTION = """\
Send customer events to cxflow, in the shapes of Segment's HTTP Tracking API.

* **Auth**: a write key (`cxflow keys create --source NAME`) as the HTTP Basic
  username with an empty password, or as `Authorization: Bearer <key>`.
* **Idempotency**: send a unique `messageId` per call (a UUID); a call sent again
  with the same `messageId` answers 200 and changes nothing, so retries are safe.
* **Durability**: a 200 means the calls are stored; they reach their journeys even
  if the workflow engine is down at that moment.
* **Limits**: 32 KB per call, 500 KB and 100 calls per batch (413 above the sizes).
* **Text**: no NUL (`\\u0000`) character anywhere, not even inside `properties`:
  the store cannot keep it.
* **Errors**: 400 with `{"error": ..., "fields": [{"path", "message"}]}`; a batch
  with one bad call stores nothing.
"""

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is not valid: `fields` says where."},
    401: {"model": ErrorBody, "description": "No valid key for this endpoint."},
    413: {"model": ErrorBody, "description": "The request or one call in it is too large."},
    500: {"model": ErrorBody, "description": "An internal error; nothing about it is shown."},
}


def _error(status: int, error: str, fields: Sequence[FieldProblem] = ()) -> JSONResponse:
    body = ErrorBody(error=error, fields=list(fields))
    headers = {"WWW-Authenticate": 'Basic realm="cxflow"'} if status == 401 else None
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


# --- request size limits --------------------------------------------------------------------


class BodyLimit:
    """Refuse bodies over the limit with 413 before anything parses them.

    The body is read here (at most limit + 1 bytes are kept), so a chunked
    request without Content-Length is measured too; the app then reads it again.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @staticmethod
    def limit(path: str) -> int:
        if path.rstrip("/").endswith("/batch") or path.startswith("/v1/webhooks/"):
            return MAX_BATCH_BYTES
        return MAX_CALL_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        too_large = _error(
            413,
            f"the request body is larger than {limit // 1024} KB, the most this endpoint "
            "accepts (32 KB per call, 500 KB per batch): send fewer or smaller calls",
        )
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await too_large(scope, receive, send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# --- errors ---------------------------------------------------------------------------------


def _path(loc: Sequence[int | str]) -> str:
    """('body', 'batch', 2, 'track', 'event') -> 'batch[2].event' (the union tag dropped)."""
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
    text = ""
    previous: int | str | None = None
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(previous, int) and part in ("track", "identify"):
            pass  # the discriminated union's tag, not a field
        else:
            text += f".{part}" if text else str(part)
        previous = part
    return text or "body"


_MESSAGES = {
    "missing": "required",
    "union_tag_not_found": "required: `type` must be `track` or `identify` in a batch",
    "union_tag_invalid": "cxflow accepts `track` and `identify` calls; "
    "page, screen, group and alias are not supported",
    "dict_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "string_type": "must be a string",
    "list_type": "must be a JSON array",
    "json_invalid": "the body is not valid JSON",
}


def _field_problem(error: dict[str, Any]) -> FieldProblem:
    loc = tuple(error.get("loc", ()))
    kind = error.get("type", "")
    path = _path(loc)
    if kind == CUSTOMER_ID_MISSING:
        path = f"{path}.userId" if path != "body" else "userId"
    if kind == "json_invalid":
        reason = error.get("ctx", {}).get("error", "parse error")
        return FieldProblem(
            path="body",
            message=f"the body is not valid JSON ({reason})",
        )
    if kind == "string_pattern_mismatch" and path.endswith("event"):
        return FieldProblem(
            path=path, message="an event name cannot start or end with spaces or hold line breaks"
        )
    message = _MESSAGES.get(kind, str(error.get("msg", "invalid")))
    if path == "body" and kind in ("dict_type", "model_attributes_type"):
        message = "send a JSON object, with Content-Type: application/json"
    if kind == "missing" and path.endswith("event"):
        message = "required: the event name, e.g. cart.updated"
    return FieldProblem(path=path, message=message)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [dict(e) for e in error.errors()]
    too_large = [e for e in errors if e.get("type") == CALL_TOO_LARGE]
    if too_large:
        return _error(413, str(too_large[0].get("msg")))
    fields = [_field_problem(e) for e in errors]
    count = len(fields)
    summary = f"{count} problem{'s' if count != 1 else ''} in the request; nothing was stored"
    return _error(400, summary, fields)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    detail = error.detail if isinstance(error.detail, str) else "request refused"
    if error.status_code == 401:
        detail = AUTH_HELP
    response = _error(error.status_code, detail)
    if error.headers:
        response.headers.update(error.headers)
    return response


async def _problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiProblemError)
    return _error(error.status, error.error, error.fields)


async def _internal_error(request: Request, error: Exception) -> JSONResponse:
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=error)
    return _error(500, "internal error: the calls may not be stored; retry later")


# --- the app --------------------------------------------------------------------------------


def _timezone(call: IdentifyCall) -> str | None:
    """traits.timezone, else context.timezone, when it is a valid IANA name."""
    for candidate in (call.traits.get("timezone"), (call.context or {}).get("timezone")):
        if isinstance(candidate, str) and candidate:
            try:
                ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
            return candidate
    return None


def _is_track(call: TrackCall | IdentifyCall) -> bool:
    return isinstance(call, TrackCall)


def _record(event: CustomerEvent, received: datetime) -> EventRecord:
    return EventRecord(
        message_id=event.message_id,
        customer_id=event.customer_id,
        name=event.name,
        properties=dict(event.properties),
        timestamp=event.timestamp,
        received_at=received,
    )


class EventApi:
    """Stores then dispatches calls; one per app."""

    def __init__(self, store: Store, router: EventRouter, dispatch_timeout: float) -> None:
        self.store = store
        self.router = router
        self.dispatch_timeout = dispatch_timeout

    def _event(self, call: TrackCall | IdentifyCall, received: datetime) -> CustomerEvent:
        if isinstance(call, TrackCall):
            name, properties = call.event, dict(call.properties)
        else:
            name, properties = IDENTIFY_EVENT, dict(call.traits)
        return CustomerEvent(
            message_id=call.message_id or str(uuid.uuid4()),
            customer_id=call.customer_id,
            name=name,
            properties=properties,
            timestamp=call.timestamp or received,
        )

    async def _store(
        self, call: TrackCall | IdentifyCall, received: datetime
    ) -> CustomerEvent | None:
        """Store the call; the event to dispatch, or None for a duplicate."""
        event = self._event(call, received)
        if isinstance(call, TrackCall):
            new = await self.router.accept(event)
        else:
            new = await asyncio.to_thread(
                self.store.record_identify,
                _record(event, received),
                dict(call.traits),
                _timezone(call),
            )
        return event if new else None

    async def handle(self, calls: Sequence[TrackCall | IdentifyCall], source: str) -> Accepted:
        """Store every call, then hand the new ones to Temporal (best effort)."""
        await self.ingest(calls, source)
        return Accepted()

    async def ingest(
        self, calls: Sequence[TrackCall | IdentifyCall], source: str
    ) -> list[CustomerEvent]:
        """:meth:`handle`, returning the new events (duplicates left out)."""
        received = datetime.now(UTC)
        new: list[CustomerEvent] = []
        index = 0
        while index < len(calls):
            # Consecutive track calls (most of a batch) are stored in one transaction.
            tracks = list(itertools.takewhile(_is_track, calls[index:]))
            if tracks:
                events = [self._event(call, received) for call in tracks]
                records = [_record(event, received) for event in events]
                stored = await asyncio.to_thread(self.store.record_events, records)
                new += [event for event, is_new in zip(events, stored, strict=True) if is_new]
                index += len(tracks)
            else:
                if event := await self._store(calls[index], received):
                    new.append(event)
                index += 1
        if new:
            try:
                async with asyncio.timeout(self.dispatch_timeout):
                    for event in new:
                        await self.router.dispatch(event)
            except Exception as error:  # Temporal down or slow: the reroute task retries
                log.warning(
                    "stored %d event(s) from %s but could not route them now (%s: %s); "
                    "they will be routed when Temporal is reachable",
                    len(new),
                    source,
                    type(error).__name__,
                    error,
                )
        return new

    async def reroute_forever(self, interval: float) -> None:
        """Route events stored while Temporal was unreachable, every ``interval`` seconds."""
        grace = timedelta(seconds=max(self.dispatch_timeout * 2, interval))
        while True:
            await asyncio.sleep(interval)
            try:
                while await self.router.route_pending(received_before=datetime.now(UTC) - grace):
                    pass
            except Exception as error:  # keep trying: Temporal or the store may come back
                log.warning("routing stored events failed (%s: %s)", type(error).__name__, error)


def create_app(
    store: Store,
    router: EventRouter,
    *,
    reroute_interval: float = 5.0,
    dispatch_timeout: float = 10.0,
) -> FastAPI:
    """The event API on this store and router.

    ``reroute_interval``: seconds between retries of events that could not be routed
    when they arrived. ``dispatch_timeout``: how long a request waits for Temporal
    before answering (the events are stored by then).
    """
    api = EventApi(store, router, dispatch_timeout)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(api.reroute_forever(reroute_interval), name="cxflow-reroute")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(
        title="cxflow event API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    app.add_middleware(BodyLimit)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(ApiProblemError, _problem)
    app.add_exception_handler(Exception, _internal_error)

    app.state.store = store
    app.state.events = api  # for the survey and webhook endpoints
    app.include_router(survey_router)
    app.include_router(webhooks_router)
    app.include_router(consent_router)
    app.include_router(reports_router)

    @app.post("/v1/track", summary="Record an event", response_model=Accepted)
    async def track(call: TrackCall, source: Source) -> Accepted:
        """The customer did something: starts the journeys it triggers and reaches the runs
        waiting for it."""
        return await api.handle([call], source)

    @app.post("/v1/identify", summary="Update a customer's traits", response_model=Accepted)
    async def identify(call: IdentifyCall, source: Source) -> Accepted:
        """Merge traits into the customer's profile (created when new); `traits.timezone`
        sets the time zone used by send windows."""
        return await api.handle([call], source)

    @app.post("/v1/batch", summary="Send several calls at once", response_model=Accepted)
    async def batch(body: Batch, source: Source) -> Accepted:
        """1 to 100 track and identify calls, stored in order; if one is invalid, none is."""
        return await api.handle(body.batch, source)

    @app.get("/healthz", summary="Liveness", responses={200: {"description": "Serving."}})
    async def healthz() -> dict[str, str]:
        """Answers while the process serves requests (no write key needed)."""
        return {"status": "ok"}

    return app
