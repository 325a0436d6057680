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

from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from tests.runtime.changed_workflow import StepsNotRecorded
from tests.runtime.conftest import HISTORIES
from workflows.journey import SEEN_IDS_KEPT, JourneyWorkflow
from workflows.models import EVENT_SIGNAL, CustomerEvent, JourneyRunInput

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
