"""The journey file as its author writes it: pydantic models of the YAML.

These models only check the shape of each key. Checks that need the whole
journey (step ids, reachability, loops, expressions, templates) live in
:mod:`dsl.checks`; the form the runtime runs lives in :mod:`dsl.compiled`.
Every field has a description: they become the JSON Schema that editors use
for autocompletion and the DSL reference.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    WithJsonSchema,
    field_validator,
)

from dsl.codes import CodedValueError, DiagnosticCode
from dsl.durations import TIME_OF_DAY_PATTERN
from dsl.types import (
    ActionRef,
    CelExpression,
    ChannelName,
    CronExpression,
    Currency,
    CustomerOrTimeZone,
    Duration,
    EventName,
    ExperimentKey,
    JourneyId,
    LiquidText,
    SegmentName,
    SignedDuration,
    StepId,
    TemplateName,
    TimeOfDay,
    TimeZoneName,
    VariableName,
)

STEP_KINDS = ("send", "call", "wait", "wait_for", "branch", "split", "update_profile", "exit")
TRIGGER_KINDS = ("event", "segment", "schedule", "api")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class DslModel(BaseModel):
    """Unknown keys are errors: a misspelt key must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- trigger -----------------------------------------------------------------------------


class EventTrigger(DslModel):
    """Start a run when the customer sends this event."""

    event: EventName = Field(description="The event that starts a run, e.g. cart.updated.")
    when: CelExpression | None = Field(
        default=None, description="Only start when this CEL condition over event is true."
    )


class SegmentTrigger(DslModel):
    """Start a run when the customer enters the segment."""

    segment: SegmentName = Field(description="Start when a customer enters this segment.")


class ScheduleTrigger(DslModel):
    """Start a run for every member of a segment on a cron schedule."""

    schedule: CronExpression = Field(description="When to run, as a five-field cron schedule.")
    segment: SegmentName = Field(description="Who enters at each tick: the segment's members.")
    timezone: TimeZoneName = Field(default="UTC", description="Time zone of the cron schedule.")


class ApiOptions(DslModel):
    """Options of an API trigger (none yet; written as ``api: {}``)."""


class ApiTrigger(DslModel):
    """Start a run when a system calls the journey's trigger endpoint."""

    api: ApiOptions = Field(description="Start runs through the HTTP API: write api: {}.")


def _trigger_kind(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    kinds = {kind for kind in TRIGGER_KINDS if kind in value}
    if kinds == {"schedule", "segment"}:
        return "schedule"  # a schedule runs over a segment
    return kinds.pop() if len(kinds) == 1 else None


Trigger = Annotated[
    Annotated[EventTrigger, Tag("event")]
    | Annotated[SegmentTrigger, Tag("segment")]
    | Annotated[ScheduleTrigger, Tag("schedule")]
    | Annotated[ApiTrigger, Tag("api")],
    Discriminator(
        _trigger_kind,
        custom_error_type="trigger_kind",
        custom_error_message="trigger needs one of: event, segment, schedule, api",
    ),
]


# --- entry, exit, goal, settings ---------------------------------------------------------


class ReentryAfter(DslModel):
    """Allow a customer back in once this long has passed since their last entry."""

    after: Duration = Field(description="Minimum time between two entries of one customer.")


def _reentry_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "mode"
    if isinstance(value, dict):
        return "after"
    return None


Reentry = Annotated[
    Annotated[Literal["once", "always"], Tag("mode")] | Annotated[ReentryAfter, Tag("after")],
    Discriminator(
        _reentry_kind,
        custom_error_type="reentry_kind",
        custom_error_message="reentry is once, always or {after: 7d}",
    ),
]


class EntryRules(DslModel):
    """Who may enter and how often. A customer never has two active runs of one journey."""

    segment: SegmentName | None = Field(
        default=None, description="Only customers in this segment may enter."
    )
    reentry: Reentry = Field(
        default="once",
        description="once: a customer enters at most once; always: again after each run "
        "ends; {after: 7d}: again once 7 days have passed since the last entry.",
    )


class ExitCriterion(DslModel):
    """An event that ends the run early, at whatever step it is."""

    event: EventName = Field(description="The event that ends the run.")
    when: CelExpression | None = Field(
        default=None, description="Only exit when this CEL condition over event is true."
    )


class Goal(DslModel):
    """The conversion this journey is for, counted when it happens within the window."""

    event: EventName = Field(description="The conversion event.")
    within: Duration = Field(description="Window after entry in which the event counts.")
    when: CelExpression | None = Field(
        default=None, description="Only count events for which this CEL condition is true."
    )
    value: CelExpression | None = Field(
        default=None,
        description="What a conversion is worth: a CEL expression over the goal event that "
        "gives a number, e.g. double(event.properties.total). Reports add it up as revenue.",
    )
    currency: Currency | None = Field(
        default=None,
        description="The value's ISO 4217 currency code, e.g. EUR; only with `value`.",
    )


class QuietHours(DslModel):
    """Sends due in this window wait until it ends (customer's local time)."""

    start: TimeOfDay = Field(description='Start of the quiet window, e.g. "21:00".')
    end: TimeOfDay = Field(description='End of the quiet window, e.g. "08:00".')


class Tracking(DslModel):
    """What cxflow tracks in the HTML of a message: link clicks and opens.

    A key left out takes the workspace's default (CXFLOW_TRACK_CLICKS, on;
    CXFLOW_TRACK_OPENS, off); a send step's keys override the journey's.
    """

    clicks: bool | None = Field(
        default=None,
        strict=True,
        description="Send the HTML's http(s) links through cxflow's signed redirect, which "
        "records a click; the workspace default (on) when left out.",
    )
    opens: bool | None = Field(
        default=None,
        strict=True,
        description="Add a 1x1 image that records when the message is opened (it tells when "
        "and where a mail is read, and Apple Mail loads it for every message); the "
        "workspace default (off) when left out.",
    )


class FrequencyCap(DslModel):
    """At most ``max`` messages per customer in any ``per`` window."""

    max: int = Field(
        ge=1, strict=True, description="Most messages a customer may get in the window."
    )
    per: Duration = Field(description="The sliding window, e.g. 1d or 1w.")
    channels: list[ChannelName] | None = Field(
        default=None, description="Channels the cap counts; all channels when left out."
    )


class Settings(DslModel):
    """Time zone, quiet hours and frequency cap of the journey."""

    timezone: CustomerOrTimeZone = Field(
        default="customer",
        description="customer: each customer's own time zone (their profile's timezone "
        "trait); or one IANA zone for everyone.",
    )
    default_timezone: TimeZoneName = Field(
        default="UTC", description="Used for customers whose profile has no time zone."
    )
    quiet_hours: QuietHours | None = Field(default=None, description="No sends in this window.")
    frequency_cap: FrequencyCap | None = Field(
        default=None, description="Cap on messages per customer."
    )


# --- steps -------------------------------------------------------------------------------


class StepBase(DslModel):
    id: StepId = Field(description="Unique id of the step; other steps go to it with next.")
    name: str | None = Field(default=None, description="Label for diagrams and reports.")
    next: StepId | None = Field(
        default=None, description="The step after this one; the following step if left out."
    )


def _one_or_more_channels(value: Any) -> Any:
    """``channel: email`` is ``channel: [email]``; anything but text or a list is refused
    with one message (not one per form the value could have had)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return value
    raise CodedValueError(
        DiagnosticCode.TYPE_INVALID,
        f"must be a channel such as email, or a list such as [sms, email], not {value!r}",
        {"expected": "a channel or a list of channels"},
    )


class SendSpec(DslModel):
    """A message on a channel, rendered from a template and/or inline Liquid."""

    channel: Annotated[
        list[ChannelName],
        BeforeValidator(_one_or_more_channels),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "string", "examples": ["email"]},
                    {"type": "array", "items": {"type": "string"}, "minItems": 1},
                ]
            }
        ),
    ] = Field(
        description="The channel: email, social, sms... Or a list, tried in order: the "
        "message goes on the first the customer can receive (an address, consent, not "
        "suppressed), e.g. [sms, email]."
    )
    template: TemplateName | None = Field(
        default=None, description="A template from templates/ (without the .yaml ending)."
    )
    subject: LiquidText | None = Field(
        default=None, description="Subject line (Liquid); overrides the template's."
    )
    body: LiquidText | None = Field(
        default=None, description="Message text (Liquid); overrides the template's."
    )
    params: dict[str, JsonValue] = Field(
        default_factory=dict, description="Channel parameters; string values are Liquid."
    )

    @field_validator("channel")
    @classmethod
    def _distinct_channels(cls, value: list[str]) -> list[str]:
        if not value:
            raise CodedValueError(
                DiagnosticCode.LIST_TOO_SHORT,
                "the list of channels is empty: name at least one, e.g. [sms, email]",
            )
        repeated = sorted({c for c in value if value.count(c) > 1})
        if repeated:
            raise CodedValueError(
                DiagnosticCode.VALUE_INVALID,
                f"{', '.join(repeated)} is listed twice: name each channel once, in the "
                "order to try them",
                {"channel": repeated[0]},
            )
        return value

    @property
    def channels(self) -> list[str]:
        """The channels in the order to try them (one, when ``channel`` names one)."""
        return list(self.channel)


ON_ERROR_DESCRIPTION = (
    "Step to go to when this step fails for good (after the retries); later steps read "
    "the failure as `error` (step, code, message)."
)


class SendStep(StepBase):
    """Send a message on a channel."""

    send: SendSpec = Field(description="The message: channel, template and/or inline Liquid.")
    tracking: Tracking | None = Field(
        default=None,
        description="Click and open tracking of this message's HTML: {clicks: bool, opens: "
        "bool}; overrides the journey's `tracking`, key by key.",
    )
    on_error: StepId | None = Field(
        default=None,
        description=ON_ERROR_DESCRIPTION + " Without it a failed message is recorded as "
        "failed and the run goes on.",
    )


class CallStep(StepBase):
    """Call any connector action, optionally saving its result for later steps."""

    call: ActionRef = Field(description="The action, as <connector>.<action>.")
    with_: dict[str, JsonValue] = Field(
        default_factory=dict,
        alias="with",
        description="Inputs of the action; string values are Liquid.",
    )
    save_as: VariableName | None = Field(
        default=None, description="Name under which later steps can read the result."
    )
    on_error: StepId | None = Field(
        default=None,
        description=ON_ERROR_DESCRIPTION + " Without it a failed call fails the run.",
    )


class WaitUntil(DslModel):
    """Wait until the next given local time of day, on allowed weekdays."""

    until: TimeOfDay = Field(description='Local time of day to wait for, e.g. "09:00".')
    weekdays: list[Weekday] | None = Field(
        default=None, description="Only on these days (mon..sun); any day when left out."
    )


class WaitUntilDate(DslModel):
    """Wait until a date or time the customer's data holds: a renewal, a birthday."""

    until: CelExpression = Field(
        description="Where the date is: customer.traits.renewal_at, event.properties."
        "delivery_date... (ISO 8601: a date, or a date and time).",
        # For editors: a time of day is the other form of `wait`, not this one.
        json_schema_extra={"not": {"pattern": TIME_OF_DAY_PATTERN}},
    )
    offset: SignedDuration | None = Field(
        default=None, description="Before (-7d) or after (2h) that date."
    )
    every: Literal["year"] | None = Field(
        default=None, description="year: its next anniversary (birthdays, sign-up days)."
    )
    at: TimeOfDay | None = Field(
        default=None,
        description='Local time on a date without one (default "09:00"), in the journey\'s '
        "time zone.",
    )

    @field_validator("until")
    @classmethod
    def _not_a_time_of_day(cls, value: str) -> str:
        if _TIME_OF_DAY_TEXT.match(value):
            raise CodedValueError(
                DiagnosticCode.WAIT_INVALID,
                f'"{value}" is a time of day: `offset`, `every` and `at` go with a date '
                "from the data, such as `until: customer.traits.renewal_at`; for a time of "
                f'day write `wait: {{until: "{value}"}}` alone',
            )
        return value


class WaitForData(DslModel):
    """Wait as long as the customer's data says (a trial's length), within bounds."""

    for_: CelExpression = Field(
        alias="for",
        description="How long: an expression giving a number of `unit`s (customer.traits."
        "trial_days), a duration text such as 36h, or a CEL duration.",
    )
    unit: Literal["minutes", "hours", "days", "weeks"] = Field(
        default="days", description="What a number means (default days)."
    )
    at_least: Duration | None = Field(
        default=None, description="The shortest wait (also when the value is missing)."
    )
    at_most: Duration = Field(description="The longest wait, whatever the data says.")


_TIME_OF_DAY_TEXT = re.compile(TIME_OF_DAY_PATTERN)


def _wait_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "duration"
    if isinstance(value, dict):
        until = value.get("until")
        by_day = isinstance(until, str) and _TIME_OF_DAY_TEXT.match(until) is not None
        if by_day and not {"offset", "every", "at"} & set(value):
            return "until"
        if "for" in value and "until" not in value:
            return "for_data"
        return "until_data" if "weekdays" not in value else "until"
    return None


WaitSpec = Annotated[
    Annotated[Duration, Tag("duration")]
    | Annotated[WaitUntil, Tag("until")]
    | Annotated[WaitUntilDate, Tag("until_data")]
    | Annotated[WaitForData, Tag("for_data")],
    Discriminator(
        _wait_kind,
        custom_error_type="wait_kind",
        custom_error_message='wait takes a duration such as 1h, or {until: "09:00"}',
    ),
]


class WaitStep(StepBase):
    """Pause the run for a duration, or until a local time of day."""

    wait: WaitSpec = Field(
        description='A duration (1h, 2d), {until: "09:00", weekdays: [...]}, or a date from '
        "data: {until: customer.traits.renewal_at, offset: -7d}"
    )


class WaitForSpec(DslModel):
    """The event to wait for and how long to wait."""

    event: EventName = Field(description="The event to wait for.")
    when: CelExpression | None = Field(
        default=None, description="Only accept events for which this CEL condition is true."
    )
    timeout: Duration = Field(description="How long to wait before taking on_timeout.")


class WaitForStep(StepBase):
    """Wait for the customer's next matching event, or time out."""

    wait_for: WaitForSpec = Field(description="The event to wait for, and the timeout.")
    on_timeout: StepId | None = Field(
        default=None, description="Step to go to on timeout; next when left out."
    )
    save_as: VariableName | None = Field(
        default=None, description="Name under which later steps can read the event."
    )


class BranchCase(DslModel):
    """Go to ``next`` when the condition holds (cases are tried in order)."""

    when: CelExpression = Field(description="CEL condition, e.g. segment('vip').")
    next: StepId = Field(description="Step to go to when the condition holds.")


class BranchElse(DslModel):
    """Where to go when no case holds; always the last item."""

    else_: StepId = Field(alias="else", description="Step to go to when no case holds.")


def _branch_item_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        if "else" in value:
            return "else"
        if "when" in value:
            return "case"
    return None


BranchItem = Annotated[
    Annotated[BranchCase, Tag("case")] | Annotated[BranchElse, Tag("else")],
    Discriminator(
        _branch_item_kind,
        custom_error_type="branch_item",
        custom_error_message="a branch item is {when: <condition>, next: <step>} or {else: <step>}",
    ),
]


class BranchStep(StepBase):
    """Go to the first case whose condition holds, else to ``else``."""

    branch: list[BranchItem] = Field(
        min_length=1, description="Cases tried in order, then a final else."
    )


class Variant(DslModel):
    """One arm of an A/B split."""

    name: ExperimentKey = Field(description="Variant name, reported in experiment results.")
    weight: float = Field(
        ge=0, le=100, allow_inf_nan=False, strict=True, description="Share of customers in percent."
    )
    next: StepId | None = Field(
        default=None, description="Step this variant goes to; the following step if left out."
    )
    holdout: bool = Field(
        default=False,
        strict=True,
        description="A holdout gets no messages: conversions are measured against it. "
        "A variant named holdout is one.",
    )

    @property
    def is_holdout(self) -> bool:
        return self.holdout or self.name == "holdout"


class SplitSpec(DslModel):
    """A/B split: each customer is assigned one variant, for good."""

    experiment: ExperimentKey = Field(description="Experiment key, unique per experiment.")
    variants: list[Variant] = Field(min_length=2, description="Weights must sum to 100.")


class SplitStep(StepBase):
    """Send each customer down one variant, assigned by a hash of experiment and customer."""

    split: SplitSpec = Field(description="Experiment key and weighted variants.")


class ProfileUpdate(DslModel):
    """Traits to set (values may be Liquid) and traits to remove."""

    set: dict[str, JsonValue] = Field(default_factory=dict, description="Traits to set.")
    unset: list[str] = Field(default_factory=list, description="Traits to remove.")


class UpdateProfileStep(StepBase):
    """Change the customer's profile traits."""

    update_profile: ProfileUpdate = Field(description="Traits to set and to unset.")


class ExitSpec(DslModel):
    """End the run here."""

    reason: str | None = Field(default=None, description="Why runs end here, for reports.")


class ExitStep(StepBase):
    """End the run."""

    exit: ExitSpec = Field(description="End the run here: exit: {}.")


def step_kinds_in(value: Any) -> list[str]:
    """The step-kind keys present in a raw step mapping."""
    if not isinstance(value, dict):
        return []
    return [kind for kind in STEP_KINDS if kind in value]


def _step_kind(value: Any) -> str | None:
    kinds = step_kinds_in(value)
    return kinds[0] if len(kinds) == 1 else None


Step = Annotated[
    Annotated[SendStep, Tag("send")]
    | Annotated[CallStep, Tag("call")]
    | Annotated[WaitStep, Tag("wait")]
    | Annotated[WaitForStep, Tag("wait_for")]
    | Annotated[BranchStep, Tag("branch")]
    | Annotated[SplitStep, Tag("split")]
    | Annotated[UpdateProfileStep, Tag("update_profile")]
    | Annotated[ExitStep, Tag("exit")],
    Discriminator(
        _step_kind,
        custom_error_type="step_kind",
        custom_error_message="a step needs exactly one of: " + ", ".join(STEP_KINDS),
    ),
]

AnyStep = (
    SendStep
    | CallStep
    | WaitStep
    | WaitForStep
    | BranchStep
    | SplitStep
    | UpdateProfileStep
    | ExitStep
)


def kind_of(step: AnyStep) -> str:
    """The kind key of a parsed step."""
    return _KIND_BY_TYPE[type(step)]


_KIND_BY_TYPE: dict[type[StepBase], str] = {
    SendStep: "send",
    CallStep: "call",
    WaitStep: "wait",
    WaitForStep: "wait_for",
    BranchStep: "branch",
    SplitStep: "split",
    UpdateProfileStep: "update_profile",
    ExitStep: "exit",
}


# --- the journey -------------------------------------------------------------------------


class Journey(DslModel):
    """A customer journey: a trigger, entry and exit rules, and the steps a run goes through."""

    journey: JourneyId
    name: str = Field(min_length=1, description="Human-readable name for the journey.")
    description: str = Field(default="", description="What the journey is for.")
    trigger: Trigger = Field(description="What starts a run: event, segment, schedule or api.")
    entry: EntryRules = Field(default_factory=EntryRules, description="Who may enter, how often.")
    exit_when: list[ExitCriterion] = Field(
        default_factory=list, description="Events that end a run early."
    )
    goal: Goal | None = Field(default=None, description="The conversion this journey is for.")
    settings: Settings = Field(
        default_factory=Settings, description="Time zone, quiet hours, frequency cap."
    )
    tracking: Tracking | None = Field(
        default=None,
        description="Click and open tracking of the journey's HTML messages: {clicks: bool, "
        "opens: bool}; the workspace defaults (clicks on, opens off) for keys left out.",
    )
    steps: list[Step] = Field(min_length=1, description="The steps, run in order.")


ERROR_VARIABLE = "error"
"""The variable an ``on_error`` path gives the steps after it: the failure of the step."""
ON_ERROR_KINDS = ("send", "call")
"""The step kinds that take ``on_error``: those whose connector can fail."""


def saved_name(step: AnyStep) -> str | None:
    """The name a step saves its result under, if any (call and wait_for steps)."""
    if isinstance(step, CallStep | WaitForStep):
        return step.save_as
    return None
