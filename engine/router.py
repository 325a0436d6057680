"""Event routing: an event starts the journeys it triggers and reaches the runs waiting for it.

The event is stored first (deduplicated on its message id), so a retried API
call or a duplicate delivery starts nothing twice. Starting uses
signal-with-start on the deterministic workflow id, so Temporal itself keeps one
active run per customer and journey; re-entry rules choose the id reuse policy.
An event for a customer with no run waiting for it changes nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import cel
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from dsl.compiled import CompiledJourney, EventTriggerSpec
from engine.store import EventRecord, Store
from workflows.journey import JourneyWorkflow, workflow_id_for
from workflows.models import EVENT_SIGNAL, CustomerEvent, CustomerView, JourneyRunInput


@dataclass
class RouteResult:
    """What one event did: whether it was new, which runs it started or reached."""

    stored: bool
    started: list[str] = field(default_factory=list)
    signalled: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


class EventRouter:
    """Hands accepted events to Temporal."""

    def __init__(
        self, client: Client, store: Store, task_queue: str, activity_timeout_seconds: int = 60
    ) -> None:
        self.client = client
        self.store = store
        self.task_queue = task_queue
        self.activity_timeout_seconds = activity_timeout_seconds

    async def route(self, event: CustomerEvent) -> RouteResult:
        record = EventRecord(
            message_id=event.message_id,
            customer_id=event.customer_id,
            name=event.name,
            properties=dict(event.properties),
            timestamp=event.timestamp,
            received_at=datetime.now(UTC),
        )
        if not await asyncio.to_thread(self.store.record_event, record):
            return RouteResult(stored=False)
        result = RouteResult(stored=True)
        journeys = await asyncio.to_thread(self.store.active_journeys)
        customer = await asyncio.to_thread(self.store.get_customer, event.customer_id)
        view = (
            CustomerView(id=customer.id, traits=customer.traits, timezone=customer.timezone,
                         segments=customer.segments)
            if customer
            else CustomerView(id=event.customer_id)
        )  # fmt: skip
        for journey in journeys:
            workflow_id = workflow_id_for(journey.id, event.customer_id)
            reason = self._entry_refusal(journey, event, view)
            if reason is None:
                started = await self._start(journey, event, workflow_id)
                if started:
                    result.started.append(workflow_id)
                    continue
                reason = "re-entry not allowed yet"
            reacts = event.name in journey.listens_to or _triggered_by(journey, event)
            if reacts and await self._signal(workflow_id, event):
                result.signalled.append(workflow_id)
                continue
            if _triggered_by(journey, event):
                result.skipped[journey.id] = reason
        return result

    def _entry_refusal(
        self, journey: CompiledJourney, event: CustomerEvent, customer: CustomerView
    ) -> str | None:
        """Why this event does not start a run of the journey, or None when it does."""
        if not _triggered_by(journey, event):
            return "not its trigger"
        trigger = journey.trigger
        assert isinstance(trigger, EventTriggerSpec)
        if trigger.when and not _holds(trigger.when, event, customer):
            return "trigger condition is false"
        if journey.entry.segment and journey.entry.segment not in customer.segments:
            return f"not in segment {journey.entry.segment}"
        if journey.entry.reentry == "after" and journey.entry.reentry_after_seconds:
            last = self.store.last_entry(journey.id, event.customer_id)  # fast indexed read
            window = timedelta(seconds=journey.entry.reentry_after_seconds)
            if last is not None and datetime.now(UTC) - last < window:
                return "re-entry window has not passed"
        return None

    async def _start(
        self, journey: CompiledJourney, event: CustomerEvent, workflow_id: str
    ) -> bool:
        reuse = (
            WorkflowIDReusePolicy.REJECT_DUPLICATE
            if journey.entry.reentry == "once"
            else WorkflowIDReusePolicy.ALLOW_DUPLICATE
        )
        try:
            handle = await self.client.start_workflow(
                JourneyWorkflow.run,
                JourneyRunInput(
                    journey=journey,
                    customer_id=event.customer_id,
                    trigger=event,
                    activity_timeout_seconds=self.activity_timeout_seconds,
                ),
                id=workflow_id,
                task_queue=self.task_queue,
                id_reuse_policy=reuse,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                start_signal=EVENT_SIGNAL,
                start_signal_args=[event],
            )
        except WorkflowAlreadyStartedError:
            return False
        return bool(handle.first_execution_run_id or handle.result_run_id)

    async def _signal(self, workflow_id: str, event: CustomerEvent) -> bool:
        handle: WorkflowHandle[JourneyWorkflow, object] = self.client.get_workflow_handle(
            workflow_id
        )
        try:
            await handle.signal(EVENT_SIGNAL, event)
        except RPCError as error:
            if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                return False  # no run, or it has ended: nothing to do
            raise
        return True


def _triggered_by(journey: CompiledJourney, event: CustomerEvent) -> bool:
    return isinstance(journey.trigger, EventTriggerSpec) and journey.trigger.event == event.name


def _holds(condition: str, event: CustomerEvent, customer: CustomerView) -> bool:
    context = cel.Context(
        variables={"event": event.as_variable(), "customer": customer.as_variable()},
        functions={"segment": lambda name: name in customer.segments},
    )
    try:
        return cel.compile(condition).execute(context) is True
    except (KeyError, RuntimeError, ValueError, TypeError):
        return False
