"""What the store returns: frozen pydantic records (never ORM rows), their Literal types
and the status constants the store checks."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

RunStatus = Literal["running", "completed", "exited", "failed"]
KeyScope = Literal["write", "read"]
KEY_SCOPES: tuple[KeyScope, ...] = ("write", "read")
MessageStatus = Literal["pending", "sent", "skipped", "failed"]

FINISHED_RUN_STATUSES = ("completed", "exited", "failed")
COMPLETED_MESSAGE_STATUSES = ("sent", "skipped", "failed")

WRITE_KEY_PREFIX = "cxk_"


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CustomerRecord(Record):
    id: str
    traits: dict[str, Any]
    timezone: str | None
    segments: list[str]
    created_at: AwareDatetime
    updated_at: AwareDatetime


class EventRecord(Record):
    message_id: str
    customer_id: str
    name: str
    properties: dict[str, Any]
    timestamp: AwareDatetime
    received_at: AwareDatetime


class FailedEventRecord(Record):
    """An event whose routing failed every attempt: parked until an operator retries it."""

    message_id: str
    customer_id: str
    name: str
    received_at: AwareDatetime
    attempts: int
    error: str
    failed_at: AwareDatetime


class RouteFailure(Record):
    """What a failed routing attempt led to: another try at ``retry_at``, or parked."""

    attempts: int
    parked: bool
    retry_at: AwareDatetime | None


class RoutingCounts(Record):
    """Events not routed yet: waiting (``pending``, of which ``retrying`` after a failure)
    and parked (``failed``)."""

    pending: int
    retrying: int
    failed: int


class WriteKeyRecord(Record):
    """An API key as listed: its source, scope and first characters, never the key itself."""

    source: str
    key_prefix: str
    created_at: AwareDatetime
    scope: str


class ErasureRecord(Record):
    """What erasing a customer removed (rows per table) and the pseudonym analytics keep."""

    customer_id: str
    pseudonym: str
    deleted: dict[str, int]
    pseudonymised: dict[str, int]


class JourneyVersionRecord(Record):
    journey_id: str
    version: str
    deployed_at: AwareDatetime
    active: bool


class RunRecord(Record):
    workflow_id: str
    run_id: str
    journey_id: str
    version: str
    customer_id: str
    status: RunStatus
    current_step: str | None
    started_at: AwareDatetime
    ended_at: AwareDatetime | None
    variant: str | None
    exit_reason: str | None
    trigger_message_id: str | None


class MessageRecord(Record):
    key: str
    workflow_id: str
    step_id: str
    channel: str
    customer_id: str
    status: MessageStatus
    detail: dict[str, Any]
    created_at: AwareDatetime
    completed_at: AwareDatetime | None


class StepFunnelRecord(Record):
    """The runs that reached one step, and how they ended."""

    step_id: str
    runs: int
    customers: int
    completed: int
    exited: int
    failed: int
    running: int
    converted: int


class ConversionRecord(Record):
    workflow_id: str
    run_id: str
    journey_id: str
    customer_id: str
    goal_event: str
    message_id: str
    variant: str | None
    converted_at: AwareDatetime
