"""The journey workflow: one durable run per customer and journey, interpreting a compiled journey.

Workflow code must be deterministic: it only decides. Every read (profile,
segments, local time) and every write (sends, calls, profile updates, run
bookkeeping) is an activity, whose result Temporal records, so a replay after a
crash or deploy takes exactly the same path. The activities are called through
their stubs in :mod:`workflows.activities`, which the engine implements. Exit
events can arrive at any moment; every wait watches for them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

with workflow.unsafe.imports_passed_through():
    import cel

    from dsl.compiled import (
        AnyNode,
        BranchNode,
        CallNode,
        CompiledJourney,
        DataDuration,
        DataTime,
        ExitNode,
        SendNode,
        SplitNode,
        StepError,
        StepErrorCode,
        UpdateProfileNode,
        WaitForNode,
        WaitNode,
    )
    from dsl.durations import parse_duration
    from workflows.activities import (
        PERMANENT_CONNECTOR_ERROR,
        PERMANENT_ERROR_TYPES,
        RETRYABLE_CONNECTOR_ERROR,
        TEMPLATE_ERROR,
        JourneyActivityStubs,
    )
    from workflows.ids import workflow_id_for as workflow_id_for
    from workflows.models import (
        CONTROL_SIGNAL,
        EVENT_SIGNAL,
        SKIP_SIGNAL,
        WORKFLOW_NAME,
        AssignInput,
        CallInput,
        ConversionInput,
        CustomerEvent,
        CustomerView,
        JourneyControl,
        JourneyRunInput,
        LocalTimeInput,
        ProfileUpdateInput,
        RunContext,
        RunOutcome,
        RunRecordInput,
        RunState,
        RunStatus,
        SendInput,
        SendOutcome,
        WaitKind,
    )

# Activities run with these limits; permanent errors are not retried.
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=20,
    non_retryable_error_types=list(PERMANENT_ERROR_TYPES),
)
ACTIVITY_TIMEOUT = timedelta(seconds=60)
# Continue as new before the history grows large (Temporal warns at 10k events).
MAX_HISTORY_EVENTS = 5_000
SEEN_IDS_KEPT = 500
# Engine changes that would change the path of runs in flight, each behind workflow.patched.
PATCH_FINISH_AFTER_HANDLERS = "finish-after-signal-handlers"
# Run bookkeeping (started, each step, finished) as local activities: one marker event
# each instead of an activity's three events and a workflow task (bench/: 2.4x history).
PATCH_LOCAL_BOOKKEEPING = "local-bookkeeping"
# A send or call with on_error that fails for good goes to its on_error step with `error`
# set. Runs started before took the step's default path (a send went on to next, a call
# failed the run), also when their compiled journey had an on_error: the patch is asked
# only at such a failure, so histories without one have no marker.
PATCH_ON_ERROR_PATH = "on-error-path"
# Operators pause, resume and stop journeys (engine.runtime.controls). The store's status
# is the truth, read by the deliver activity at every send: a send of a paused or stopped
# journey comes back `held`, unsent, so no race with a run that starts as the pause lands.
# A held run waits for the `resume` signal (or rechecks the store every HOLD_RECHECK, should
# a signal be lost), then sends; `stop` (signal, or a held send of a stopped journey) ends
# the run as exited with reason STOPPED. Asked at the first signal or held send only, so
# histories without either have no marker; a run that got a control signal before the
# patch (an older worker ignored it) keeps ignoring them.
PATCH_JOURNEY_CONTROLS = "journey-controls"
STOPPED = "stopped"
# `cxflow runs skip` ends a wait of a run of cxflow dev (JourneyRunInput.dev) at once. Asked
# in the signal's handler only: a history without the signal has no marker.
PATCH_DEV_SKIP = "dev-skip"
HOLD_RECHECK = timedelta(hours=4)
# The longest `error.message`: enough for a connector's explanation, never a whole response.
MAX_ERROR_MESSAGE = 1_000

ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")


@workflow.defn(name=WORKFLOW_NAME)
class JourneyWorkflow:
    """Interprets a :class:`CompiledJourney` for one customer."""

    def __init__(self) -> None:
        self.inbox: list[CustomerEvent] = []
        self.exit_reason: str | None = None
        self.finish_reason: str | None = None
        self.waiting_for: str | None = None
        # What the run waits for now and until when, for the status query (never decides).
        self.waiting: WaitKind | None = None
        self.waiting_until: datetime | None = None
        self.customer: CustomerView | None = None
        self.programs: dict[str, cel.Program] = {}
        self.journey: CompiledJourney | None = None
        self.state: RunState | None = None
        self.run_context: RunContext | None = None
        self.trigger: CustomerEvent | None = None
        # Message ids already handled, oldest first (a dict keeps insertion order).
        self.seen: dict[str, None] = {}
        self.options_timeout: int | None = None
        # Conditions that could not be evaluated, already logged: (step, condition, event).
        self.unevaluable: set[tuple[str | None, str, str | None]] = set()
        # Whether `error` is a variable of this run's conditions and templates (see run()).
        self.error_variable = True
        # `resume` control signals received: a held send waits for one more.
        self.resumes = 0
        # `skip_wait` signals taken (runs of cxflow dev only): a wait ends at one more.
        self.skips = 0
        self.dev = False

    # -- entry ------------------------------------------------------------------------------

    @workflow.run
    async def run(self, data: JourneyRunInput) -> RunOutcome:
        info = workflow.info()
        journey = data.journey
        self.journey = journey
        # `error` (null until an on_error path is taken) is a variable of every run, but
        # not of journeys that save a result under that name (only the DSL before
        # on_error allowed that): theirs stays. Templates render a missing `error` as a
        # null one, but a condition reading a missing variable is false, and `error ==
        # null` is true: so journeys whose conditions read it (compiled since on_error
        # was in the DSL) have it only from the patch on, and old runs keep their path.
        self.error_variable = not _saves_error(journey) and (
            not _conditions_read_error(journey) or workflow.patched(PATCH_ON_ERROR_PATH)
        )
        self.trigger = data.trigger
        self.dev = data.dev
        self.options_timeout = data.activity_timeout_seconds
        first_run = data.state is None
        state = data.state or RunState(step=journey.start, entered_at=workflow.now())
        self.state = state
        if data.trigger is not None:
            self.seen[data.trigger.message_id] = None
        self.seen.update(dict.fromkeys(state.seen_message_ids))
        entry_id = data.entry_id or info.run_id
        self.run_context = RunContext(
            workflow_id=info.workflow_id,
            run_id=info.run_id,
            entry_id=entry_id,
            journey_id=journey.id,
            version=journey.version,
            customer_id=data.customer_id,
        )
        if first_run:
            await self._record(
                "started", step_id=journey.start, trigger=data.trigger, at=state.entered_at
            )
        self.customer = await self._load_customer()
        step = state.step
        failure: str | None = None
        while step is not None and self.exit_reason is None:
            if self._history_is_long(data.history_limit or MAX_HISTORY_EVENTS):
                if workflow.patched(PATCH_FINISH_AFTER_HANDLERS):
                    await workflow.wait_condition(workflow.all_handlers_finished)
                self._continue_as_new(data, step, entry_id)
            current = self._state
            self.state = current.model_copy(
                update={
                    "steps_taken": current.steps_taken + 1,
                    "visits": {**current.visits, step: current.visits.get(step, 0) + 1},
                }
            )
            await self._record("step", step_id=step)
            try:
                step = await self._execute(journey.steps[step])
            except _RunFailedError as error:
                failure = str(error)
                break
        if failure is not None:
            status = "failed"
        elif self.exit_reason is not None:
            status = "exited"
        else:
            status = "completed"
        reason = failure or self.exit_reason or self.finish_reason
        # A goal conversion may still be recording in a signal handler: let it finish.
        # Runs recorded before this rule finished at once, so it is behind a patch.
        if workflow.patched(PATCH_FINISH_AFTER_HANDLERS):
            await workflow.wait_condition(workflow.all_handlers_finished)
        await self._record("finished", status=status, reason=reason)
        return RunOutcome(
            status=status,
            reason=reason,
            last_step=step,
            steps_taken=self._state.steps_taken,
            converted=self._state.converted,
        )

    # -- events ---------------------------------------------------------------------------

    @workflow.signal(name=EVENT_SIGNAL)
    async def customer_event(self, event: CustomerEvent) -> None:
        """A customer event for this run: may end it, convert it, or end a wait_for."""
        if event.message_id in self.seen:
            return  # duplicate delivery: the same message id twice changes nothing
        self.seen[event.message_id] = None
        journey = self.journey
        if journey is None:  # signal arrived before run() started: keep it for run()
            self.inbox.append(event)
            return
        for criterion in journey.exit_when:
            if criterion.event == event.name and self._holds(criterion.when, event):
                self.exit_reason = self.exit_reason or f"exit event {event.name}"
        goal = journey.goal
        state = self._state
        if (
            goal is not None
            and not state.converted
            and goal.event == event.name
            and workflow.now() - state.entered_at <= timedelta(seconds=goal.within_seconds)
            and self._holds(goal.when, event)
        ):
            self.state = state.model_copy(update={"converted": True})
            await workflow.execute_activity_method(
                JourneyActivityStubs.record_conversion,
                ConversionInput(
                    run=self._context,
                    goal_event=event.name,
                    message_id=event.message_id,
                    variant=next(iter(state.variants.values()), None),
                    at=workflow.now(),
                ),
                start_to_close_timeout=self._timeout,
                retry_policy=ACTIVITY_RETRY,
            )
        self.inbox.append(event)

    @workflow.signal(name=CONTROL_SIGNAL)
    def journey_control(self, control: JourneyControl) -> None:
        """An operator resumed or stopped the journey (see PATCH_JOURNEY_CONTROLS)."""
        if not workflow.patched(PATCH_JOURNEY_CONTROLS):
            return
        if control.action == "stop":
            self.exit_reason = self.exit_reason or STOPPED
        else:
            self.resumes += 1

    @workflow.signal(name=SKIP_SIGNAL)
    def skip_wait(self) -> None:
        """End the current wait now (`cxflow runs skip`): only a run of cxflow dev listens.

        A wait_for ends as by its timeout. Asked only at such a signal (see
        PATCH_DEV_SKIP), so histories without one are unchanged.
        """
        if self.dev and workflow.patched(PATCH_DEV_SKIP):
            self.skips += 1

    @workflow.query
    def status(self) -> RunStatus:
        journey = self.journey
        state = self.state
        return RunStatus(
            journey_id=journey.id if journey else "",
            version=journey.version if journey else "",
            customer_id=self.run_context.customer_id if self.run_context else "",
            step=state.step if state else None,
            waiting_for=self.waiting_for,
            waiting=self.waiting,
            waiting_until=self.waiting_until,
            dev=self.dev,
            saved=dict(state.saved) if state else {},
            variants=dict(state.variants) if state else {},
            converted=state.converted if state else False,
            exit_reason=self.exit_reason,
            error=state.error if state else None,
        )

    # -- steps ----------------------------------------------------------------------------

    async def _execute(self, node: AnyNode) -> str | None:
        """Run one step; return the id of the next one (None ends the run)."""
        self.state = self._state.model_copy(update={"step": node.id})
        if isinstance(node, WaitNode):
            return await self._wait(node)
        if isinstance(node, WaitForNode):
            return await self._wait_for(node)
        if isinstance(node, SendNode):
            return await self._send(node)
        if isinstance(node, CallNode):
            return await self._call(node)
        if isinstance(node, BranchNode):
            return await self._branch(node)
        if isinstance(node, SplitNode):
            return await self._split(node)
        if isinstance(node, UpdateProfileNode):
            await self._activity(
                JourneyActivityStubs.update_profile,
                ProfileUpdateInput(
                    run=self._context, set=node.set, unset=node.unset, variables=self._variables()
                ),
            )
            return node.next
        assert isinstance(node, ExitNode)
        self.finish_reason = node.reason or f"exit step {node.id}"
        return None

    async def _wait(self, node: WaitNode) -> str | None:
        if node.for_data is not None:
            await self._sleep_unless_exit(self._data_duration(node.for_data), "timer")
            return node.next
        if node.until_data is not None:
            target = await self._data_time(node.until_data)
            await self._sleep_unless_exit(target - workflow.now(), "timer")
            return node.next
        if node.seconds is not None:
            await self._sleep_unless_exit(timedelta(seconds=node.seconds), "timer")
            return node.next
        assert node.until is not None
        target = await self._local_time(
            minute_of_day=node.until.minute_of_day, weekdays=node.until.weekdays
        )
        await self._sleep_unless_exit(target - workflow.now(), "timer")
        return node.next

    async def _data_time(self, spec: DataTime) -> datetime:
        """When a wait on a date in the data ends: the customer read afresh, the
        expression evaluated here (the same on replay), the date worked out in the zone
        by the local activity. A missing or unreadable date ends the wait at once."""
        self.customer = await self._load_customer()
        value = self._value(spec.expression)
        if value is None:
            workflow.logger.warning(
                "step %s: %s is not a date: the wait ends at once",
                self._state.step,
                spec.expression,
            )
        return await self._local_time(
            minute_of_day=spec.minute_of_day,
            data_value=value,
            offset_seconds=spec.offset_seconds,
            every_year=spec.every_year,
        )

    def _data_duration(self, spec: DataDuration) -> timedelta:
        """How long the data says to wait, within the step's bounds; its shortest when the
        value is missing or not a length (evaluated here: the same on replay)."""
        result = self._evaluate(spec.expression)
        length: float | None = None
        if isinstance(result, timedelta):
            length = result.total_seconds()
        elif isinstance(result, int | float) and not isinstance(result, bool):
            length = float(result) * spec.unit_seconds
        elif isinstance(result, str):
            with contextlib.suppress(ValueError):
                length = parse_duration(result.strip()).total_seconds()
        if length is None:
            workflow.logger.warning(
                "step %s: %s is not a length: the shortest wait", self._state.step, spec.expression
            )
            length = spec.min_seconds
        return timedelta(seconds=min(max(length, spec.min_seconds), spec.max_seconds))

    def _value(self, expression: str) -> str | None:
        """A CEL expression's value as ISO 8601 text (a date or time), or None."""
        result = self._evaluate(expression)
        if isinstance(result, datetime):
            return result.isoformat()
        return result if isinstance(result, str) and result else None

    async def _wait_for(self, node: WaitForNode) -> str | None:
        start = len(self.inbox)
        self.waiting_for = node.event
        self._note_wait("event", timedelta(seconds=node.timeout_seconds))
        found: list[CustomerEvent] = []
        skips = self.skips

        def arrived() -> bool:
            if self.exit_reason is not None or self.skips > skips:
                return True
            for event in self.inbox[start:]:
                if event.name == node.event and self._holds(node.when, event):
                    found.append(event)
                    return True
            return False

        try:
            await workflow.wait_condition(arrived, timeout=timedelta(seconds=node.timeout_seconds))
        except TimeoutError:
            return node.on_timeout
        finally:
            self.waiting_for = None
            self._note_wait(None)
        if self.skips > skips and not found and self.exit_reason is None:
            return node.on_timeout
        if found and node.save_as:
            self._save(node.save_as, found[0].as_variable())
        return node.next

    async def _send(self, node: SendNode) -> str | None:
        """Send the message; the next step (on_error's when the send failed for good).

        A send the journey's pause held is tried again once resumed, quiet hours and all.
        """
        while True:
            resumes = self.resumes
            outcome = await self._send_once(node)
            if isinstance(outcome, StepError) or outcome.status != "held":
                break
            if not workflow.patched(PATCH_JOURNEY_CONTROLS):
                break  # only a run that ignores controls (see the patch): it goes on
            if outcome.detail.get("journey") == "stopped":
                self.exit_reason = self.exit_reason or STOPPED
            else:
                await self._hold(resumes)
            if self.exit_reason is not None:
                return node.next
        if isinstance(outcome, StepError):
            failure: StepError | None = outcome
        elif outcome.status == "failed":
            failure = StepError(
                step=node.id,
                code=outcome.error or StepErrorCode.OTHER,
                message=_bounded(str(outcome.detail.get("error") or "the send failed")),
            )
        else:
            failure = None
        if failure is not None:
            if self._take_error_path(node.on_error, failure):
                return node.on_error
            workflow.logger.warning("send %s failed; the run goes on", node.id)
        return node.next

    async def _hold(self, resumes: int) -> None:
        """Wait for a resume after ``resumes`` (or a stop, an exit, the next recheck)."""
        self.waiting_for = "resume"
        self._note_wait("resume", HOLD_RECHECK)
        try:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self.resumes > resumes or self.exit_reason is not None,
                    timeout=HOLD_RECHECK,
                )
        finally:
            self.waiting_for = None
            self._note_wait(None)

    async def _send_once(self, node: SendNode) -> SendOutcome | StepError:
        """Quiet hours, then the deliver activity; a ``skipped`` outcome when an exit event
        came during quiet hours."""
        journey = self.journey
        assert journey is not None
        quiet = journey.settings.quiet_hours
        if quiet is not None:
            allowed = await self._local_time(
                quiet_start_minute=quiet.start_minute, quiet_end_minute=quiet.end_minute
            )
            if allowed > workflow.now():
                await self._sleep_unless_exit(allowed - workflow.now(), "quiet_hours")
                if self.exit_reason is not None:
                    return SendOutcome(status="skipped", detail={"reason": "exit"})
        cap = journey.settings.frequency_cap
        return await self._activity_or_error(
            JourneyActivityStubs.deliver,
            SendInput(
                run=self._context,
                step_id=node.id,
                idempotency_key=self._idempotency_key(node.id),
                channel=node.channel,
                fallback=node.fallback,
                template=node.template,
                subject=node.content.subject,
                body=node.content.body,
                html=node.content.html,
                params=node.params,
                variables=self._variables(),
                frequency_cap=(cap.max, cap.per_seconds, cap.channels) if cap else None,
                tracking=node.tracking,
            ),
        )

    async def _call(self, node: CallNode) -> str | None:
        """Call the action; the next step (on_error's when the call failed for good)."""
        output = await self._activity_or_error(
            JourneyActivityStubs.call_action,
            CallInput(
                run=self._context,
                step_id=node.id,
                idempotency_key=self._idempotency_key(node.id),
                connector=node.connector,
                action=node.action,
                inputs=node.inputs,
                variables=self._variables(),
            ),
        )
        if isinstance(output, StepError):
            if self._take_error_path(node.on_error, output):
                return node.on_error
            raise _RunFailedError(f"step {node.id}: {node.connector}.{node.action} failed")
        if node.save_as:
            self._save(node.save_as, output)
        return node.next

    def _take_error_path(self, on_error: str | None, failure: StepError) -> bool:
        """Whether the run goes to ``on_error``; if so, ``error`` is now ``failure``.

        Runs that failed such a step before on_error was implemented took the step's
        default path, so the new one is behind a patch, asked only here: a history
        without a failure on a step with on_error is unchanged, marker and all.
        """
        if on_error is None or not workflow.patched(PATCH_ON_ERROR_PATH):
            return False
        workflow.logger.warning(
            "step %s failed (%s), going to %s: %s",
            failure.step,
            failure.code.value,
            on_error,
            failure.message,
        )
        self.state = self._state.model_copy(update={"error": failure})
        return True

    async def _branch(self, node: BranchNode) -> str | None:
        self.customer = await self._load_customer()
        for case in node.cases:
            if self._holds(case.when, self.trigger):
                return case.next
        return node.otherwise

    async def _split(self, node: SplitNode) -> str | None:
        name = await self._activity(
            JourneyActivityStubs.assign_variant,
            AssignInput(
                experiment=node.experiment,
                customer_id=self._context.customer_id,
                variants=[(v.name, v.weight) for v in node.variants],
            ),
        )
        self.state = self._state.model_copy(
            update={"variants": {**self._state.variants, node.experiment: name}}
        )
        await self._record("step", step_id=node.id, variant=name)
        variant = next((v for v in node.variants if v.name == name), node.variants[0])
        return variant.next

    # -- helpers --------------------------------------------------------------------------

    @property
    def _state(self) -> RunState:
        assert self.state is not None
        return self.state

    @property
    def _timeout(self) -> timedelta:
        seconds = self.options_timeout
        return timedelta(seconds=seconds) if seconds else ACTIVITY_TIMEOUT

    @property
    def _context(self) -> RunContext:
        assert self.run_context is not None
        return self.run_context

    def _save(self, name: str, value: Any) -> None:
        self.state = self._state.model_copy(update={"saved": {**self._state.saved, name: value}})

    def _idempotency_key(self, step_id: str) -> str:
        """Stable across retries, replays, worker restarts and continue-as-new."""
        visit = self._state.visits.get(step_id, 1)
        context = self._context
        return f"{context.workflow_id}/{context.entry_id}/{step_id}/{visit}"

    def _variables(self, event: CustomerEvent | None = None) -> dict[str, Any]:
        journey = self.journey
        assert journey is not None
        variables: dict[str, Any] = dict(self._state.saved)
        variables["customer"] = (
            self.customer.as_variable() if self.customer else {"id": self._context.customer_id}
        )
        chosen = event or self.trigger
        if chosen is not None:
            variables["event"] = chosen.as_variable()
        # The event that started the run, beside another `event` (an exit, goal or awaited
        # one). A journey that saved a result under that name (before it was reserved)
        # keeps it; a condition could not read `trigger` before, so no path changes.
        if self.trigger is not None and "trigger" not in variables:
            variables["trigger"] = self.trigger.as_variable()
        variables["journey"] = {"id": journey.id, "name": journey.name, "version": journey.version}
        if self.error_variable:
            error = self._state.error
            variables["error"] = error.model_dump(mode="json") if error else None
        return variables

    def _holds(self, condition: str | None, event: CustomerEvent | None) -> bool:
        """Evaluate a CEL condition; one that cannot be evaluated counts as false.

        Nothing may raise out of here: the callers are wait conditions and signal
        handlers, where an exception fails the workflow task, and the next attempt
        replays to the same exception, for ever. So a missing field, a wrong type, or
        a value CEL cannot take (an integer beyond 64 bits in an event) is false, and
        logged once per condition, step and event. No patch: a condition that evaluated
        before evaluates the same now; one that raised wedged its run, whose history
        therefore has no later commands for this to disagree with.
        """
        if condition is None:
            return True
        try:
            segments = set(self.customer.segments) if self.customer else set()
            context = cel.Context(
                variables=self._cel_variables(event),
                functions={"segment": lambda n: n in segments},
            )
            return self._program(condition).execute(context) is True
        except Exception as error:  # any at all: see above (false, never raised)
            self._log_unevaluable(condition, event, error)
            return False

    def _program(self, expression: str) -> cel.Program:
        """The compiled expression, compiled once per run."""
        program = self.programs.get(expression)
        if program is None:
            program = cel.compile(expression)
            self.programs[expression] = program
        return program

    def _cel_variables(self, event: CustomerEvent | None = None) -> dict[str, Any]:
        """What conditions and data waits read: the run's variables, `now` (the workflow's
        clock, the same on replay) and `today`. No condition could read the clock before,
        so no run's path changes."""
        return {**self._variables(event), "now": workflow.now(), "today": self._today()}

    def _evaluate(self, expression: str) -> Any:
        """A data wait's expression evaluated, or None when it cannot be (as `_holds`:
        nothing may raise out of workflow code)."""
        try:
            return self._program(expression).execute(cel.Context(variables=self._cel_variables()))
        except Exception:  # any at all: the wait then uses its fallback
            return None

    def _today(self) -> str:
        """The date in the customer's zone (by the offset their profile was read with), as
        templates' `today`: YYYY-MM-DD; UTC's without a zone."""
        offset = self.customer.utc_offset_minutes if self.customer else None
        return (workflow.now() + timedelta(minutes=offset or 0)).date().isoformat()

    def _log_unevaluable(
        self, condition: str, event: CustomerEvent | None, error: Exception
    ) -> None:
        step = self.state.step if self.state else None
        key = (step, condition, event.message_id if event else None)
        if key in self.unevaluable:
            return
        self.unevaluable.add(key)
        journey = self.journey.id if self.journey else "?"
        customer = self.run_context.customer_id if self.run_context else "?"
        workflow.logger.warning(
            "journey %s, step %s, customer %s: condition %r cannot be evaluated, so it is "
            "false: %s",
            journey,
            step,
            customer,
            condition,
            _bounded(f"{type(error).__name__}: {error}", 300),
        )

    async def _sleep_unless_exit(self, duration: timedelta, kind: WaitKind) -> None:
        if duration.total_seconds() <= 0:
            return
        self._note_wait(kind, duration)
        skips = self.skips
        try:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self.exit_reason is not None or self.skips > skips, timeout=duration
                )
        finally:
            self._note_wait(None)

    def _note_wait(self, kind: WaitKind | None, duration: timedelta | None = None) -> None:
        """Remember what the run now waits for, and until when (the status query's)."""
        self.waiting = kind
        self.waiting_until = workflow.now() + duration if duration is not None else None

    async def _local_time(self, **rule: Any) -> datetime:
        journey = self.journey
        assert journey is not None
        settings = journey.settings
        customer_zone = self.customer.timezone if self.customer else None
        zone = customer_zone if settings.timezone == "customer" else settings.timezone
        return await workflow.execute_local_activity_method(
            JourneyActivityStubs.next_local_time,
            LocalTimeInput(
                now=workflow.now(),
                timezone=zone,
                fallback_timezone=settings.default_timezone,
                **rule,
            ),
            start_to_close_timeout=timedelta(seconds=10),
        )

    async def _load_customer(self) -> CustomerView:
        return await workflow.execute_activity_method(
            JourneyActivityStubs.load_customer,
            self._context.customer_id,
            start_to_close_timeout=self._timeout,
            retry_policy=ACTIVITY_RETRY,
        )

    async def _record(
        self,
        event: str,
        *,
        step_id: str | None = None,
        status: str | None = None,
        reason: str | None = None,
        variant: str | None = None,
        trigger: CustomerEvent | None = None,
        at: datetime | None = None,
    ) -> None:
        record = RunRecordInput(
            run=self._context,
            event=event,
            step_id=step_id,
            status=status,
            reason=reason,
            variant=variant,
            trigger_message_id=trigger.message_id if trigger else None,
            at=at or workflow.now(),
        )
        if workflow.patched(PATCH_LOCAL_BOOKKEEPING):
            # Idempotent store writes, so a local activity's at-least-once is enough.
            await workflow.execute_local_activity_method(
                JourneyActivityStubs.record_run,
                record,
                start_to_close_timeout=self._timeout,
                retry_policy=ACTIVITY_RETRY,
            )
        else:
            await workflow.execute_activity_method(
                JourneyActivityStubs.record_run,
                record,
                start_to_close_timeout=self._timeout,
                retry_policy=ACTIVITY_RETRY,
            )

    async def _activity(
        self,
        stub: Callable[[JourneyActivityStubs, ArgT], Awaitable[ResultT]],
        arg: ArgT,
    ) -> ResultT:
        """Run a step's activity with the step limits; a failure after retries fails the run."""
        return await workflow.execute_activity_method(
            stub,
            arg,
            start_to_close_timeout=self._timeout,
            schedule_to_close_timeout=timedelta(hours=1),
            retry_policy=ACTIVITY_RETRY,
        )

    async def _activity_or_error(
        self,
        stub: Callable[[JourneyActivityStubs, ArgT], Awaitable[ResultT]],
        arg: ArgT,
    ) -> ResultT | StepError:
        """As :meth:`_activity`, but the failure after the last retry is returned, as the
        ``error`` of the current step: the step decides what then."""
        try:
            return await self._activity(stub, arg)
        except ActivityError as error:
            cause = error.cause or error
            workflow.logger.warning("activity %s failed: %s", error.activity_type, cause)
            return step_error(self._state.step or "", error)

    def _history_is_long(self, limit: int) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() > limit

    def _continue_as_new(self, data: JourneyRunInput, step: str, entry_id: str) -> None:
        # The most recent ids, oldest first: a duplicate comes soon after its original.
        # Not behind a patch: replay matches a continue-as-new by its command type, not
        # its input, and which ids a run has seen (what decides its path) is unchanged.
        recent = list(self.seen)[-SEEN_IDS_KEPT:]
        state = self._state.model_copy(update={"step": step, "seen_message_ids": recent})
        workflow.continue_as_new(
            JourneyRunInput(
                journey=data.journey,
                customer_id=data.customer_id,
                trigger=data.trigger,
                entry_id=entry_id,
                state=state,
                activity_timeout_seconds=data.activity_timeout_seconds,
                history_limit=data.history_limit,
                dev=data.dev,
            )
        )


def step_error(step_id: str, failure: ActivityError) -> StepError:
    """The ``error`` of a step whose activity failed for good (the codes of dsl.compiled).

    The message is the activity's: connector errors are written for operators and
    carry no settings (the activities take secret values out before raising).
    """
    cause = failure.cause
    if isinstance(cause, ActivityTimeoutError):
        kind = cause.type.name.lower().replace("_", "-") if cause.type else "timeout"
        return StepError(
            step=step_id,
            code=StepErrorCode.TIMEOUT,
            message=f"{failure.activity_type} did not finish in time ({kind} timeout)",
        )
    if isinstance(cause, ApplicationError):
        message = _bounded(cause.message or cause.type or "the step failed")
        if cause.type == PERMANENT_CONNECTOR_ERROR:
            code = StepErrorCode.CONNECTOR_PERMANENT
        elif cause.type == TEMPLATE_ERROR:
            code = StepErrorCode.TEMPLATE_FAILED
        elif cause.type == RETRYABLE_CONNECTOR_ERROR:
            code = StepErrorCode.CONNECTOR_UNAVAILABLE
            message = _bounded(f"still failing when the retries ran out: {message}")
        else:
            code = StepErrorCode.OTHER
        return StepError(step=step_id, code=code, message=message)
    return StepError(
        step=step_id,
        code=StepErrorCode.OTHER,
        message=_bounded(f"{failure.activity_type} failed: {cause or failure}"),
    )


def _bounded(text: str, limit: int = MAX_ERROR_MESSAGE) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _saves_error(journey: CompiledJourney) -> bool:
    """Whether a step saves a result named ``error`` (allowed before on_error existed)."""
    return any(getattr(node, "save_as", None) == "error" for node in journey.steps.values())


def _conditions_read_error(journey: CompiledJourney) -> bool:
    """Whether a condition the workflow evaluates may read the variable ``error``."""
    conditions = [match.when for match in journey.exit_when]
    conditions.append(journey.goal.when if journey.goal else None)
    for node in journey.steps.values():
        if isinstance(node, WaitForNode):
            conditions.append(node.when)
        elif isinstance(node, BranchNode):
            conditions.extend(case.when for case in node.cases)
    for condition in conditions:
        if condition is None or "error" not in condition:
            continue
        try:
            if "error" in cel.compile(condition).variables():
                return True
        except Exception:  # a condition that does not compile reads nothing
            continue
    return False


class _RunFailedError(Exception):
    """A step failed for good (e.g. a call whose result later steps need)."""
