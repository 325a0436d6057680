"""The cxflow worker process: runs journey workflows and their activities.

Scale it by running more of them (`docker compose up --scale worker=N`); each
polls the same task queue. SIGTERM and SIGINT stop it gracefully: it stops
polling, lets running activities finish within the grace period, and exits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from connectors.errors import ConnectorError
from connectors.registry import ConnectorRegistry, default_registry
from engine.runtime.activities import JourneyActivities
from engine.segments.refresh import SegmentActivities
from engine.settings import Settings, SettingsError
from engine.store import Store, StoreError
from workflows.journey import JourneyWorkflow
from workflows.scheduled import ScheduledEntryWorkflow
from workflows.segment_refresh import SegmentRefreshWorkflow


async def connect(settings: Settings) -> Client:
    """A Temporal client that speaks pydantic, as workflows and activities expect."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.namespace,
        data_converter=pydantic_data_converter,
    )


def build_worker(
    client: Client,
    settings: Settings,
    store: Store,
    connectors: ConnectorRegistry,
) -> Worker:
    """A worker for the journey task queue, sized by the settings."""
    activities = JourneyActivities(store, connectors, settings, client)
    segments = SegmentActivities(store, client, settings)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[JourneyWorkflow, ScheduledEntryWorkflow, SegmentRefreshWorkflow],
        activities=[*activities.all(), *segments.all()],
        activity_executor=ThreadPoolExecutor(max_workers=settings.max_concurrent_activities),
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        max_cached_workflows=settings.max_cached_workflows,
        graceful_shutdown_timeout=timedelta(seconds=settings.shutdown_grace_seconds),
    )


async def run_worker(settings: Settings | None = None) -> None:
    """Run until SIGTERM/SIGINT, then shut down gracefully."""
    settings = settings or Settings.from_env()
    store = Store.open(settings.database_url)  # local configuration first: cheaper to report
    client = await connect(settings)
    worker = build_worker(client, settings, store, default_registry())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with worker:
        await stop.wait()
    store.dispose()


def main() -> None:
    """Run the worker; a configuration or connection problem is one line, not a traceback.

    Like the CLI, it leaves with ``os._exit`` once stopped: the Temporal client's
    threads can abort CPython's finalisation (temporalio/sdk-python#300).
    """
    code = _run()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _run() -> int:
    try:
        asyncio.run(run_worker())
    except (SettingsError, StoreError, ConnectorError) as problem:
        sys.stderr.write(f"cxflow worker: {problem}\n")
        return 2
    except RuntimeError as error:  # the SDK's "failed client connect" and the like
        if "connect" not in str(error).lower():
            raise
        address = Settings.from_env().temporal_address
        sys.stderr.write(
            f"cxflow worker: cannot reach Temporal at {address} ({error}): start it, or set "
            "CXFLOW_TEMPORAL_ADDRESS\n"
        )
        return 2
    return 0


if __name__ == "__main__":
    main()
