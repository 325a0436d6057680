"""The composition root: the one place that builds what a cxflow process runs on.

The worker (``python -m worker``), ``cxflow dev``, ``cxflow api`` and the commands
that talk to a running engine all start here: a :class:`Runtime` opens the store,
finds the connectors, connects to Temporal, and builds one event router, one
intake and the activities from them, so every part of a process shares the same
store, connector registry and router caches. Nothing else constructs these.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from temporalio.client import Client
from temporalio.worker import Worker

from connectors.registry import ConnectorRegistry, default_registry
from engine.api.app import create_app
from engine.console.context import ConsoleContext
from engine.ingest.intake import Intake, RetryPolicy, TimestampWindow
from engine.ingest.router import EventRouter
from engine.runtime.activities import JourneyActivities
from engine.runtime.temporal import connect
from engine.segments.refresh import SegmentActivities
from engine.settings import Settings
from engine.store import Store
from workflows.journey import JourneyWorkflow
from workflows.scheduled import ScheduledEntryWorkflow
from workflows.segment_refresh import SegmentRefreshWorkflow

WORKFLOWS = [JourneyWorkflow, ScheduledEntryWorkflow, SegmentRefreshWorkflow]


class Runtime:
    """One process's store, connectors, Temporal client, router, intake and activities."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        client: Client,
        connectors: ConnectorRegistry | None = None,
        *,
        dispatch_timeout: float = 10.0,
    ) -> None:
        self.settings = settings
        self.store = store
        self.client = client
        self.connectors = connectors if connectors is not None else default_registry()
        self.router = EventRouter(
            client,
            store,
            settings.task_queue,
            settings.activity_timeout_seconds,
            history_after=timedelta(seconds=settings.trigger_max_age_seconds),
            attribution=settings.attribution(),
            dev_runs=settings.dev_time,
        )
        self.intake = Intake(
            store,
            self.router,
            dispatch_timeout,
            window=TimestampWindow(
                max_age=timedelta(days=settings.event_max_age_days),
                max_future=timedelta(seconds=settings.event_max_future_seconds),
            ),
            retries=RetryPolicy(
                max_attempts=settings.route_max_attempts,
                first_delay_seconds=settings.route_retry_seconds,
            ),
        )

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, settings: Settings, connectors: ConnectorRegistry | None = None
    ) -> AsyncIterator[Runtime]:
        """Open the store (local configuration first: cheaper to report), then connect.

        The store is disposed of on the way out, whatever happened.
        """
        store = Store.open(settings.database_url)
        try:
            client = await connect(settings)
            yield cls(settings, store, client, connectors)
        finally:
            store.dispose()

    def activities(self) -> list[Callable[..., Any]]:
        """Every activity the workflows call, bound to this runtime's parts."""
        segments = SegmentActivities(self.router)
        return [*self.journey_activities().all(), *segments.all()]

    def journey_activities(self) -> JourneyActivities:
        """The journey workflow's activities (a rehearsal's note what they do as well)."""
        return JourneyActivities(self.store, self.connectors, self.settings, self.router)

    def worker(self) -> Worker:
        """A worker for the journey task queue, sized by the settings."""
        settings = self.settings
        return Worker(
            self.client,
            task_queue=settings.task_queue,
            workflows=WORKFLOWS,
            activities=self.activities(),
            activity_executor=ThreadPoolExecutor(max_workers=settings.max_concurrent_activities),
            max_concurrent_activities=settings.max_concurrent_activities,
            max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
            max_cached_workflows=settings.max_cached_workflows,
            graceful_shutdown_timeout=timedelta(seconds=settings.shutdown_grace_seconds),
        )

    def api(self, *, reroute_interval: float = 5.0) -> FastAPI:
        """The event API on this runtime's intake, with every connector's routes and the
        console mounted."""
        return create_app(
            self.intake,
            connector_routes=self.connectors.routers(self.intake),
            reroute_interval=reroute_interval,
            console=ConsoleContext(self.store, self.settings, self.client, self.connectors),
        )
