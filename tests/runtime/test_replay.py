"""Replay of recorded histories: an engine change must not change the path of a run in flight.

The histories in ``histories/`` were recorded from the runtime tests
(``CXFLOW_RECORD_HISTORIES=1 pytest tests/runtime``). When a change to
``workflows/journey.py`` makes this test fail, the change needs
``workflow.patched()`` so old runs keep their path; re-record only for changes that
cannot affect runs in flight.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from tests.runtime.changed_workflow import StepsNotRecorded
from tests.runtime.conftest import HISTORIES
from workflows.journey import JourneyWorkflow

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
