"""The activity contract (workflows/activities.py): names, implementations, permanent errors.

The workflows call the stubs; the worker runs the engine's implementations. What
ties the two together is the registered name, which is also in every recorded
history, so these tests pin the names, check that the worker registers an
implementation under each, and that a renamed activity is what replay catches.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest
from temporalio.activity import _Definition
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from connectors.errors import PermanentConnectorError
from engine.errors import TemplateError
from engine.runtime.activities import permanent
from engine.store import StoreError
from tests.runtime.conftest import HISTORIES, Engine
from tests.runtime.renamed_activity import LoadCustomerRenamed
from workflows.activities import (
    PERMANENT_CONNECTOR_ERROR,
    PERMANENT_ERROR_TYPES,
    STORE_ERROR,
    TEMPLATE_ERROR,
    JourneyActivityStubs,
    SegmentActivityStubs,
)
from workflows.journey import ACTIVITY_RETRY

ASYNC = pytest.mark.asyncio(loop_scope="session")

STUBS = (JourneyActivityStubs, SegmentActivityStubs)


def activity_name(fn: Any) -> str:
    """The name an activity function is registered under (what the SDK itself reads)."""
    name = _Definition.must_from_callable(fn).name
    assert name is not None
    return name


def contract() -> dict[str, str]:
    """Registered name -> method name, for every stub."""
    return {
        activity_name(getattr(stubs, method)): method
        for stubs in STUBS
        for method in stubs.__abstractmethods__
    }


def recorded_activity_types() -> set[str]:
    """Every activity type the recorded histories scheduled, as activities or local ones."""
    types: set[str] = set()
    for path in HISTORIES.glob("*.json"):
        for event in WorkflowHistory.from_json(path.stem, path.read_text()).events:
            if event.HasField("activity_task_scheduled_event_attributes"):
                types.add(event.activity_task_scheduled_event_attributes.activity_type.name)
            marker = event.marker_recorded_event_attributes
            if event.HasField("marker_recorded_event_attributes") and (
                marker.marker_name == "core_local_activity"
            ):
                types.add(json.loads(marker.details["data"].payloads[0].data)["activity_type"])
    return types


def test_the_contract_names_are_the_registered_names() -> None:
    assert contract() == {
        "load_customer": "load_customer",
        "next_local_time": "next_local_time",
        "assign_variant": "assign_variant",
        "deliver": "deliver",
        "call_action": "call_action",
        "update_profile": "update_profile",
        "record_run": "record_run",
        "record_conversion": "record_conversion",
        "enter_segment_members": "enter_segment_members",
        "refresh_segments": "refresh_segments",
    }


def test_every_activity_in_the_recorded_histories_is_in_the_contract() -> None:
    recorded = recorded_activity_types()
    assert {"deliver", "call_action", "record_run", "next_local_time"} <= recorded
    assert recorded <= contract().keys()


@ASYNC
async def test_the_worker_registers_an_implementation_under_each_contract_name(
    engine: Engine,
) -> None:
    registered = engine.runtime.activities()
    assert sorted(activity_name(fn) for fn in registered) == sorted(contract())
    for fn in registered:
        assert inspect.ismethod(fn), fn
        owner = type(fn.__self__)
        assert issubclass(owner, STUBS)
        stubs = next(s for s in STUBS if issubclass(owner, s))
        assert getattr(owner, fn.__name__) is not getattr(stubs, fn.__name__), fn


def test_an_implementation_missing_an_activity_cannot_be_built() -> None:
    class Incomplete(SegmentActivityStubs):
        pass

    with pytest.raises(TypeError, match="refresh_segments"):
        Incomplete()  # type: ignore[abstract]


def test_permanent_error_types_are_the_engine_exception_names() -> None:
    """An exception escaping an activity is typed with its class name: keep them equal."""
    assert PermanentConnectorError.__name__ == PERMANENT_CONNECTOR_ERROR
    assert TemplateError.__name__ == TEMPLATE_ERROR
    assert StoreError.__name__ == STORE_ERROR
    assert ACTIVITY_RETRY.non_retryable_error_types == list(PERMANENT_ERROR_TYPES)
    error = permanent("no such template")
    assert (error.type, error.non_retryable) == (PERMANENT_CONNECTOR_ERROR, True)


@ASYNC
async def test_a_renamed_activity_is_caught_by_replay() -> None:
    replayer = Replayer(workflows=[LoadCustomerRenamed], data_converter=pydantic_data_converter)
    path = HISTORIES / "reminder_path_sends_one_email_and_exits_at_done-0.json"
    history = WorkflowHistory.from_json(f"journey:{path.stem}", path.read_text())
    with pytest.raises(NondeterminismError, match="load_customer"):
        await replayer.replay_workflow(history)
