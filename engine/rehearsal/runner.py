"""Run test cases side by side on one time-skipping Temporal server.

Every test file gets a stage: a throwaway SQLite store, the journey (and the
segments beside it) deployed, a worker on a task queue of its own, and connector
doubles. Every case gets a customer and a start (the next ``start`` time in the
customer's zone, so quiet hours and weekdays fall the same way on every run).
The test server has one clock for all: the timelines of all cases are merged, and
the clock is moved from one thing that happens to the next (events, API starts,
segment entries, looks at where a run waits); then every run is let finish, time
skipping as it waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from connectors.registry import ConnectorRegistry
from dsl.case_loader import CaseFileResult
from dsl.case_models import (
    Case,
    ExpectedWait,
    TimelineEvent,
    TimelineSchedule,
    TimelineSegment,
    TimelineStart,
    TimelineTraits,
    offset_delta,
)
from dsl.compiled import CompiledJourney, ScheduleTriggerSpec
from dsl.models import WEEKDAYS
from dsl.segment_loader import compile_segment_file, find_segment_folder, segment_files
from engine import clock
from engine.ingest.calls import IdentifyCall, TrackCall
from engine.rehearsal.activities import RehearsalRuntime
from engine.rehearsal.doubles import rehearsal_registry
from engine.rehearsal.journal import Journal, RunJournal
from engine.runtime.devserver import find_binary
from engine.settings import Settings
from engine.store import ConversionRecord, Store
from workflows.ids import workflow_id_for
from workflows.models import RunOutcome, RunStatus

SOURCE = "cxflow-test"
# Wall-clock seconds a run may take to finish once time skips (a run stuck in a loop).
FINISH_SECONDS = 60.0


@dataclass
class CaseRun:
    """One case as it ran: its customer, start, run outcome and what the journal saw."""

    file: CaseFileResult
    case: Case
    number: int
    customer_id: str
    start: datetime
    entered: bool = False
    outcome: RunOutcome | None = None
    still_running: RunStatus | None = None
    looks: list[tuple[ExpectedWait, RunStatus | None]] = field(default_factory=list)
    conversion: ConversionRecord | None = None
    journal: RunJournal = field(default_factory=RunJournal)
    traits: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None

    @property
    def name(self) -> str:
        return self.case.name


@dataclass
class _Stage:
    """One test file's store, runtime and worker."""

    file: CaseFileResult
    journey: CompiledJourney
    runtime: RehearsalRuntime
    journal: Journal


@dataclass(order=True)
class _Happening:
    at: datetime
    order: int
    run: CaseRun = field(compare=False)
    stage: _Stage = field(compare=False)
    what: Any = field(compare=False)


_UNTIL = object()  # a happening: the end of a case with `until`
_PREPARE = object()  # a happening: the customer made as the case says, at its start


class _Clock:
    """The test server's time as the rehearsal last moved it (activities read their own)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        if activity.in_activity() and not activity.info().is_local:
            return activity.info().current_attempt_scheduled_time
        return self.at


async def rehearse(
    files: Sequence[CaseFileResult],
    installed: ConnectorRegistry,
    settings: Settings,
    *,
    align: datetime | None = None,
    dry_run: bool = False,
) -> list[CaseRun]:
    """Run every case of ``files`` (each loaded without errors); their runs, in order.

    ``align``: every case starts at the same weekday and time of day (UTC) as this
    instant, instead of its own ``start`` (a backtest of events from then). ``dry_run``:
    actions without an answer get a placeholder of their output's shape.
    """
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(find_binary("temporal-test-server")),
        data_converter=pydantic_data_converter,
        runtime=_quiet_runtime(),
    ) as env:
        began = await env.get_current_time()
        moved = _Clock(began)
        with (
            tempfile.TemporaryDirectory(prefix="cxflow-test-") as folder,
            clock.following(moved.now),
        ):
            async with contextlib.AsyncExitStack() as stack:
                stages = [
                    await stack.enter_async_context(
                        _stage(
                            env,
                            file,
                            installed,
                            settings,
                            Path(folder) / f"store-{n}.db",
                            dry_run,
                        )
                    )
                    for n, file in enumerate(files)
                ]
                runs = [run for stage in stages for run in _case_runs(stage, began, align)]
                by_file = {id(stage.file): stage for stage in stages}
                for stage in stages:
                    stage.runtime.store.deploy_journey(stage.journey, source=SOURCE)
                await _play(env, moved, [(by_file[id(r.file)], r) for r in runs])
                for run in runs:
                    await _finish(env, by_file[id(run.file)], run)
                return runs


def _quiet_runtime() -> Runtime:
    """A Temporal runtime that keeps its own warnings (about the test server) to itself."""
    quiet = TelemetryFilter(core_level="ERROR", other_level="ERROR")
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=quiet)))


@contextlib.asynccontextmanager
async def _stage(
    env: WorkflowEnvironment,
    file: CaseFileResult,
    installed: ConnectorRegistry,
    settings: Settings,
    database: Path,
    dry_run: bool = False,
) -> AsyncIterator[_Stage]:
    assert file.tests is not None and file.journey is not None
    journal = Journal()
    answers = {
        _customer_id(file, number, case): {**file.tests.answers, **case.answers}
        for number, case in enumerate(file.tests.cases)
    }
    staged = settings.model_copy(
        update={
            "database_url": f"sqlite:///{database}",
            "task_queue": f"rehearsal-{uuid.uuid4()}",
            "global_control_percent": 0.0,
            # Every event before the clock's now is history (the customer's past): it
            # counts for segments and starts nothing; the timeline's happen now.
            "trigger_max_age_seconds": 0,
        }
    )
    store = Store.open(staged.database_url)
    try:
        runtime = RehearsalRuntime(
            staged,
            store,
            env.client,
            rehearsal_registry(installed, answers, journal, placeholders=dry_run),
        )
        runtime.journal = journal
        if file.segments is not None:
            for segment in file.segments:
                store.deploy_segment(segment, source=SOURCE)
        elif (folder := find_segment_folder(Path(file.journey_file or file.file))) is not None:
            for path in segment_files([folder]):
                store.deploy_segment(compile_segment_file(path), source=SOURCE)
        async with runtime.worker():
            yield _Stage(file, file.journey, runtime, journal)
    finally:
        store.dispose()


def _customer_id(file: CaseFileResult, number: int, case: Case) -> str:
    assert file.tests is not None
    # The file's name too: two test files of one journey share the test server's ids.
    return case.customer.id or f"{Path(file.file).stem}-case-{number + 1}"


def _case_runs(stage: _Stage, began: datetime, align: datetime | None) -> list[CaseRun]:
    tests = stage.file.tests
    assert tests is not None
    runs: list[CaseRun] = []
    for number, case in enumerate(tests.cases):
        settings = stage.journey.settings
        zone = (
            case.customer.timezone or settings.default_timezone
            if settings.timezone == "customer"
            else settings.timezone
        ) or "UTC"
        runs.append(
            CaseRun(
                file=stage.file,
                case=case,
                number=number,
                customer_id=_customer_id(stage.file, number, case),
                start=(
                    next_start(began + timedelta(minutes=1), case.start, ZoneInfo(zone))
                    if align is None
                    else aligned(began + timedelta(minutes=1), align)
                ),
            )
        )
        if runs[-1].start <= began:
            runs[-1].problem = (
                f"the case starts at {case.start}, which has passed: the test server's clock "
                "only moves forward; give a later date"
            )
    return runs


def aligned(after: datetime, instant: datetime) -> datetime:
    """The first time after ``after`` that is ``instant`` plus whole weeks."""
    weeks = (after - instant) // timedelta(weeks=1) + 1
    return instant + timedelta(weeks=max(weeks, 0))


def next_start(after: datetime, start: str, zone: ZoneInfo) -> datetime:
    """The first local ``start`` ("10:00", "sat 22:30") in ``zone`` after ``after``; a
    dated one ("2030-11-29 10:00") as it is."""
    parts = start.split()
    if len(parts) == 2 and "-" in parts[0]:
        day = date.fromisoformat(parts[0])
        hour, minute = (int(x) for x in parts[1].split(":"))
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone(UTC)
    hour, minute = (int(x) for x in parts[-1].split(":"))
    weekday = WEEKDAYS.index(parts[0]) if len(parts) == 2 else None
    local = after.astimezone(zone)
    day = local.date()
    for _ in range(15):
        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        if candidate > local and (weekday is None or candidate.weekday() == weekday):
            return candidate.astimezone(UTC)
        day += timedelta(days=1)
    raise AssertionError("a start within two weeks always exists")


async def _prepare(stage: _Stage, run: CaseRun) -> None:
    """The customer as the case says, at the case's start, before its timeline."""
    customer = run.case.customer
    intake = stage.runtime.intake
    store = stage.runtime.store
    context: dict[str, Any] = {"timezone": customer.timezone} if customer.timezone else {}
    identify = {
        "type": "identify",
        "userId": run.customer_id,
        "messageId": f"{run.customer_id}-identify",
        "traits": dict(customer.traits),
        "context": context,
        "timestamp": run.start,
    }
    calls: list[Any] = [IdentifyCall.model_validate(identify)]
    for number, past in enumerate(customer.history):
        calls.append(
            TrackCall.model_validate(
                {
                    "userId": run.customer_id,
                    "messageId": f"{run.customer_id}-history-{number}",
                    "event": past.event,
                    "properties": dict(past.properties),
                    "timestamp": run.start - offset_delta(past.ago),
                }
            )
        )
    await intake.ingest(calls, SOURCE)
    for channel, subscribed in customer.consent.items():
        store.set_consent(run.customer_id, channel, subscribed, SOURCE, run.start)
    if customer.segments:
        now_in = _memberships(store, run.customer_id)
        store.set_segments(run.customer_id, now_in | set(customer.segments))
    for experiment, variant in run.case.variants.items():
        store.assign_variant(experiment, run.customer_id, variant)


def _memberships(store: Store, customer_id: str) -> set[str]:
    found = store.customer_view(customer_id)
    return set(found[0].segments) if found else set()


async def _play(
    env: WorkflowEnvironment, moved: _Clock, runs: list[tuple[_Stage, CaseRun]]
) -> None:
    """Every case's timeline and looks, in time order on the one clock."""
    happenings: list[_Happening] = []
    for stage, run in runs:
        if run.problem is not None:
            continue
        happenings.append(_Happening(run.start, -1, run, stage, _PREPARE))
        for item in run.case.timeline:
            happenings.append(_Happening(run.start + offset_delta(item.at), 1, run, stage, item))
        for look in run.case.expect.waiting:
            happenings.append(_Happening(run.start + offset_delta(look.at), 0, run, stage, look))
        if run.case.until is not None:
            last = max(offset_delta(item.at) for item in run.case.timeline)
            end = run.start + last + offset_delta(run.case.until)
            happenings.append(_Happening(end, 2, run, stage, _UNTIL))
    for happening in sorted(happenings):
        # The server's clock also runs in real time between sleeps: read it, sleep what is
        # left, and let what happens carry the server's time (a few ms past its offset),
        # so the router and the runs agree on the time (re-entry windows, timeouts).
        server = await env.get_current_time()
        if happening.at > server:
            await env.sleep(happening.at - server)
            server = await env.get_current_time()
        moved.at = max(server, moved.at)
        happening.at = moved.at
        if isinstance(happening.what, ExpectedWait):
            happening.run.looks.append((happening.what, await _status(happening)))
        elif happening.what is _UNTIL:
            await _stop_looking(happening)
        elif happening.what is _PREPARE:
            await _prepare(happening.stage, happening.run)
        else:
            await _happen(happening)


async def _status(happening: _Happening) -> RunStatus | None:
    run, stage = happening.run, happening.stage
    handle = stage.runtime.client.get_workflow_handle(
        workflow_id_for(stage.journey.id, run.customer_id)
    )
    try:
        description = await handle.describe()
        if description.status is None or description.status.name != "RUNNING":
            return None
        status: RunStatus = await handle.query("status", result_type=RunStatus)
    except RPCError:
        return None
    return status


async def _stop_looking(happening: _Happening) -> None:
    """The case's `until`: a run still going is judged as it is now, then ended."""
    status = await _status(happening)
    if status is None:
        return  # it ended by itself: _finish reads its outcome
    happening.run.still_running = status
    handle = happening.stage.runtime.client.get_workflow_handle(
        workflow_id_for(happening.stage.journey.id, happening.run.customer_id)
    )
    with contextlib.suppress(RPCError):
        await handle.terminate("the test case ended")


async def _happen(happening: _Happening) -> None:
    run, stage, item = happening.run, happening.stage, happening.what
    intake = stage.runtime.intake
    message_id = f"{run.customer_id}-{uuid.uuid4().hex[:12]}"
    if isinstance(item, TimelineEvent):
        call = TrackCall.model_validate(
            {
                "userId": run.customer_id,
                "messageId": message_id,
                "event": item.event,
                "properties": dict(item.properties),
                "timestamp": happening.at,
            }
        )
        await intake.ingest([call], SOURCE)
    elif isinstance(item, TimelineTraits):
        call_ = IdentifyCall.model_validate(
            {
                "type": "identify",
                "userId": run.customer_id,
                "messageId": message_id,
                "traits": dict(item.identify),
                "timestamp": happening.at,
            }
        )
        await intake.ingest([call_], SOURCE)
    elif isinstance(item, TimelineStart):
        await intake.start(stage.journey.id, run.customer_id, dict(item.start), message_id)
    elif isinstance(item, TimelineSchedule):
        assert isinstance(stage.journey.trigger, ScheduleTriggerSpec)
        members = stage.runtime.store.segment_members(stage.journey.trigger.segment)
        if run.customer_id in members:
            await stage.runtime.router.enter(stage.journey, run.customer_id)
    elif isinstance(item, TimelineSegment):
        store = stage.runtime.store
        entered = _memberships(store, run.customer_id) | {item.enter_segment}
        store.set_segments(run.customer_id, entered)
        await stage.runtime.router.segments_entered(run.customer_id, {item.enter_segment})


async def _finish(env: WorkflowEnvironment, stage: _Stage, run: CaseRun) -> None:
    """Let the run end (time skipping), then take what the store and journal say of it."""
    store = stage.runtime.store
    workflow_id = workflow_id_for(stage.journey.id, run.customer_id)
    handle = stage.runtime.client.get_workflow_handle(workflow_id, result_type=RunOutcome)
    try:
        await handle.describe()  # started by the router, whether or not it recorded itself yet
        run.entered = True
    except RPCError:
        run.entered = False
    if run.entered:
        try:
            if run.still_running is None:
                async with env.time_skipping_unlocked():  # type: ignore[attr-defined]
                    run.outcome = await asyncio.wait_for(handle.result(), FINISH_SECONDS)
        except WorkflowFailureError as error:
            run.problem = f"the run failed: {error.cause or error}"
        except TimeoutError:
            run.problem = (
                f"the run did not end within {FINISH_SECONDS:.0f}s (real time, its waits "
                "skipped): does it "
                "loop without a wait?"
            )
    run.journal = stage.journal.of(run.customer_id)
    conversions = [
        c for c in store.conversions(stage.journey.id) if c.customer_id == run.customer_id
    ]
    run.conversion = conversions[0] if conversions else None
    found = store.get_customer(run.customer_id)
    run.traits = dict(found.traits) if found is not None else {}
