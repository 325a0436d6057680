"""Journey test files as their authors write them: pydantic models of the YAML.

A test file (``journeys/tests/<journey>.yaml``) names one journey and lists cases:
a customer, a timeline of what happens to them (events, API starts, segment
entries, at offsets from the case's start), and what must then have happened
(steps in order, messages, calls, the wait at a given time, how the run ended).
`cxflow test` runs the cases on Temporal's time-skipping server
(:mod:`engine.rehearsal`); the checks that need the journey itself (step,
template and variant names) live in :mod:`dsl.case_loader`.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    WithJsonSchema,
    model_validator,
)

from dsl.codes import CodedValueError, DiagnosticCode
from dsl.durations import DURATION_PATTERN, parse_duration, parse_time_of_day
from dsl.models import WEEKDAYS, DslModel
from dsl.types import (
    ActionRef,
    ChannelName,
    EventName,
    ExperimentKey,
    JourneyId,
    SegmentName,
    StepId,
    TemplateName,
    TimeZoneName,
)

RUN_ENDINGS = ("completed", "exited", "failed", "running")
SEND_STATUSES = ("sent", "skipped", "failed")
DEFAULT_START = "mon 10:00"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _check_offset(value: Any) -> str:
    """``0`` or a duration: when, after the case's start, something happens."""
    if value in (0, "0", "0s"):
        return "0"
    if not isinstance(value, str):
        raise CodedValueError(
            DiagnosticCode.DURATION_INVALID,
            f"{value!r} is not a time in the case: write 0 (the start) or a duration such "
            "as 30m, 2h or 3d",
            {"value": str(value)},
        )
    parse_duration(value)
    return value


Offset = Annotated[
    Any,
    AfterValidator(_check_offset),
    WithJsonSchema(
        {
            "description": "Time after the case's start: 0, or a duration such as 2h or 3d.",
            "anyOf": [{"const": 0}, {"type": "string", "pattern": f"{DURATION_PATTERN}|^0$"}],
        }
    ),
]


def offset_delta(offset: str) -> timedelta:
    return timedelta(0) if offset == "0" else parse_duration(offset)


def _check_start(value: str) -> str:
    """``"10:00"``, ``"mon 10:00"`` or ``"2030-11-29 10:00"``: the local time a case starts at."""
    parts = value.split()
    if len(parts) == 2 and _DATE.match(parts[0]):
        try:
            date.fromisoformat(parts[0])
        except ValueError:
            raise CodedValueError(
                DiagnosticCode.DATE_INVALID,
                f"{parts[0]!r} is not a date: write it as YYYY-MM-DD, e.g. 2030-11-29",
                {"value": value},
            ) from None
        parse_time_of_day(parts[1])
        return value
    if len(parts) == 2 and parts[0].lower() in WEEKDAYS:
        parse_time_of_day(parts[1])
        return f"{parts[0].lower()} {parts[1]}"
    if len(parts) == 1:
        parse_time_of_day(parts[0])
        return parts[0]
    raise CodedValueError(
        DiagnosticCode.VALUE_INVALID,
        f'{value!r} is not a start: write a local time such as "10:00", a weekday and a '
        'time such as "sat 22:30", or a date and a time such as "2030-11-29 10:00"',
        {"value": value},
    )


CaseStart = Annotated[
    str,
    AfterValidator(_check_start),
    WithJsonSchema(
        {
            "type": "string",
            "description": 'Local time the case starts at: "10:00", "sat 22:30" or '
            '"2030-11-29 10:00".',
        }
    ),
]


# --- the customer --------------------------------------------------------------------------


class PastEvent(DslModel):
    """An event from before the case started: counts for segments, starts nothing."""

    event: EventName = Field(description="The event's name, e.g. order.completed.")
    ago: Offset = Field(description="How long before the case's start it happened, e.g. 10d.")
    properties: dict[str, JsonValue] = Field(default_factory=dict, description="Its properties.")


class CaseCustomer(DslModel):
    """Who the case is about: traits, time zone, consents, segments, and past events."""

    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The customer id (default: one made from the case's number).",
    )
    traits: dict[str, JsonValue] = Field(
        default_factory=dict, description="Traits, as an identify call would set them."
    )
    timezone: TimeZoneName | None = Field(
        default=None, description="The customer's IANA time zone, e.g. Europe/Paris."
    )
    consent: dict[ChannelName, bool] = Field(
        default_factory=dict,
        description="Consent per channel: `email: true` opts in, `false` opts out.",
    )
    segments: list[SegmentName] = Field(
        default_factory=list, description="Segments the customer is in at the start."
    )
    history: list[PastEvent] = Field(
        default_factory=list, description="Events before the start (segments count them)."
    )


# --- the timeline ---------------------------------------------------------------------------


class TimelineEvent(DslModel):
    """The customer sends an event (a Segment track call)."""

    at: Offset = Field(description="When, after the case's start: 0, 2h, 3d...")
    event: EventName = Field(description="The event's name, e.g. cart.updated.")
    properties: dict[str, JsonValue] = Field(default_factory=dict, description="Its properties.")


class TimelineStart(DslModel):
    """The journey is started through the API (`POST /v1/journeys/<id>/start`)."""

    at: Offset = Field(description="When, after the case's start.")
    start: dict[str, JsonValue] = Field(
        description="The start's properties (the run's `event.properties`): write {} for none."
    )


class TimelineSegment(DslModel):
    """The customer enters a segment (what starts a `trigger: {segment: ...}` journey)."""

    at: Offset = Field(description="When, after the case's start.")
    enter_segment: SegmentName = Field(description="The segment the customer enters.")


class TimelineSchedule(DslModel):
    """The journey's schedule fires (a `trigger: {schedule: ...}` journey): the customer
    enters when they are in its segment then, as at every tick."""

    at: Offset = Field(description="When, after the case's start.")
    scheduled: dict[str, JsonValue] = Field(description="Write {}: the tick has no inputs.")


class TimelineTraits(DslModel):
    """The customer's traits change (an identify call)."""

    at: Offset = Field(description="When, after the case's start.")
    identify: dict[str, JsonValue] = Field(description="The traits to set.")


TIMELINE_KINDS = ("event", "start", "scheduled", "enter_segment", "identify")


def _timeline_kind(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    kinds = [kind for kind in TIMELINE_KINDS if kind in value]
    return kinds[0] if len(kinds) == 1 else None


TimelineItem = Annotated[
    Annotated[TimelineEvent, Tag("event")]
    | Annotated[TimelineStart, Tag("start")]
    | Annotated[TimelineSchedule, Tag("scheduled")]
    | Annotated[TimelineSegment, Tag("enter_segment")]
    | Annotated[TimelineTraits, Tag("identify")],
    Discriminator(
        _timeline_kind,
        custom_error_type="timeline_kind",
        custom_error_message="a timeline item needs exactly one of: " + ", ".join(TIMELINE_KINDS),
    ),
]


# --- what must happen ----------------------------------------------------------------------


class ExpectedMessage(DslModel):
    """A message the run sends (or skips); every key given must match."""

    channel: ChannelName | None = Field(default=None, description="The channel, e.g. email.")
    template: TemplateName | None = Field(default=None, description="The template's name.")
    step: StepId | None = Field(default=None, description="The send step.")
    status: Literal["sent", "skipped", "failed"] = Field(
        default="sent", description="sent (default), skipped (consent, caps...) or failed."
    )
    at: Offset | None = Field(default=None, description="When it went, after the case's start.")
    subject: str | None = Field(default=None, description="Text the rendered subject contains.")
    body: str | None = Field(
        default=None, description="Text the rendered body (text or HTML) contains."
    )
    to: str | None = Field(default=None, description="The recipient's address or handle.")


class ExpectedCall(DslModel):
    """An action the run calls; the inputs given must be among the rendered inputs."""

    call: ActionRef = Field(description="The action, as <connector>.<action>.")
    with_: dict[str, JsonValue] | None = Field(
        default=None, alias="with", description="Inputs it gets (others are not checked)."
    )
    step: StepId | None = Field(default=None, description="The call step.")
    at: Offset | None = Field(default=None, description="When, after the case's start.")


class ExpectedWait(DslModel):
    """Where the run is at a given time: the step, and what it waits for."""

    at: Offset = Field(description="When to look, after the case's start.")
    step: StepId = Field(description="The step the run is in then.")
    waiting: Literal["timer", "quiet_hours", "event", "resume"] | None = Field(
        default=None, description="What it waits for: timer, quiet_hours, event or resume."
    )
    event: EventName | None = Field(default=None, description="The event a wait_for awaits.")
    until: Offset | None = Field(
        default=None, description="When the wait ends at the latest, after the case's start."
    )


class ExpectedGoal(DslModel):
    """Whether the run converted on the journey's goal, and the value it counted."""

    converted: bool = Field(default=True, description="Whether the goal was reached.")
    value: float | None = Field(default=None, description="The goal's value, e.g. 40.")


class Expectations(DslModel):
    """What must have happened when the case ends; only what is written is checked."""

    traits: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="Traits the customer has at the end (update_profile's work); null: unset.",
    )
    entered: bool = Field(default=True, description="Whether the customer enters the journey.")
    steps: list[StepId] | None = Field(
        default=None, description="Every step the run takes, in order (loops repeat)."
    )
    not_steps: list[StepId] = Field(
        default_factory=list, description="Steps the run must never take."
    )
    messages: list[ExpectedMessage] | None = Field(
        default=None, description="Every message, in order (write [] for none)."
    )
    calls: list[ExpectedCall] | None = Field(
        default=None, description="Every call, in order (write [] for none)."
    )
    waiting: list[ExpectedWait] = Field(
        default_factory=list, description="Where the run waits at given times."
    )
    ends: Literal["completed", "exited", "failed", "running"] | None = Field(
        default=None, description="How the run ends: completed, exited, failed (or running)."
    )
    reason: str | None = Field(default=None, description="Text the run's end reason contains.")
    goal: ExpectedGoal | None = Field(default=None, description="The goal's conversion.")
    variant: str | None = Field(default=None, description="The split variant the run took.")


# --- cases and files --------------------------------------------------------------------------


class Failure(DslModel):
    """A connector's error instead of a result: permanent, or retryable (the provider is
    down, retried until the retries run out)."""

    error: str = Field(min_length=1, description="The connector's error message.")
    retryable: bool = Field(
        default=False, description="true: the provider is down (retried until it gives up)."
    )


def _answer_kind(value: Any) -> str:
    return "failure" if isinstance(value, dict) and "error" in value else "result"


Answer = Annotated[
    Annotated[dict[str, JsonValue], Tag("result")] | Annotated[Failure, Tag("failure")],
    Discriminator(_answer_kind),
    # A result is any object, so for editors one with `error` (a failure) is one too.
    WithJsonSchema(
        {
            "type": "object",
            "description": "The action's output, e.g. {code: SAVE10}; or its error: "
            "{error: <message>, retryable: false}.",
        }
    ),
]


class Case(DslModel):
    """One story of one customer through the journey, and what must happen."""

    name: str = Field(min_length=1, max_length=200, description="What the case shows.")
    start: CaseStart = Field(
        default=DEFAULT_START,
        description='Local time the case starts at, in the customer\'s zone: "10:00" or '
        '"sat 22:30" (default: "mon 10:00", so quiet hours and weekdays are the same every run).',
    )
    customer: CaseCustomer = Field(
        default_factory=CaseCustomer, description="The customer: traits, zone, consents..."
    )
    variants: dict[ExperimentKey, str] = Field(
        default_factory=dict, description="Force a split's variant: `experiment: variant`."
    )
    answers: dict[ActionRef, Answer] = Field(
        default_factory=dict, description="Connector answers for this case (over the file's)."
    )
    timeline: list[TimelineItem] = Field(
        min_length=1, description="What happens, at offsets from the start: event, start..."
    )
    expect: Expectations = Field(description="What must have happened by the end.")
    until: Offset | None = Field(
        default=None,
        description="How long to let the run go on after the timeline (default: until it "
        "ends, at most 400d).",
    )

    @model_validator(mode="after")
    def _timeline_in_order(self) -> Case:
        offsets = [offset_delta(item.at) for item in self.timeline]
        if offsets != sorted(offsets):
            raise CodedValueError(
                DiagnosticCode.TIMELINE_ORDER,
                "the timeline is not in order of `at`: list what happens first, first",
                {},
            )
        return self


class JourneyTestFile(DslModel):
    """A journey's test cases: ``journeys/tests/<journey>.yaml``."""

    journey: JourneyId = Field(
        description="The journey's id: its file is <id>.yaml in the folder above the tests."
    )
    answers: dict[ActionRef, Answer] = Field(
        default_factory=dict,
        description="What connectors answer, per action (`shop.create_discount: {code: X}`); "
        "calls never reach a real provider.",
    )
    cases: list[Case] = Field(min_length=1, description="The cases, each run on its own customer.")
