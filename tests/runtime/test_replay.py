"""Replay of recorded histories: an engine change must not change the path of a run in flight.

The histories in ``histories/`` were recorded from the runtime tests
(``CXFLOW_RECORD_HISTORIES=1 pytest tests/runtime``). When a change to
``workflows/journey.py`` makes this test fail, the change needs
``workflow.patched()`` so old runs keep their path; re-record only for changes that
cannot affect runs in flight. New recordings are added beside the old ones under a
prefix that names the change (``local_bookkeeping-``, ``activity_contract-``), never
over them: the old ones are the runs in flight.

The histories recorded before the activity contract (workflows/activities.py) called
activities by string; replaying them on the method-reference code is what shows
the registered names did not change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from dsl.compiled import StepErrorCode
from tests.runtime.changed_workflow import (
    ControlsIgnored,
    OnErrorIgnored,
    OnErrorUnpatched,
    StepsNotRecorded,
)
from tests.runtime.conftest import HISTORIES
from workflows.journey import (
    PATCH_DEV_SKIP,
    PATCH_JOURNEY_CONTROLS,
    PATCH_ON_ERROR_PATH,
    SEEN_IDS_KEPT,
    STOPPED,
    JourneyWorkflow,
)
from workflows.models import EVENT_SIGNAL, CustomerEvent, JourneyRunInput, RunOutcome

ASYNC = pytest.mark.asyncio(loop_scope="session")

RECORDED = sorted(HISTORIES.glob("*.json"))


def history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"journey:{path.stem}", path.read_text())


def test_histories_are_recorded() -> None:
    assert len(RECORDED) >= 8


@ASYNC
@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
async def test_recorded_history_replays_on_current_code(path: Path) -> None:
    replayer = Replayer(workflows=[JourneyWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


@ASYNC
async def test_an_unpatched_change_is_caught_by_replay() -> None:
    replayer = Replayer(workflows=[StepsNotRecorded], data_converter=pydantic_data_converter)
    path = HISTORIES / "reminder_path_sends_one_email_and_exits_at_done-0.json"
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(history(path))


def decoded(event: HistoryEvent, kind: type[Any]) -> Any:
    """The one payload of a started, signalled or continued-as-new event."""
    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
        payloads = event.workflow_execution_signaled_event_attributes.input.payloads
    elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        payloads = event.workflow_execution_started_event_attributes.input.payloads
    else:
        payloads = event.workflow_execution_continued_as_new_event_attributes.input.payloads
    [value] = pydantic_data_converter.payload_converter.from_payloads(list(payloads), [kind])
    return value


def seen_ids(path: Path) -> tuple[list[str], list[str]]:
    """Message ids a run had seen, in arrival order, and those its continue-as-new carried."""
    events = history(path).events
    started: JourneyRunInput = decoded(events[0], JourneyRunInput)
    arrived = [started.trigger.message_id] if started.trigger else []
    arrived += started.state.seen_message_ids if started.state else []
    for event in events:
        if event.workflow_execution_signaled_event_attributes.signal_name == EVENT_SIGNAL:
            arrived.append(decoded(event, CustomerEvent).message_id)
    assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    carried: JourneyRunInput = decoded(events[-1], JourneyRunInput)
    assert carried.state is not None
    return list(dict.fromkeys(arrived)), carried.state.seen_message_ids


def test_continue_as_new_carries_the_most_recent_message_ids() -> None:
    arrived, carried = seen_ids(
        HISTORIES / "continue_as_new_keeps_the_most_recent_message_ids-0.json"
    )
    assert len(arrived) > SEEN_IDS_KEPT
    assert carried == arrived[-SEEN_IDS_KEPT:]
    assert carried != sorted(arrived)[-SEEN_IDS_KEPT:]  # what the ids kept used to be


@ASYNC
async def test_the_ids_continue_as_new_carries_are_not_compared_on_replay() -> None:
    """Why keeping the most recent ids needed no patch: only the command's type is replayed.

    This run carried its ids sorted; the current code carries them in arrival order,
    a different input to the same command, and the history still replays.
    """
    path = HISTORIES / "continue_as_new_keeps_the_run_going-0.json"
    arrived, carried = seen_ids(path)
    assert carried == sorted(arrived) != arrived
    replayer = Replayer(workflows=[JourneyWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


# -- on_error (patch on-error-path) ------------------------------------------------------

ON_ERROR = sorted(HISTORIES.glob("on_error-*.json"))
BEFORE_ON_ERROR = sorted(HISTORIES.glob("before_on_error-*.json"))


def patches(path: Path) -> list[str]:
    """The ids of the patch markers in a history, in order."""
    found = []
    for event in history(path).events:
        marker = event.marker_recorded_event_attributes
        if event.HasField("marker_recorded_event_attributes") and marker.marker_name == (
            "core_patch"
        ):
            found.append(json.loads(marker.details["patch-data"].payloads[0].data)["id"])
    return found


def outcome(path: Path) -> RunOutcome:
    events = history(path).events
    last = events[-1]
    assert last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    payloads = last.workflow_execution_completed_event_attributes.result.payloads
    [value] = pydantic_data_converter.payload_converter.from_payloads(list(payloads), [RunOutcome])
    assert isinstance(value, RunOutcome)
    return value


def test_the_on_error_histories_are_recorded() -> None:
    assert len(ON_ERROR) >= 6 and len(BEFORE_ON_ERROR) >= 5


# The first run of each chain that failed a step with on_error (the others are its
# continue-as-new runs, and a run whose call worked).
TOOK_ON_ERROR = [p for p in ON_ERROR if p.stem.endswith("-0") and "call_that_works" not in p.stem]


@ASYNC
@pytest.mark.parametrize("path", TOOK_ON_ERROR, ids=lambda p: p.stem)
async def test_a_run_that_took_an_on_error_path_needs_the_patch(path: Path) -> None:
    """Each took the new path behind its marker; code that ignores on_error cannot replay it."""
    assert PATCH_ON_ERROR_PATH in patches(path)
    replayer = Replayer(workflows=[OnErrorIgnored], data_converter=pydantic_data_converter)
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(history(path))


def test_continue_as_new_carries_error() -> None:
    chain = sorted(HISTORIES.glob("on_error-error_is_carried_across_continue_as_new-*.json"))
    assert len(chain) >= 2
    for path in chain[1:]:
        started: JourneyRunInput = decoded(history(path).events[0], JourneyRunInput)
        assert started.state is not None and started.state.error is not None
        assert (started.state.error.step, started.state.error.code) == (
            "open",
            StepErrorCode.CONNECTOR_PERMANENT,
        )


def test_a_journey_whose_conditions_read_error_asks_the_patch_at_the_start() -> None:
    """`error == null` is true where a missing `error` made the condition false: such
    runs have the variable only from the patch on (runs started before keep theirs)."""
    path = HISTORIES / "on_error-a_call_that_works_leaves_error_null-0.json"
    assert patches(path)[0] == PATCH_ON_ERROR_PATH
    assert outcome(path).status == "completed"


@ASYNC
@pytest.mark.parametrize("path", BEFORE_ON_ERROR, ids=lambda p: p.stem)
async def test_a_run_that_failed_a_step_with_on_error_before_keeps_its_path(path: Path) -> None:
    """Recorded on the code before on_error ran: the journey has on_error, the step failed,
    and the run took the default path (a failed run, or a send that went on). The current
    code replays it; code that takes on_error without the patch cannot."""
    started: JourneyRunInput = decoded(history(path).events[0], JourneyRunInput)
    assert any(getattr(node, "on_error", None) for node in started.journey.steps.values())
    assert PATCH_ON_ERROR_PATH not in patches(path)
    events = history(path).events
    if events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        done = outcome(path)
        assert done.status == "failed" or done.last_step is None, done
    current = Replayer(workflows=[JourneyWorkflow], data_converter=pydantic_data_converter)
    result = await current.replay_workflow(history(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
    unpatched = Replayer(workflows=[OnErrorUnpatched], data_converter=pydantic_data_converter)
    with pytest.raises(NondeterminismError):
        await unpatched.replay_workflow(history(path))


# -- journey controls (patch journey-controls) ---------------------------------------------

CONTROLS = sorted(HISTORIES.glob("controls-*.json"))


def test_the_controls_histories_are_recorded() -> None:
    assert len(CONTROLS) >= 3


@ASYNC
@pytest.mark.parametrize("path", CONTROLS, ids=lambda p: p.stem)
async def test_a_run_that_held_or_stopped_needs_the_patch(path: Path) -> None:
    """Each held a send or was stopped behind the marker, and ended as the control said;
    code that ignores controls cannot replay it (the current code can: see above)."""
    assert PATCH_JOURNEY_CONTROLS in patches(path)
    done = outcome(path)
    expected = ("completed", None) if "holds_the_send" in path.stem else ("exited", STOPPED)
    assert (done.status, done.reason) == expected
    replayer = Replayer(workflows=[ControlsIgnored], data_converter=pydantic_data_converter)
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(history(path))


def test_runs_that_never_held_nor_were_signalled_have_no_controls_marker() -> None:
    """The patch is asked only at a control signal or a held send: every other history,
    recorded before controls or since, is unchanged, marker and all."""
    others = [p for p in RECORDED if p not in CONTROLS]
    assert others and not [p for p in others if PATCH_JOURNEY_CONTROLS in patches(p)]


# -- cxflow runs skip (patch dev-skip) --------------------------------------------------------

DEV_SKIPS = sorted(HISTORIES.glob("dev_skip-*.json"))


def test_a_skipped_dev_run_has_the_marker_and_no_other_run_does() -> None:
    """Recorded from test_dev_skip (a run of cxflow dev whose timer was skipped); the patch
    is asked only at a skip signal, so no other history has its marker."""
    assert DEV_SKIPS and all(PATCH_DEV_SKIP in patches(p) for p in DEV_SKIPS)
    assert outcome(DEV_SKIPS[0]).status == "completed"
    others = [p for p in RECORDED if p not in DEV_SKIPS]
    assert not [p for p in others if PATCH_DEV_SKIP in patches(p)]
