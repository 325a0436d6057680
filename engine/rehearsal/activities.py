"""The journey activities of a rehearsal: the real ones, noting in the journal what they did."""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from engine import clock
from engine.composition import Runtime
from engine.rehearsal.doubles import UNANSWERED
from engine.rehearsal.journal import Called, Journal, Sent
from engine.runtime.activities import JourneyActivities
from workflows.journey import ACTIVITY_RETRY
from workflows.models import CallInput, RunRecordInput, SendInput, SendOutcome


class RehearsalActivities(JourneyActivities):
    """Steps, sends and calls go to the journal as well as to the store."""

    journal: Journal

    @activity.defn(name="record_run")
    async def record_run(self, data: RunRecordInput) -> None:
        await super().record_run(data)
        if data.event == "step" and data.step_id is not None:
            self.journal.step(data.run.customer_id, data.step_id, data.at, data.variant)

    @activity.defn(name="deliver")
    async def deliver(self, data: SendInput) -> SendOutcome:
        outcome = await super().deliver(data)
        if outcome.status != "held":
            asked = self.journal.requests.pop(data.idempotency_key, {})
            self.journal.of(data.run.customer_id).messages.append(
                Sent(
                    step=data.step_id,
                    channel=str(outcome.detail.get("channel") or data.channel),
                    template=data.template,
                    status=outcome.status,
                    at=clock.now(),
                    detail=dict(outcome.detail),
                    **asked,
                )
            )
        return outcome

    @activity.defn(name="call_action")
    async def call_action(self, data: CallInput) -> dict[str, Any]:
        called = Called(
            step=data.step_id,
            action=f"{data.connector}.{data.action}",
            inputs={},
            # When the step made the call: its first attempt (a retried one goes later).
            at=activity.info().scheduled_time,
        )
        try:
            output = await super().call_action(data)
        except ApplicationError as error:
            called.error = error.message
            last = ACTIVITY_RETRY.maximum_attempts
            if error.non_retryable or activity.info().attempt >= last:
                self._note(data, called)
            raise
        called.output = output
        self._note(data, called)
        return output

    def _note(self, data: CallInput, called: Called) -> None:
        asked = self.journal.requests.pop(data.idempotency_key, {})
        called.inputs = dict(asked.get("inputs", {}))
        called.unanswered = bool(asked.get(UNANSWERED))
        self.journal.of(data.run.customer_id).calls.append(called)


class RehearsalRuntime(Runtime):
    """A runtime whose journey activities note what they do in ``journal``."""

    journal: Journal

    def journey_activities(self) -> JourneyActivities:
        activities = RehearsalActivities(self.store, self.connectors, self.settings, self.router)
        activities.journal = self.journal
        return activities
