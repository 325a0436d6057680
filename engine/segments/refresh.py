"""The scheduled segment refresh: its Temporal Schedule and the activity it runs.

Deploying segments creates (or updates) the Schedule ``segments:refresh`` when
any deployed segment depends on time, and deletes it when none does. Temporal
owns the timing (missed ticks, overlap skipped, pause), and the Temporal UI
shows it, as for scheduled journeys.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from dsl.segment_models import CompiledSegment
from engine.ingest.router import EventRouter
from engine.segments.evaluation import RefreshProgress, refresh_segments
from workflows.activities import SegmentActivityStubs
from workflows.segment_refresh import (
    REFRESH_ACTIVITY,
    SegmentRefreshInput,
    SegmentRefreshResult,
    SegmentRefreshWorkflow,
)

REFRESH_SCHEDULE_ID = "segments:refresh"
REFRESH_WORKFLOW_ID = "segments-refresh"


def refresh_schedule(task_queue: str, every: timedelta) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            SegmentRefreshWorkflow.run,
            SegmentRefreshInput(),
            id=REFRESH_WORKFLOW_ID,
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def sync_segment_refresh(
    client: Client, segments: list[CompiledSegment], task_queue: str, every: timedelta
) -> str | None:
    """Make the refresh Schedule match the deployed segments; its id, or None if deleted."""
    handle = client.get_schedule_handle(REFRESH_SCHEDULE_ID)
    if not any(s.depends_on.time for s in segments):
        try:
            await handle.delete()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
        return None
    schedule = refresh_schedule(task_queue, every)
    try:
        await client.create_schedule(REFRESH_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await handle.update(replace)
    return REFRESH_SCHEDULE_ID


class SegmentActivities(SegmentActivityStubs):
    """The refresh activity; the worker registers it beside the journey activities.

    It recomputes through the process's one router (its segment engine, and the
    journeys that entering a segment starts).
    """

    def __init__(self, router: EventRouter) -> None:
        self.router = router

    def all(self) -> list[Callable[..., Any]]:
        return [self.refresh_segments]

    @activity.defn(name=REFRESH_ACTIVITY)
    async def refresh_segments(self, data: SegmentRefreshInput) -> SegmentRefreshResult:
        """Recompute time-dependent segments for every customer; resumes after a retry."""
        details = activity.info().heartbeat_details
        resume = RefreshProgress(after=str(details[0]) if details else None)
        done = await refresh_segments(
            self.router.segments,
            self.router.segments_entered,
            resume,
            checkpoint=lambda progress: activity.heartbeat(progress.after),
            page=data.page,
        )
        return SegmentRefreshResult(
            customers=done.customers,
            entered=done.entered,
            left=done.left,
            started=done.started,
            failed=len(done.failed),
        )
