"""The workflow a journey's Temporal Schedule starts: enter the segment's members.

It is tiny on purpose: one activity lists the members and starts their runs
(with heartbeats, so a crash resumes where it stopped), and the schedule's own
overlap policy keeps two ticks from running at once.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.activities import JourneyActivityStubs
    from workflows.models import ScheduledEntryInput

SCHEDULED_WORKFLOW_NAME = "ScheduledEntryWorkflow"


@workflow.defn(name=SCHEDULED_WORKFLOW_NAME)
class ScheduledEntryWorkflow:
    @workflow.run
    async def run(self, data: ScheduledEntryInput) -> int:
        return await workflow.execute_activity_method(
            JourneyActivityStubs.enter_segment_members,
            data,
            start_to_close_timeout=timedelta(hours=1),
            heartbeat_timeout=timedelta(minutes=1),
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
