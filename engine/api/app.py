"""The event API's application: middleware, error handlers and routes, on one intake.

Emitting systems send Segment-style track, identify and batch calls
(:mod:`engine.api.routes.events`); messages' unsubscribe links and read-scoped
reports have their routes beside them; connectors serve their own routes (Shopify
webhooks, survey pages) through the ``cxflow_routes`` hook, mounted here.

Requests authenticate with a write key of an event source (``cxflow keys
create``), as HTTP Basic username (Segment's convention, empty password) or as
``Authorization: Bearer <key>`` (:mod:`engine.api.auth`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI
from fastapi_offline import FastAPIOffline

from engine.api.browsers import BrowserSources, DocsPolicy, OriginCache
from engine.api.deps import ApiContext
from engine.api.limits import BodyLimit
from engine.api.problems import ERROR_RESPONSES, install_handlers
from engine.api.routes import (
    customers,
    events,
    journeys,
    metrics,
    reports,
    tracking,
    unsubscribe,
)
from engine.ingest.intake import Intake

if TYPE_CHECKING:
    from engine.console.context import ConsoleContext

DESCRIPTION = """\
Send customer events to cxflow, in the shapes of Segment's HTTP Tracking API.

* **Auth**: a write key (`cxflow keys create --source NAME`) as the HTTP Basic
  username with an empty password, or as `Authorization: Bearer <key>`.
* **Idempotency**: send a unique `messageId` per call (a UUID); a call sent again
  with the same `messageId` answers 200 and changes nothing, so retries are safe.
* **Durability**: a 200 means the calls are stored; they reach their journeys even
  if the workflow engine is down at that moment.
* **Limits**: 32 KB per call, 500 KB and 100 calls per batch (413 above the sizes);
  bodies may be sent with `Content-Encoding: gzip` (as Segment's and RudderStack's
  SDKs do), and the limits apply to the decompressed body.
* **Text**: no NUL (`\\u0000`) character anywhere, not even inside `properties`:
  the store cannot keep it.
* **Errors**: 400 with `{"error": ..., "message": ..., "code": ..., "fields":
  [{"path", "message", "code"}]}` (`message` repeats `error` for SDKs that read it);
  a batch with one bad call stores nothing. Programs decide on the codes. A 503 with
  `Retry-After` means the store was unavailable for a moment: retry with the same
  `messageId`.
"""


DOCS_ASSETS = "/static/api-docs"


def create_app(
    intake: Intake,
    *,
    connector_routes: Sequence[APIRouter] = (),
    reroute_interval: float = 5.0,
    console: ConsoleContext | None = None,
) -> FastAPI:
    """The event API on this intake (and its store), with connectors' routes mounted.

    ``reroute_interval``: seconds between retries of events that could not be routed
    when they arrived (the intake's ``dispatch_timeout`` says how long a request waits
    for Temporal before answering; the events are stored by then). ``console``: serve the
    web console under ``/console`` with these parts (:mod:`engine.console`).
    """

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(intake.reroute_forever(reroute_interval), name="cxflow-reroute")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # /docs (Swagger UI) and /redoc from the assets the fastapi-offline wheel ships, not
    # from a CDN: the API's documentation works offline, as everything else does.
    app = FastAPIOffline(
        title="cxflow event API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        static_url=DOCS_ASSETS,
    )
    origins = OriginCache(intake.store.keys.origins)
    app.add_middleware(BodyLimit)
    app.add_middleware(BrowserSources, origins=origins)
    app.add_middleware(DocsPolicy)
    install_handlers(app)
    app.state.cxflow = ApiContext(store=intake.store, intake=intake, origins=origins)
    areas = (events, journeys, customers, unsubscribe, tracking, reports, metrics)
    for area in (module.router for module in areas):
        app.include_router(area)
    if console is not None:
        # Imported here: the console's pages bring templates, charts and every report, which
        # a process serving no console (each `cxflow` command) should not load at start.
        from engine.console.app import install_console

        install_console(app, console)
    for router in connector_routes:
        app.include_router(router)
    return app
