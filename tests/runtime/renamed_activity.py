"""A workflow whose contract renames an activity, for the replay test to catch.

In its own module because the workflow sandbox re-imports the module a workflow
is defined in, and a test module imports too much for that.
"""

from __future__ import annotations

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from workflows.journey import ACTIVITY_RETRY, JourneyWorkflow
    from workflows.models import WORKFLOW_NAME, CustomerView, JourneyRunInput, RunOutcome


class RenamedStubs:
    @activity.defn(name="load_customer_profile")
    async def load_customer(self, customer_id: str) -> CustomerView:
        raise NotImplementedError


@workflow.defn(name=WORKFLOW_NAME)
class LoadCustomerRenamed(JourneyWorkflow):
    """Loads the customer through an activity registered under another name."""

    @workflow.run
    async def run(self, data: JourneyRunInput) -> RunOutcome:
        return await super().run(data)

    async def _load_customer(self) -> CustomerView:
        return await workflow.execute_activity_method(
            RenamedStubs.load_customer,
            self._context.customer_id,
            start_to_close_timeout=self._timeout,
            retry_policy=ACTIVITY_RETRY,
        )
