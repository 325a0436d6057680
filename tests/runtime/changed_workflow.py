"""An engine change made without `workflow.patched()`, for the replay test to catch.

It lives in its own module because the workflow sandbox re-imports the module
a workflow is defined in, and a test module imports too much for that.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.journey import JourneyWorkflow
    from workflows.models import WORKFLOW_NAME, JourneyRunInput, RunOutcome


@workflow.defn(name=WORKFLOW_NAME)
class StepsNotRecorded(JourneyWorkflow):
    """Stops recording steps in the store: fewer activities than the history has."""

    @workflow.run
    async def run(self, data: JourneyRunInput) -> RunOutcome:
        return await super().run(data)

    async def _record(self, event: str, **kwargs: Any) -> None:
        if event != "step":
            await super()._record(event, **kwargs)
