"""The compiled journey: the contract between the DSL and the Temporal runtime.

A compiled journey is explicit where the YAML is convenient: every transition
is spelled out (no "following step"), durations are seconds, times are minutes
after midnight, templates are copied in, and the ``version`` is a hash of all
of it. It travels in the workflow input, so a run keeps the version it
started with while a newer one is deployed.
"""

from __future__ import annotations

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


class NodeBase(CompiledModel):
    id: str
    name: str | None = None


class MessageContent(CompiledModel):
    """The Liquid text of a message: template parts overridden by the step's own."""

    subject: str | None = None
    body: str | None = None
    html: str | None = None


class SendNode(NodeBase):
    kind: Literal["send"] = "send"
    channel: str
    template: str | None = None
    content: MessageContent
    params: dict[str, JsonValue] = Field(default_factory=dict)
    next: str | None


class CallNode(NodeBase):
    kind: Literal["call"] = "call"
    connector: str
    action: str
    inputs: dict[str, JsonValue] = Field(default_factory=dict)
    save_as: str | None = None
    next: str | None


class LocalTime(CompiledModel):
    minute_of_day: int
    weekdays: list[int] | None = None  # 0 = Monday, as datetime.weekday()


class WaitNode(NodeBase):
    kind: Literal["wait"] = "wait"
    seconds: int | None = None
    until: LocalTime | None = None
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
