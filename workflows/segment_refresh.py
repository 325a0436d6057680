"""The workflow the segment-refresh Schedule starts: recompute time-dependent segments.

Membership of a segment with a window (`within: 30d`) or a relative date
(`older_than: 90d`) changes as time passes, with no event to trigger a
recomputation. One activity pages through the customers, heartbeating the
last customer done, so a crash or a retry resumes where it stopped; the
Schedule's overlap policy keeps two refreshes from running at once.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.activities import REFRESH_ACTIVITY as REFRESH_ACTIVITY
    from workflows.activities import SegmentActivityStubs
    from workflows.models import SegmentRefreshInput as SegmentRefreshInput
    from workflows.models import SegmentRefreshResult as SegmentRefreshResult

SEGMENT_REFRESH_WORKFLOW_NAME = "SegmentRefreshWorkflow"


@workflow.defn(name=SEGMENT_REFRESH_WORKFLOW_NAME)
class SegmentRefreshWorkflow:
    @workflow.run
    async def run(self, data: SegmentRefreshInput) -> SegmentRefreshResult:
        return await workflow.execute_activity_method(
            SegmentActivityStubs.refresh_segments,
            data,
            start_to_close_timeout=timedelta(hours=2),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
