"""What travels in and out of a journey workflow: inputs, signals, state and outcome.

These models are the workflow's payloads (through Temporal's pydantic data
converter), so a field added later needs a default or old histories stop
decoding.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from dsl.compiled import CompiledJourney, StepError, StepErrorCode, TrackingSpec

WORKFLOW_NAME = "JourneyWorkflow"
EVENT_SIGNAL = "customer_event"
CONTROL_SIGNAL = "journey_control"
# `cxflow runs skip`: end the current wait of a run of cxflow dev (ignored by all others).
SKIP_SIGNAL = "skip_wait"


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CustomerEvent(Payload):
    """A track() call as the runtime sees it: deduplicated on message_id."""

    message_id: str
    customer_id: str
    name: str
    properties: dict[str, JsonValue] = Field(default_factory=dict)
    timestamp: datetime

    def as_variable(self) -> dict[str, Any]:
        """The `event` variable of conditions and templates."""
        return {
            "name": self.name,
            "message_id": self.message_id,
            "properties": dict(self.properties),
            "timestamp": self.timestamp.isoformat(),
        }


class JourneyControl(Payload):
    """The control signal an operator's resume or stop sends to a journey's runs in flight
    (engine.runtime.controls); a pause needs none: the send itself finds it in the store."""

    action: Literal["resume", "stop"]


class GroupView(Payload):
    """A group (account) the customer belongs to: ``customer.groups[0].traits.plan``."""

    id: str
    traits: dict[str, JsonValue] = Field(default_factory=dict)


class ValueView(Payload):
    """The customer's lifetime order figures: ``customer.value.orders`` (definitions in
    engine.store.customer_value); zero or null for a customer who never ordered."""

    orders: int = 0
    revenue: float = 0.0
    currency: str | None = None
    aov: float | None = None
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    days_between_orders: float | None = None
    repeat: bool = False

    def as_variable(self) -> dict[str, Any]:
        """Times as ISO 8601 text, like ``event.timestamp``."""
        view = self.model_dump()
        for name in ("first_order_at", "last_order_at"):
            moment = getattr(self, name)
            view[name] = moment.isoformat() if moment is not None else None
        return view


class CustomerView(Payload):
    """A customer profile as conditions and templates see it."""

    id: str
    traits: dict[str, JsonValue] = Field(default_factory=dict)
    timezone: str | None = None
    segments: list[str] = Field(default_factory=list)
    groups: list[GroupView] = Field(default_factory=list)
    value: ValueView | None = Field(
        default=None,
        description="Lifetime order figures; None only in profiles read before they were "
        "kept, whose `customer.value` stays what it was (a trait of that name, or nothing).",
    )
    utc_offset_minutes: int | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="The customer's zone's offset from UTC when the profile was read (the "
        "activity works it out, so the workflow's `today` needs no time-zone database); "
        "None: no zone, or a profile read before it was kept.",
    )

    def as_variable(self) -> dict[str, Any]:
        """Traits at the top level (customer.first_name) and under customer.traits; the
        lifetime figures under customer.value (a trait named `value`: customer.traits.value)."""
        view: dict[str, Any] = dict(self.traits)
        view.update(
            id=self.id,
            traits=dict(self.traits),
            timezone=self.timezone,
            segments=list(self.segments),
            groups=[group.model_dump() for group in self.groups],
        )
        if self.value is not None:
            view["value"] = self.value.as_variable()
        return view


class RunState(Payload):
    """Where a run is: carried across continue-as-new."""

    step: str | None
    saved: dict[str, JsonValue] = Field(default_factory=dict)
    visits: dict[str, int] = Field(default_factory=dict)
    entered_at: datetime
    seen_message_ids: list[str] = Field(
        default_factory=list,
        description="Ids of the events already handled, oldest first: the most recent are kept.",
    )
    converted: bool = False
    variants: dict[str, str] = Field(default_factory=dict)
    steps_taken: int = 0
    error: StepError | None = Field(
        default=None,
        description="The `error` variable: the last failure an on_error path was taken for.",
    )


class JourneyRunInput(Payload):
    """Everything a run needs; the journey definition travels with it (versioning)."""

    journey: CompiledJourney
    customer_id: str
    trigger: CustomerEvent | None = None
    entry_id: str | None = None
    state: RunState | None = None
    activity_timeout_seconds: int | None = Field(
        default=None, description="Start-to-close timeout of activities; 60 s when unset."
    )
    history_limit: int | None = Field(
        default=None, description="Continue as new past this many history events; 5,000 when unset."
    )
    dev: bool = Field(
        default=False,
        description="Started by cxflow dev: `cxflow runs skip` may end its waits at once.",
    )


class RunOutcome(Payload):
    status: Literal["completed", "exited", "failed"]
    reason: str | None = None
    last_step: str | None = None
    steps_taken: int = 0
    converted: bool = False


WaitKind = Literal["timer", "quiet_hours", "event", "resume"]


class RunStatus(Payload):
    """Answer of the `status` query: what the run is doing now."""

    journey_id: str
    version: str
    customer_id: str
    step: str | None
    waiting_for: str | None
    saved: dict[str, JsonValue]
    variants: dict[str, str]
    converted: bool
    exit_reason: str | None
    error: StepError | None = None
    waiting: WaitKind | None = Field(
        default=None,
        description="What the run waits for now: a timer (wait), quiet_hours (a send), an "
        "event (wait_for, with a timeout) or resume (a paused journey's send).",
    )
    waiting_until: datetime | None = Field(
        default=None, description="When that wait ends at the latest."
    )
    dev: bool = Field(default=False, description="A run of cxflow dev, whose waits may be skipped.")


# --- activity inputs --------------------------------------------------------------------


class RunContext(Payload):
    """Identity of a run, passed to every activity that writes about it."""

    workflow_id: str
    run_id: str
    entry_id: str
    journey_id: str
    version: str
    customer_id: str


class SendInput(Payload):
    run: RunContext
    step_id: str
    idempotency_key: str
    channel: str
    fallback: list[str] | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="Channels to try after `channel` (the step's list); left out when None.",
    )
    template: str | None
    subject: str | None
    body: str | None
    html: str | None
    params: dict[str, JsonValue]
    variables: dict[str, JsonValue]
    frequency_cap: tuple[int, int, list[str] | None] | None = None  # max, per seconds, channels
    tracking: TrackingSpec | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="The step's click and open tracking; None: the workspace's defaults. "
        "Left out of the payload when None, so sends scheduled before it existed are alike.",
    )


class SendOutcome(Payload):
    status: Literal["sent", "skipped", "failed", "held"] = Field(
        description="``held``: nothing was sent, nothing logged, because the journey is "
        "paused or stopped (``detail['journey']`` says which): the run holds, then sends again."
    )
    detail: dict[str, JsonValue] = Field(default_factory=dict)
    error: StepErrorCode | None = Field(
        default=None,
        description="Why a failed send failed (detail['error'] says it for people); None "
        "otherwise, and in the results recorded before sends reported it.",
    )


class CallInput(Payload):
    run: RunContext
    step_id: str
    idempotency_key: str
    connector: str
    action: str
    inputs: dict[str, JsonValue]
    variables: dict[str, JsonValue]


class LocalTimeInput(Payload):
    now: datetime
    timezone: str | None
    fallback_timezone: str
    minute_of_day: int | None = None
    weekdays: list[int] | None = None
    quiet_start_minute: int | None = None
    quiet_end_minute: int | None = None
    # A wait on a date from data (set together; left out of other payloads).
    data_value: str | None = Field(default=None, exclude_if=lambda value: value is None)
    offset_seconds: int | None = Field(default=None, exclude_if=lambda value: value is None)
    every_year: bool | None = Field(default=None, exclude_if=lambda value: value is None)


class AssignInput(Payload):
    experiment: str
    customer_id: str
    variants: list[tuple[str, float]]


class ProfileUpdateInput(Payload):
    run: RunContext
    set: dict[str, JsonValue]
    unset: list[str]
    variables: dict[str, JsonValue]


class RunRecordInput(Payload):
    run: RunContext
    event: Literal["started", "step", "finished"]
    step_id: str | None = None
    status: str | None = None
    reason: str | None = None
    variant: str | None = None
    trigger_message_id: str | None = None
    at: datetime


class ConversionInput(Payload):
    run: RunContext
    goal_event: str
    message_id: str
    variant: str | None
    at: datetime


class ScheduledEntryInput(Payload):
    """One tick of a scheduled journey: who to enter is read when the tick runs."""

    journey_id: str


class SegmentRefreshInput(Payload):
    """One refresh of time-dependent segments; ``page`` customers are read at a time."""

    page: int = 200


class SegmentRefreshResult(Payload):
    """What one refresh did."""

    customers: int
    entered: int
    left: int
    started: list[str]
    failed: int = Field(
        default=0, description="Customers skipped because their data could not be evaluated."
    )
