"""The compiled journey: the contract between the DSL and the Temporal runtime.

A compiled journey is explicit where the YAML is convenient: every transition
is spelled out (no "following step"), durations are seconds, times are minutes
after midnight, templates are copied in, and the ``version`` is a hash of all
of it. It travels in the workflow input, so a run keeps the version it
started with while a newer one is deployed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

SCHEMA_VERSION = 1


class CompiledModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- trigger, entry, exit, goal, settings --------------------------------------------------


class EventTriggerSpec(CompiledModel):
    kind: Literal["event"] = "event"
    event: str
    when: str | None = None


class SegmentTriggerSpec(CompiledModel):
    kind: Literal["segment"] = "segment"
    segment: str


class ScheduleTriggerSpec(CompiledModel):
    kind: Literal["schedule"] = "schedule"
    cron: str
    segment: str
    timezone: str


class ApiTriggerSpec(CompiledModel):
    kind: Literal["api"] = "api"


TriggerSpec = Annotated[
    EventTriggerSpec | SegmentTriggerSpec | ScheduleTriggerSpec | ApiTriggerSpec,
    Field(discriminator="kind"),
]


class EntrySpec(CompiledModel):
    segment: str | None = None
    reentry: Literal["once", "always", "after"] = "once"
    reentry_after_seconds: int | None = None


class EventMatch(CompiledModel):
    event: str
    when: str | None = None


class GoalSpec(CompiledModel):
    event: str
    when: str | None = None
    within_seconds: int
    value: str | None = None  # a CEL expression over the goal event: the conversion's worth
    currency: str | None = None


class QuietHoursSpec(CompiledModel):
    start_minute: int
    end_minute: int


class FrequencyCapSpec(CompiledModel):
    max: int
    per_seconds: int
    channels: list[str] | None = None


class SettingsSpec(CompiledModel):
    timezone: str = "customer"
    default_timezone: str = "UTC"
    quiet_hours: QuietHoursSpec | None = None
    frequency_cap: FrequencyCapSpec | None = None


# --- steps ----------------------------------------------------------------------------------


def _is_none(value: object) -> bool:
    return value is None


# ``on_error`` of send and call nodes is left out of the dump when it is not set. Journeys
# compiled before on_error existed have no such key, and the version is a hash of the
# dump: leaving an unset on_error out keeps their versions, and the stored and in-flight
# compiled journeys, exactly as they were.
ON_ERROR_DESCRIPTION = (
    "Where the run goes when the step fails for good; None: the step's default (a send "
    "goes on to next, a call fails the run)."
)


class StepErrorCode(StrEnum):
    """What kind of failure the ``error`` variable of an on_error path reports."""

    CONNECTOR_PERMANENT = "connector_permanent"
    """The connector refused the request or is not configured; retrying cannot help."""
    CONNECTOR_UNAVAILABLE = "connector_unavailable"
    """The connector kept failing with temporary errors until the retries ran out."""
    TIMEOUT = "timeout"
    """The step ran out of time before it succeeded."""
    TEMPLATE_FAILED = "template_failed"
    """A Liquid text (message, ``params``, ``with``) did not render for this customer."""
    OTHER = "other"
    """Any other failure."""


class StepError(CompiledModel):
    """The value of ``error`` on the path an ``on_error`` leads to: what failed, and why.

    ``error`` is a variable of every run: null until a send or call step with
    ``on_error`` fails for good, then this, for the rest of the run (like a saved result)
    or until another on_error path replaces it. ``message`` is for people: it never holds
    secrets (settings, tokens, full responses).
    """

    step: str = Field(description="Id of the step that failed.")
    code: StepErrorCode = Field(description="The kind of failure; stable.")
    message: str = Field(description="What went wrong, for people; no secrets.")


class NodeBase(CompiledModel):
    id: str
    name: str | None = None


class MessageContent(CompiledModel):
    """The Liquid text of a message: template parts overridden by the step's own."""

    subject: str | None = None
    body: str | None = None
    html: str | None = None


# ``tracking`` of a send node, and each of its keys, is left out of the dump when unset,
# for the same reason as ``on_error``: journeys that do not write ``tracking`` keep their
# compiled form and version. Unset keys take the workspace's default at send time.
TRACKING_DESCRIPTION = (
    "Click and open tracking of the message's HTML, the step's keys over the journey's; "
    "None (or a key left out): the workspace's default (CXFLOW_TRACK_CLICKS, "
    "CXFLOW_TRACK_OPENS)."
)


class TrackingSpec(CompiledModel):
    """What cxflow tracks in a message's HTML, as written; None: the workspace's default."""

    clicks: bool | None = Field(default=None, exclude_if=_is_none)
    opens: bool | None = Field(default=None, exclude_if=_is_none)


class SendNode(NodeBase):
    kind: Literal["send"] = "send"
    channel: str
    fallback: list[str] | None = Field(
        default=None,
        exclude_if=_is_none,
        description="Channels to try after `channel`, in order, when the customer cannot "
        "receive on it (no address, no consent, suppressed); left out when there are none, "
        "so journeys without a list keep their versions.",
    )
    template: str | None = None
    content: MessageContent
    params: dict[str, JsonValue] = Field(default_factory=dict)
    next: str | None
    on_error: str | None = Field(
        default=None, exclude_if=_is_none, description=ON_ERROR_DESCRIPTION
    )
    tracking: TrackingSpec | None = Field(
        default=None, exclude_if=_is_none, description=TRACKING_DESCRIPTION
    )


class CallNode(NodeBase):
    kind: Literal["call"] = "call"
    connector: str
    action: str
    inputs: dict[str, JsonValue] = Field(default_factory=dict)
    save_as: str | None = None
    next: str | None
    on_error: str | None = Field(
        default=None, exclude_if=_is_none, description=ON_ERROR_DESCRIPTION
    )


class LocalTime(CompiledModel):
    minute_of_day: int
    weekdays: list[int] | None = None  # 0 = Monday, as datetime.weekday()


class DataTime(CompiledModel):
    """A wait until a date in the customer's data (a CEL expression), moved by an offset."""

    expression: str
    offset_seconds: int = 0
    every_year: bool = False
    minute_of_day: int = 9 * 60


class DataDuration(CompiledModel):
    """A wait as long as an expression says (a number of ``unit_seconds``, or a duration),
    kept within bounds."""

    expression: str
    unit_seconds: int
    min_seconds: int = 0
    max_seconds: int


class WaitNode(NodeBase):
    kind: Literal["wait"] = "wait"
    seconds: int | None = None
    until: LocalTime | None = None
    until_data: DataTime | None = Field(default=None, exclude_if=_is_none)
    for_data: DataDuration | None = Field(default=None, exclude_if=_is_none)
    next: str | None


class WaitForNode(NodeBase):
    kind: Literal["wait_for"] = "wait_for"
    event: str
    when: str | None = None
    timeout_seconds: int
    save_as: str | None = None
    next: str | None
    on_timeout: str | None


class BranchCaseSpec(CompiledModel):
    when: str
    next: str


class BranchNode(NodeBase):
    kind: Literal["branch"] = "branch"
    cases: list[BranchCaseSpec]
    otherwise: str


class VariantSpec(CompiledModel):
    name: str
    weight: float
    holdout: bool
    next: str | None


class SplitNode(NodeBase):
    kind: Literal["split"] = "split"
    experiment: str
    variants: list[VariantSpec]


class UpdateProfileNode(NodeBase):
    kind: Literal["update_profile"] = "update_profile"
    set: dict[str, JsonValue] = Field(default_factory=dict)
    unset: list[str] = Field(default_factory=list)
    next: str | None


class ExitNode(NodeBase):
    kind: Literal["exit"] = "exit"
    reason: str | None = None


AnyNode = (
    SendNode
    | CallNode
    | WaitNode
    | WaitForNode
    | BranchNode
    | SplitNode
    | UpdateProfileNode
    | ExitNode
)
Node = Annotated[AnyNode, Field(discriminator="kind")]


class CompiledJourney(CompiledModel):
    """What the runtime runs. ``next: null`` means the run ends there."""

    schema_version: int = SCHEMA_VERSION
    id: str
    name: str
    description: str = ""
    version: str
    trigger: TriggerSpec
    entry: EntrySpec
    exit_when: list[EventMatch] = Field(default_factory=list)
    goal: GoalSpec | None = None
    settings: SettingsSpec
    start: str
    steps: dict[str, Node]
    listens_to: list[str] = Field(
        default_factory=list, description="Events a run reacts to: exits, goal, wait_for."
    )

    def step(self, step_id: str) -> AnyNode:
        return self.steps[step_id]
