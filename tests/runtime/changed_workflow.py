"""Engine changes made without `workflow.patched()`, for the replay tests to catch.

It lives in its own module because the workflow sandbox re-imports the module
a workflow is defined in, and a test module imports too much for that.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from dsl.compiled import SendNode, StepError
    from workflows.journey import JourneyWorkflow
    from workflows.models import (
        CONTROL_SIGNAL,
        WORKFLOW_NAME,
        JourneyControl,
        JourneyRunInput,
        RunOutcome,
        SendOutcome,
    )


@workflow.defn(name=WORKFLOW_NAME)
class StepsNotRecorded(JourneyWorkflow):
    """Stops recording steps in the store: fewer activities than the history has."""

    @workflow.run
    async def run(self, data: JourneyRunInput) -> RunOutcome:
        return await super().run(data)

    async def _record(self, event: str, **kwargs: Any) -> None:
        if event != "step":
            await super()._record(event, **kwargs)


@workflow.defn(name=WORKFLOW_NAME)
class OnErrorIgnored(JourneyWorkflow):
    """Never takes an on_error path (what runs did before): replaying a run that took one
    must fail, or the patch would not be what tells the two paths apart."""

    @workflow.run
    async def run(self, data: JourneyRunInput) -> RunOutcome:
        return await super().run(data)

    def _take_error_path(self, on_error: str | None, failure: StepError) -> bool:
        return False


@workflow.defn(name=WORKFLOW_NAME)
class OnErrorUnpatched(JourneyWorkflow):
    """Takes every on_error path without asking the patch: replaying a run that failed such
    a step before on_error was implemented must fail."""

    @workflow.run
    async def run(self, data: JourneyRunInput) -> RunOutcome:
        return await super().run(data)

    def _take_error_path(self, on_error: str | None, failure: StepError) -> bool:
        if on_error is None:
            return False
        self.state = self._state.model_copy(update={"error": failure})
        return True


@workflow.defn(name=WORKFLOW_NAME)
class ControlsIgnored(JourneyWorkflow):
    """Ignores journey controls (what runs did before): a stop signal changes nothing, and a
    held send goes on to the next step. Replaying a run that held or stopped must fail."""

    @workflow.run
    async def run(self, data: JourneyRunInput) -> RunOutcome:
        return await super().run(data)

    @workflow.signal(name=CONTROL_SIGNAL)
    def journey_control(self, control: JourneyControl) -> None:
        return None

    async def _send_once(self, node: SendNode) -> SendOutcome | StepError:
        outcome = await super()._send_once(node)
        if isinstance(outcome, SendOutcome) and outcome.status == "held":
            return SendOutcome(status="skipped")
        return outcome
