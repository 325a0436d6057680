"""The activity contract: what the workflows may call, by name and type, with no engine in sight.

Workflows run in Temporal's sandbox and import nothing from ``engine/``, yet they
should call activities by reference, not by a string that a typo or a rename
breaks at run time. So the contract lives here: one class per group of
activities, each method an activity's signature under its registered name, with
no body. Workflows pass these stubs to ``workflow.execute_activity_method``,
which reads only the name and the return type from them.

The engine implements a group by subclassing it (``engine.runtime.activities``,
``engine.segments.refresh``). The stubs are abstract, so an implementation that
misses one cannot be constructed, and mypy checks each override's signature
against the stub. An override is a new function, so it carries its own
``@activity.defn``, with the same name: the names below are in every recorded
history, and renaming one strands the runs in flight (tests/runtime/test_replay.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any, Final

from temporalio import activity

from workflows.models import (
    AssignInput,
    CallInput,
    ConversionInput,
    CustomerView,
    LocalTimeInput,
    ProfileUpdateInput,
    RunRecordInput,
    ScheduledEntryInput,
    SegmentRefreshInput,
    SegmentRefreshResult,
    SendInput,
    SendOutcome,
)

# The `type` of the ApplicationError an activity fails with when retrying cannot fix
# the error: the input or the configuration is wrong until someone changes it.
# Each is also the class name of the engine exception it stands for, because an
# exception that escapes an activity unconverted reaches the workflow typed with its
# class name (tests/runtime/test_activity_contract.py keeps them equal).
PERMANENT_CONNECTOR_ERROR: Final = "PermanentConnectorError"
"""A connector refused the request or is misconfigured (connectors.errors)."""
TEMPLATE_ERROR: Final = "TemplateError"
"""A template did not render for this customer (engine.errors)."""
STORE_ERROR: Final = "StoreError"
"""The store was used wrongly, e.g. a message completed before it was claimed."""
PERMANENT_ERROR_TYPES: Final = (PERMANENT_CONNECTOR_ERROR, TEMPLATE_ERROR, STORE_ERROR)
"""What a retry policy lists as ``non_retryable_error_types``."""
RETRYABLE_CONNECTOR_ERROR: Final = "RetryableConnectorError"
"""A connector failed in a way a retry may fix (down, rate limited, slow): retried; when the
retries run out, the step's ``error.code`` is ``connector_unavailable``."""

REFRESH_ACTIVITY: Final = "refresh_segments"


class JourneyActivityStubs(ABC):
    """Every read and write of a journey run, and the scheduled entry of a segment."""

    @abstractmethod
    @activity.defn(name="load_customer")
    async def load_customer(self, customer_id: str) -> CustomerView:
        """The profile as conditions see it; an unknown customer is an empty one."""
        raise NotImplementedError

    @abstractmethod
    @activity.defn(name="next_local_time")
    async def next_local_time(self, data: LocalTimeInput) -> datetime:
        """When a local-time wait or quiet hours end (a local activity: pure, quick)."""
        raise NotImplementedError

    @abstractmethod
    @activity.defn(name="assign_variant")
    async def assign_variant(self, data: AssignInput) -> str:
        """The customer's variant of an experiment, the same one every time."""
        raise NotImplementedError

    @abstractmethod
    @activity.defn(name="deliver")
    async def deliver(self, data: SendInput) -> SendOutcome:
        """Send one message at most once per idempotency key."""
        raise NotImplementedError

    @abstractmethod
    @activity.defn(name="call_action")
    async def call_action(self, data: CallInput) -> dict[str, Any]:
        """Call a connector action at most once per idempotency key; its output."""
        raise NotImplementedError

    @abstractmethod
    @activity.defn(name="update_profile")
    async def update_profile(self, data: ProfileUpdateInput) -> None:
        """Change traits (and the segments that follow from them)."""
        raise NotImplementedError

    @abstractmethod
    @activity.defn(name="record_run")
    async def record_run(self, data: RunRecordInput) -> None:
        """Run bookkeeping in the store; idempotent, so it may run as a local activity."""
        raise NotImplementedError

    @abstractmethod
    @activity.defn(name="record_conversion")
    async def record_conversion(self, data: ConversionInput) -> None:
        """A goal reached, once per run."""
        raise NotImplementedError

    @abstractmethod
    @activity.defn(name="enter_segment_members")
    async def enter_segment_members(self, data: ScheduledEntryInput) -> int:
        """Start a scheduled journey for its segment's members; how many started."""
        raise NotImplementedError


class SegmentActivityStubs(ABC):
    """The scheduled refresh of time-dependent segments."""

    @abstractmethod
    @activity.defn(name=REFRESH_ACTIVITY)
    async def refresh_segments(self, data: SegmentRefreshInput) -> SegmentRefreshResult:
        """Recompute every customer's time-dependent segments, resumably."""
        raise NotImplementedError
