"""Event routing: a stored event starts the journeys it triggers and reaches the runs waiting.

The intake (:mod:`engine.ingest.intake`) has stored the event before it gets
here. Segments are recomputed first, so entry gates see the new membership; then
each active journey either starts a run (start, then signal if one is already
going, on the deterministic workflow id, so Temporal itself keeps one active run
per customer and journey; re-entry rules choose the id reuse policy) or, when the
customer's run waits for this event, gets it as a signal. An event for a customer
with no run waiting for it changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import cel
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from dsl.compiled import ApiTriggerSpec, CompiledJourney, EventTriggerSpec, SegmentTriggerSpec
from engine import clock
from engine.analytics.attribution import AttributionWindows, default_windows
from engine.errors import RoutingError
from engine.runtime.failpoints import failpoint
from engine.runtime.views import customer_view
from engine.segments.evaluation import SegmentEngine
from engine.store import ConversionRecord, Store
from workflows.journey import JourneyWorkflow, workflow_id_for
from workflows.models import EVENT_SIGNAL, CustomerEvent, CustomerView, JourneyRunInput

log = logging.getLogger("cxflow.ingest")
# Which event started a run, in the run's Temporal memo (read when rerouting).
TRIGGER_MEMO = "cxflow_trigger_message_id"
API_EVENT_PREFIX = "api:"


@dataclass
class RouteResult:
    """What one event did: whether it was new, which runs it started or reached."""

    stored: bool
    started: list[str] = field(default_factory=list)
    signalled: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    segments_entered: set[str] = field(default_factory=set)
    segments_left: set[str] = field(default_factory=set)
    converted: list[str] = field(default_factory=list)


class EventRouter:
    """Hands accepted events to Temporal."""

    def __init__(
        self,
        client: Client,
        store: Store,
        task_queue: str,
        activity_timeout_seconds: int = 60,
        *,
        history_after: timedelta = timedelta(days=1),
        attribution: AttributionWindows | None = None,
        dev_runs: bool = False,
    ) -> None:
        self.client = client
        # Runs started here accept `cxflow runs skip` (cxflow dev only).
        self.dev_runs = dev_runs
        self.attribution = attribution if attribution is not None else default_windows()
        self.history_after = history_after
        self.store = store
        self.task_queue = task_queue
        self.activity_timeout_seconds = activity_timeout_seconds
        self.segments = SegmentEngine(store)
        self._active_versions: frozenset[tuple[str, str]] | None = None
        self._versions: dict[tuple[str, str], CompiledJourney | None] = {}
        self._active: list[CompiledJourney] = []

    def _load_active_journeys(self) -> list[CompiledJourney]:
        """The active journeys, decoded again only when a deploy changed which are active.

        Every event needs them; decoding every compiled journey per event was the
        largest cost of ingest (bench/ingest.py).
        """
        versions = self.store.active_versions()
        if versions != self._active_versions:
            self._active = self.store.active_journeys()
            self._active_versions = versions
        return self._active

    async def active_journeys(self) -> list[CompiledJourney]:
        return await asyncio.to_thread(self._load_active_journeys)

    async def dispatch(
        self,
        event: CustomerEvent,
        *,
        rerouted: bool = False,
        received_at: datetime | None = None,
    ) -> RouteResult:
        """Start and signal the runs an accepted event concerns, then mark it routed.

        ``rerouted``: an earlier attempt may have started runs before it failed (or its
        process died) without marking the event routed; a journey that event already
        entered is not entered again. An event that happened more than ``history_after``
        before it was received (a backfill) only updates segments.
        """
        result = RouteResult(stored=True)
        # Segments first, so entry gates and segment() in conditions see the new membership.
        change = await asyncio.to_thread(self.segments.on_event, event.customer_id, event.name)
        result.segments_entered, result.segments_left = change.entered, change.left
        journeys = await self.active_journeys()
        goals = [j for j in journeys if j.goal is not None and j.goal.event == event.name]
        backfill = event.timestamp < (received_at or clock.now()) - self.history_after
        if backfill and not goals:  # history that converts nothing: no profile to read
            return await self._history(event, result)
        view, aliases = await self._profile(event.customer_id)
        result.converted = await self._attribute_goal(event, goals, view, aliases)
        if backfill:
            return await self._history(event, result)
        alias_runs = await asyncio.to_thread(self.store.runs.running_of, aliases) if aliases else {}
        for journey in journeys:
            workflow_id = workflow_id_for(journey.id, event.customer_id)
            reacts = event.name in journey.listens_to or _triggered_by(journey, event)
            alias_run = alias_runs.get(journey.id)
            if alias_run is not None and reacts and await self._signal(alias_run, event):
                # The customer's run still goes under an id merged into them: it is theirs.
                result.signalled.append(alias_run)
                continue
            reason = self._entry_refusal(journey, event, view)
            if reason is None and rerouted and await self._entered_before(journey, event):
                result.skipped[journey.id] = "entered by this event before"
                continue
            if reason is None:
                outcome = await self._start(journey, event.customer_id, event, workflow_id)
                if outcome == "started":
                    result.started.append(workflow_id)
                    continue
                if outcome == "signalled":
                    result.signalled.append(workflow_id)
                    continue
                reason = "re-entry not allowed (the customer has been in this journey)"
            if reacts and await self._signal(workflow_id, event):
                result.signalled.append(workflow_id)
                continue
            if _triggered_by(journey, event):
                result.skipped[journey.id] = reason
        if change.entered:
            result.started += await self.segments_entered(event.customer_id, change.entered)
        failpoint("router.before_mark_routed")
        await asyncio.to_thread(self.store.events.mark_routed, event.message_id)
        return result

    async def _history(self, event: CustomerEvent, result: RouteResult) -> RouteResult:
        """A backfilled event: it updated segments (and goals); it reaches no journey."""
        result.skipped["*"] = "a backfilled event: it updates segments, not journeys"
        await asyncio.to_thread(self.store.events.mark_routed, event.message_id)
        return result

    async def _attribute_goal(
        self,
        event: CustomerEvent,
        targets: list[CompiledJourney],
        view: CustomerView,
        aliases: list[str],
    ) -> list[str]:
        """Count the event as a goal conversion of every run it converts, ended or not.

        A run converts when the event is its journey version's goal event (its ``when``
        holding) and happened within the goal's window after the run began. Attributing
        here, from the event stream, is what lets a run that ended before the goal event
        came count: the holdout's, which ends at once, and every run that exits early.
        A run still going records the same conversion itself; the store keeps one per
        run and goal, credited to the run's last touch within ``self.attribution``
        (engine.analytics.attribution). ``targets`` are the active journeys whose goal is
        this event.
        Returns the workflow ids converted now.
        """
        if not targets:
            return []
        longest = max(j.goal.within_seconds for j in targets if j.goal is not None)
        runs = await asyncio.to_thread(
            self.store.runs.entered_between,
            [j.id for j in targets],
            [event.customer_id, *aliases],
            event.timestamp - timedelta(seconds=longest),
            event.timestamp,
        )
        converted = []
        for run in runs:
            goal = (await self._version(run.journey_id, run.version) or targets[0]).goal
            if (
                goal is None
                or goal.event != event.name
                or event.timestamp - run.started_at > timedelta(seconds=goal.within_seconds)
                or (goal.when and not _holds(goal.when, event, view, run.journey_id))
            ):
                continue
            value = _value(goal.value, event, view, run.journey_id) if goal.value else None
            conversion = ConversionRecord(
                workflow_id=run.workflow_id,
                run_id=run.run_id,
                journey_id=run.journey_id,
                customer_id=run.customer_id,
                goal_event=event.name,
                message_id=event.message_id,
                variant=run.variant,
                converted_at=event.timestamp,
                value=value,
                currency=goal.currency if value is not None else None,
            )
            if await asyncio.to_thread(
                self.store.experiments.record_conversion, conversion, self.attribution
            ):
                converted.append(run.workflow_id)
        return converted

    async def _version(self, journey_id: str, version: str) -> CompiledJourney | None:
        """A deployed version of a journey (versions never change once deployed)."""
        key = (journey_id, version)
        if key not in self._versions:
            self._versions[key] = await asyncio.to_thread(
                self.store.get_journey, journey_id, version
            )
        return self._versions[key]

    async def profile_changed(self, customer_id: str) -> list[str]:
        """A merge moved data into this customer: recompute every segment, then start the
        journeys of the segments entered."""
        definitions = await asyncio.to_thread(self.segments.definitions)
        change = await asyncio.to_thread(self.segments.recompute, customer_id, definitions)
        if not change.entered:
            return []
        return await self.segments_entered(customer_id, change.entered)

    async def enter(
        self, journey: CompiledJourney, customer_id: str, trigger: CustomerEvent | None = None
    ) -> str | None:
        """Start a run of ``journey`` for a customer if the entry rules allow it.

        Used for segment entry, schedules and API calls, which have no event to match.
        Returns the workflow id when a run started, else None.
        """
        view = await self._customer(customer_id)
        if self._gate_refusal(journey, customer_id, view) is not None:
            return None
        workflow_id = workflow_id_for(journey.id, customer_id)
        outcome = await self._start(journey, customer_id, trigger, workflow_id)
        return workflow_id if outcome == "started" else None

    async def segments_entered(self, customer_id: str, segments: set[str]) -> list[str]:
        """Start the journeys triggered by entering any of ``segments``."""
        journeys = await self.active_journeys()
        started = []
        for journey in journeys:
            trigger = journey.trigger
            if isinstance(trigger, SegmentTriggerSpec) and trigger.segment in segments:
                workflow_id = await self.enter(journey, customer_id)
                if workflow_id:
                    started.append(workflow_id)
        return started

    async def start_by_api(
        self, journey_id: str, customer_id: str, properties: dict[str, Any], message_id: str
    ) -> str | None:
        """Start an API-triggered journey; the call's properties become `event.properties`."""
        journey = await asyncio.to_thread(self.store.get_journey, journey_id)
        if journey is None or not isinstance(journey.trigger, ApiTriggerSpec):
            raise RoutingError(
                f"journey {journey_id!r} is not deployed with an `api: {{}}` trigger: deploy "
                "it, or check the id with `cxflow journeys list`"
            )
        event = CustomerEvent(
            message_id=message_id,
            customer_id=customer_id,
            name=api_event(journey_id),
            properties=properties,
            timestamp=clock.now(),
        )
        return await self.enter(journey, customer_id, event)

    async def _customer(self, customer_id: str) -> CustomerView:
        return (await self._profile(customer_id))[0]

    async def _profile(self, customer_id: str) -> tuple[CustomerView, list[str]]:
        """The customer as conditions see them, and the ids merged into them."""
        return await asyncio.to_thread(customer_view, self.store, customer_id)

    def _entry_refusal(
        self, journey: CompiledJourney, event: CustomerEvent, customer: CustomerView
    ) -> str | None:
        """Why this event does not start a run of the journey, or None when it does."""
        if not _triggered_by(journey, event):
            return "not its trigger"
        trigger = journey.trigger
        if (
            isinstance(trigger, EventTriggerSpec)
            and trigger.when
            and not _holds(trigger.when, event, customer, journey.id)
        ):
            return "trigger condition is false"
        return self._gate_refusal(journey, event.customer_id, customer)

    def _gate_refusal(
        self, journey: CompiledJourney, customer_id: str, customer: CustomerView
    ) -> str | None:
        """The entry rules every trigger shares: the journey not paused or stopped by an
        operator (engine.runtime.controls), the segment gate and the re-entry window."""
        control = self.store.journeys.control(journey.id)  # one primary-key read
        if control.status != "active":
            log.info(
                "journey %s is %s: %s does not enter it", journey.id, control.status, customer_id
            )
            return (
                f"journey {control.status} by {control.changed_by}: new entries are refused "
                f"until `cxflow journeys resume {journey.id}`"
            )
        if journey.entry.segment and journey.entry.segment not in customer.segments:
            return f"not in segment {journey.entry.segment}"
        if journey.entry.reentry == "after" and journey.entry.reentry_after_seconds:
            last = self.store.last_entry(journey.id, customer_id)  # one indexed read
            window = timedelta(seconds=journey.entry.reentry_after_seconds)
            if last is not None and clock.now() - last < window:
                return "re-entry window has not passed"
        return None

    async def _start(
        self,
        journey: CompiledJourney,
        customer_id: str,
        event: CustomerEvent | None,
        workflow_id: str,
    ) -> Literal["started", "signalled", "refused"]:
        """Start a run; if one is already going, hand it the event instead.

        Start-then-signal rather than signal-with-start, because only a plain start says
        for certain whether a run was created. If the running run ends between the two
        calls, the start is tried once more, so the event is not lost.
        """
        reuse = (
            WorkflowIDReusePolicy.REJECT_DUPLICATE
            if journey.entry.reentry == "once"
            else WorkflowIDReusePolicy.ALLOW_DUPLICATE
        )
        for _ in range(2):
            try:
                await self.client.start_workflow(
                    JourneyWorkflow.run,
                    JourneyRunInput(
                        journey=journey,
                        customer_id=customer_id,
                        trigger=event,
                        activity_timeout_seconds=self.activity_timeout_seconds,
                        dev=self.dev_runs,
                    ),
                    id=workflow_id,
                    task_queue=self.task_queue,
                    id_reuse_policy=reuse,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    memo={TRIGGER_MEMO: event.message_id} if event is not None else None,
                )
            except WorkflowAlreadyStartedError:
                if event is None:
                    return "refused"  # running already, or re-entry not allowed
                if await self._signal(workflow_id, event):
                    return "signalled"
                if journey.entry.reentry == "once":
                    return "refused"
                continue  # the run ended in between: start again
            return "started"
        return "refused"

    async def _entered_before(self, journey: CompiledJourney, event: CustomerEvent) -> bool:
        """Whether this event already started a run of the journey (a reroute's question).

        The run records its trigger in the store as its first step; in the moment before
        that, Temporal's memo of the current run says which event started it.
        """
        if await asyncio.to_thread(self.store.entered_by, journey.id, event.message_id):
            return True
        handle = self.client.get_workflow_handle(workflow_id_for(journey.id, event.customer_id))
        try:
            description = await handle.describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        memo = await description.memo()
        return memo.get(TRIGGER_MEMO) == event.message_id

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
    """Whether the event starts the journey: its trigger event, or the journey's API start
    (``POST /v1/journeys/{id}/start`` stores an event named ``api:<journey id>``)."""
    trigger = journey.trigger
    if isinstance(trigger, EventTriggerSpec):
        return trigger.event == event.name
    return isinstance(trigger, ApiTriggerSpec) and event.name == api_event(journey.id)


def api_event(journey_id: str) -> str:
    """The name of the event an API start of the journey is stored as."""
    return f"{API_EVENT_PREFIX}{journey_id}"


def _holds(condition: str, event: CustomerEvent, customer: CustomerView, journey_id: str) -> bool:
    """Whether the trigger's ``when:`` holds; a condition that cannot be evaluated is false.

    Building the context can fail too (CEL refuses some values), so it is inside the
    ``try``; nothing a customer's data holds can make routing raise.
    """
    try:
        return _evaluate(condition, event, customer) is True
    except Exception as error:  # CEL's binding raises several kinds; each means "not true"
        log.warning(
            "journey %s: the trigger condition could not be evaluated for customer %s "
            "(%s); it counts as false",
            journey_id,
            customer.id,
            type(error).__name__,
        )
        return False


def _value(
    expression: str, event: CustomerEvent, customer: CustomerView, journey_id: str
) -> float | None:
    """The goal's ``value`` for this event: a finite number, else None (and a warning)."""
    try:
        value = _evaluate(expression, event, customer)
    except Exception as error:  # CEL's binding raises several kinds; each means "no value"
        value, reason = None, type(error).__name__
    else:
        reason = f"not a number ({type(value).__name__})"
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    log.warning(
        "journey %s: the goal value of event %s could not be computed (%s); the conversion "
        "counts without a value",
        journey_id,
        event.message_id,
        reason,
    )
    return None


def _evaluate(expression: str, event: CustomerEvent, customer: CustomerView) -> object:
    """A CEL expression over the event and the customer, as routing's conditions see
    them; raises what CEL raises, and each caller says what a failure means."""
    context = cel.Context(
        variables={"event": event.as_variable(), "customer": customer.as_variable()},
        functions={"segment": lambda name: name in customer.segments},
    )
    return cel.compile(expression).execute(context)
