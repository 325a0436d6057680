"""Segment files as marketers write them: pydantic models of the YAML, and what they depend on.

A segment is a condition over a customer's traits and the events they sent. It is
structured YAML rather than an expression language so that editors complete it
from the JSON Schema and every mistake has a line and column. Each segment also
says, statically, which event names and whether traits or the clock can change
its membership: that is what lets the engine recompute only the segments an
event can affect, and refresh on a schedule only the ones time can change.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML

from dsl.codes import CodedValueError, DiagnosticCode
from dsl.durations import parse_duration
from dsl.models import DslModel
from dsl.types import Duration, EventName, SegmentName, _string_schema

TRAIT_PATTERN = r"^[A-Za-z_$][A-Za-z0-9_$-]*(\.[A-Za-z_$][A-Za-z0-9_$-]*)*$"
_TRAIT_RE = re.compile(TRAIT_PATTERN)

# The event an identify call is stored as: the one that changes traits.
IDENTIFY_EVENT = "identify"
# The event a group call is stored as: the one that changes a customer's groups.
GROUP_EVENT = "group"
# The events that are orders: what a customer's lifetime value figures are kept from
# (engine.store.customer_value; Segment's e-commerce spec names it `Order Completed`).
ORDER_EVENTS = ("order.completed", "Order Completed")

COMPARISONS = ("equals", "not_equals", "greater_than", "at_least", "less_than", "at_most")
TRAIT_OPERATORS = (
    *COMPARISONS,
    "in",
    "not_in",
    "exists",
    "matches",
    "contains",
    "within_last",
    "older_than",
    "within_next",
    "before",
    "after",
)
AGGREGATES = ("count", "sum", "average", "min", "max")
CONDITION_KINDS = ("all", "any", "not", "trait", "group", "performed", *AGGREGATES, "value")
# The lifetime value figures a `value:` condition tests (docs/segments.md); the `days_since_`
# ones change with the clock alone, so segments testing them are refreshed on a schedule.
ValueFigure = Literal[
    "orders",
    "revenue",
    "aov",
    "days_between_orders",
    "days_since_last_order",
    "days_since_first_order",
    "repeat",
]
VALUE_FIGURES: tuple[str, ...] = get_args(ValueFigure)
CLOCK_FIGURES = ("days_since_last_order", "days_since_first_order")
BOOLEAN_FIGURES = ("repeat",)


def _check_path(value: str, what: str, example: str) -> str:
    if len(value) > 200 or not _TRAIT_RE.match(value):
        raise CodedValueError(
            DiagnosticCode.FIELD_PATH_INVALID,
            f"{value!r} is not a {what}: write its name, with dots for nested fields, "
            f"for example {example}",
            {"kind": what, "value": value},
        )
    return value


TraitPath = Annotated[
    str,
    AfterValidator(lambda v: _check_path(v, "trait name", "plan or address.country")),
    _string_schema("A trait name, dots for nested fields: plan, address.city.", TRAIT_PATTERN),
]
PropertyPath = Annotated[
    str,
    AfterValidator(lambda v: _check_path(v, "property name", "total or cart.value")),
    _string_schema("An event property, dots for nested fields: total, cart.value.", TRAIT_PATTERN),
]
Number = Annotated[float | int, Field(allow_inf_nan=False)]
DateText = Annotated[
    str,
    _string_schema("A date or time in ISO 8601: 2026-01-31 or 2026-01-31T09:00:00Z."),
]


def parse_date(value: str) -> datetime | None:
    """An ISO 8601 date or time as an aware datetime (UTC when no offset), or None."""
    from datetime import UTC

    try:
        parsed = datetime.fromisoformat(value.strip())
    except (ValueError, AttributeError, TypeError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


class _Comparison(DslModel):
    """Exactly one numeric comparison; shared by event aggregates."""

    equals: Number | None = Field(default=None, description="Exactly this number.")
    not_equals: Number | None = Field(default=None, description="Anything but this number.")
    greater_than: Number | None = Field(default=None, description="More than this number.")
    at_least: Number | None = Field(default=None, description="This number or more.")
    less_than: Number | None = Field(default=None, description="Less than this number.")
    at_most: Number | None = Field(default=None, description="This number or less.")

    @model_validator(mode="after")
    def _one_comparison(self) -> _Comparison:
        given = [name for name in COMPARISONS if getattr(self, name) is not None]
        if len(given) != 1:
            head = next(k for k in AGGREGATES if k in type(self).model_fields)
            found = ", ".join(f"`{g}`" for g in given) if given else "none"
            raise CodedValueError(
                DiagnosticCode.COMPARISON_COUNT,
                f"write exactly one comparison for `{head}` ({', '.join(COMPARISONS)}), "
                f"e.g. `at_least: 2`; found {found}",
                {"aggregate": head, "found": ", ".join(given)},
            )
        return self

    def comparison(self) -> tuple[str, float]:
        name = next(n for n in COMPARISONS if getattr(self, n) is not None)
        return name, float(getattr(self, name))


class _Windowed(BaseModel):
    within: Duration | None = Field(
        default=None,
        description="Only events of the last duration, e.g. 30d; leave out for all time.",
    )

    def window_seconds(self) -> int | None:
        return None if self.within is None else int(parse_duration(self.within).total_seconds())


class CountCondition(_Comparison, _Windowed):
    """How many times the customer sent an event, e.g. at least 2 orders in 30 days."""

    count: EventName = Field(description="The event to count, e.g. order.completed.")


class SumCondition(_Comparison, _Windowed):
    """The total of a numeric event property, e.g. more than 500 spent in 90 days."""

    sum: PropertyPath = Field(description="The numeric property to add up, e.g. total.")
    of: EventName = Field(description="The event that carries it, e.g. order.completed.")


class AverageCondition(_Comparison, _Windowed):
    """The average of a numeric event property; no matching event means no average (false)."""

    average: PropertyPath = Field(description="The numeric property to average, e.g. total.")
    of: EventName = Field(description="The event that carries it, e.g. order.completed.")


class MinCondition(_Comparison, _Windowed):
    """The smallest value of a numeric event property; false when there is none."""

    min: PropertyPath = Field(description="The numeric property, e.g. total.")
    of: EventName = Field(description="The event that carries it, e.g. order.completed.")


class MaxCondition(_Comparison, _Windowed):
    """The largest value of a numeric event property; false when there is none."""

    max: PropertyPath = Field(description="The numeric property, e.g. total.")
    of: EventName = Field(description="The event that carries it, e.g. order.completed.")


class PerformedCondition(DslModel, _Windowed):
    """The customer sent the event at least once (in the window)."""

    performed: EventName = Field(description="The event, e.g. order.completed.")


class TraitCondition(DslModel):
    """A test of one profile trait; a missing trait only passes `exists: false`,
    `not_equals` and `not_in`."""

    trait: TraitPath = Field(description="The trait, e.g. plan or address.country.")
    equals: JsonValue = Field(default=None, description="Exactly this value.")
    not_equals: JsonValue = Field(default=None, description="Anything but this value.")
    in_: list[JsonValue] | None = Field(
        default=None, alias="in", description="One of these values.", min_length=1
    )
    not_in: list[JsonValue] | None = Field(
        default=None, description="None of these values.", min_length=1
    )
    greater_than: Number | str | None = Field(default=None, description="More than this.")
    at_least: Number | str | None = Field(default=None, description="This or more.")
    less_than: Number | str | None = Field(default=None, description="Less than this.")
    at_most: Number | str | None = Field(default=None, description="This or less.")
    exists: bool | None = Field(default=None, description="true: the trait is set; false: not.")
    matches: str | None = Field(
        default=None, description="A regular expression the text trait matches (anywhere)."
    )
    contains: JsonValue = Field(
        default=None, description="Text that contains this text, or a list with this item."
    )
    within_last: Duration | None = Field(
        default=None, description="A date in the last duration, e.g. 30d."
    )
    older_than: Duration | None = Field(
        default=None, description="A date longer ago than the duration, e.g. 90d."
    )
    within_next: Duration | None = Field(
        default=None, description="A date from now until the duration from now, e.g. 7d."
    )
    before: DateText | None = Field(default=None, description="A date before this one.")
    after: DateText | None = Field(default=None, description="A date after this one.")

    @field_validator("matches")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as error:
                raise CodedValueError(
                    DiagnosticCode.REGEX_INVALID,
                    f"{value!r} is not a regular expression ({error}): escape special "
                    r"characters with \, e.g. '@example\.com$'",
                    {"value": value},
                ) from None
        return value

    @field_validator("before", "after")
    @classmethod
    def _date(cls, value: str | None) -> str | None:
        if value is not None and parse_date(value) is None:
            raise CodedValueError(
                DiagnosticCode.DATE_INVALID,
                f'{value!r} is not a date: write ISO 8601 in quotes, e.g. "2026-01-31" or '
                '"2026-01-31T09:00:00Z"',
                {"value": value},
            )
        return value

    @model_validator(mode="after")
    def _one_operator(self) -> TraitCondition:
        given = self.operators()
        if len(given) != 1:
            found = ", ".join(f"`{g}`" for g in given) if given else "none"
            raise CodedValueError(
                DiagnosticCode.TRAIT_TEST_COUNT,
                f"write exactly one test for trait `{self.trait}`, e.g. `equals: pro`, "
                f"`in: [pro, team]`, `at_least: 3`, `exists: true`, `matches: '@acme\\.com$'` "
                f"or `within_last: 30d`; found {found}",
                {"trait": self.trait, "found": ", ".join(given)},
            )
        return self

    def operators(self) -> list[str]:
        """The operators written in the file (`equals: null` counts as written)."""
        written = {("in" if name == "in_" else name) for name in self.model_fields_set}
        return [name for name in TRAIT_OPERATORS if name in written]

    def operator(self) -> tuple[str, Any]:
        name = self.operators()[0]
        return name, getattr(self, "in_" if name == "in" else name)

    def uses_clock(self) -> bool:
        return self.operators()[0] in ("within_last", "older_than", "within_next")


class GroupCondition(DslModel):
    """The customer belongs to a group (an account, from `group` calls): the group with
    this id, or any of their groups whose trait passes the test."""

    group: Annotated[str, Field(min_length=1, max_length=200)] | TraitCondition = Field(
        description="A group id, e.g. acme; or a test of the group's trait, e.g. "
        "`{trait: plan, equals: enterprise}`."
    )


VALUE_TESTS = (*COMPARISONS, "is")


class ValueCondition(DslModel):
    """A lifetime order figure of the customer, kept from their `order.completed` events:
    e.g. at least 2 orders, more than 500 revenue, a repeat buyer, 90 days since the last
    order. A figure the customer has none of (the average of no orders) is false."""

    value: ValueFigure = Field(
        description="The figure: orders, revenue, aov (revenue / orders), "
        "days_between_orders, days_since_last_order, days_since_first_order, or repeat "
        "(two orders or more)."
    )
    equals: Number | None = Field(default=None, description="Exactly this number.")
    not_equals: Number | None = Field(default=None, description="Anything but this number.")
    greater_than: Number | None = Field(default=None, description="More than this number.")
    at_least: Number | None = Field(default=None, description="This number or more.")
    less_than: Number | None = Field(default=None, description="Less than this number.")
    at_most: Number | None = Field(default=None, description="This number or less.")
    is_: bool | None = Field(
        default=None,
        alias="is",
        strict=True,
        description="For `repeat`: true (two orders or more) or false.",
    )

    @model_validator(mode="after")
    def _one_test(self) -> ValueCondition:
        given = self.tests()
        if len(given) != 1:
            found = ", ".join(f"`{g}`" for g in given) if given else "none"
            example = "`is: true`" if self.value in BOOLEAN_FIGURES else "`at_least: 2`"
            raise CodedValueError(
                DiagnosticCode.VALUE_TEST_COUNT,
                f"write exactly one test for `value: {self.value}`, e.g. {example}; found {found}",
                {"figure": self.value, "found": ", ".join(given)},
            )
        if self.value in BOOLEAN_FIGURES and given[0] != "is":
            raise CodedValueError(
                DiagnosticCode.VALUE_TEST_MISMATCH,
                f"`{self.value}` is true or false, not a number: write `is: true` or "
                f"`is: false` instead of `{given[0]}`",
                {"figure": self.value, "test": given[0]},
            )
        if self.value not in BOOLEAN_FIGURES and given[0] == "is":
            raise CodedValueError(
                DiagnosticCode.VALUE_TEST_MISMATCH,
                f"`{self.value}` is a number: compare it with one of "
                f"{', '.join(COMPARISONS)} (e.g. `at_least: 2`); `is` tests `repeat`",
                {"figure": self.value, "test": "is"},
            )
        return self

    def tests(self) -> list[str]:
        """The tests written in the file."""
        return [
            name
            for name in VALUE_TESTS
            if getattr(self, "is_" if name == "is" else name) is not None
        ]

    def comparison(self) -> tuple[str, float]:
        """The test as a comparison of the figure's number (`repeat` is 1 or 0)."""
        name = self.tests()[0]
        if name == "is":
            return "equals", 1.0 if self.is_ else 0.0
        return name, float(getattr(self, name))

    def uses_clock(self) -> bool:
        return self.value in CLOCK_FIGURES


class AllCondition(DslModel):
    """Every condition in the list holds."""

    all: list[Condition] = Field(min_length=1, description="Conditions that must all hold.")


class AnyCondition(DslModel):
    """At least one condition in the list holds."""

    any: list[Condition] = Field(min_length=1, description="Conditions of which one must hold.")


class NotCondition(DslModel):
    """The condition does not hold."""

    not_: Condition = Field(alias="not", description="The condition that must not hold.")


def _condition_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        for kind in CONDITION_KINDS:
            if kind in type(value).model_fields or (
                kind == "not" and "not_" in type(value).model_fields
            ):
                return kind
        return None
    if not isinstance(value, dict):
        return None
    present = [kind for kind in CONDITION_KINDS if kind in value]
    return present[0] if len(present) == 1 else None


Condition = Annotated[
    Annotated[AllCondition, Tag("all")]
    | Annotated[AnyCondition, Tag("any")]
    | Annotated[NotCondition, Tag("not")]
    | Annotated[TraitCondition, Tag("trait")]
    | Annotated[GroupCondition, Tag("group")]
    | Annotated[PerformedCondition, Tag("performed")]
    | Annotated[CountCondition, Tag("count")]
    | Annotated[SumCondition, Tag("sum")]
    | Annotated[AverageCondition, Tag("average")]
    | Annotated[MinCondition, Tag("min")]
    | Annotated[MaxCondition, Tag("max")]
    | Annotated[ValueCondition, Tag("value")],
    Discriminator(
        _condition_kind,
        custom_error_type="condition_kind",
        custom_error_message="a condition needs exactly one of: " + ", ".join(CONDITION_KINDS),
    ),
]

AllCondition.model_rebuild()
AnyCondition.model_rebuild()
NotCondition.model_rebuild()


class Segment(DslModel):
    """A segment file: who is in the segment, recomputed as customers change."""

    segment: SegmentName = Field(description="The segment id; the file is named <id>.yaml.")
    name: str = Field(min_length=1, description="Human-readable name.")
    description: str = Field(default="", description="Who the segment is for.")
    match: Condition = Field(
        description="Who is a member: a condition, or `all`/`any`/`not` of conditions."
    )


# --- static analysis --------------------------------------------------------------------------

AggregateFunction = Literal["count", "sum", "average", "min", "max", "value"]


class AggregateSpec(BaseModel):
    """One event aggregate a segment needs, as the store computes it.

    ``value`` is a lifetime value figure (``property`` names it), which the store keeps
    from the order events as they arrive rather than adding them up each time.
    """

    model_config = ConfigDict(frozen=True)

    function: AggregateFunction
    event: str
    property: str | None
    window_seconds: int | None


def aggregate_of(condition: Any) -> AggregateSpec | None:
    """The aggregate an event condition needs (``performed`` is a count), or None."""
    if isinstance(condition, ValueCondition):
        return AggregateSpec(
            function="value", event=ORDER_EVENTS[0], property=condition.value, window_seconds=None
        )
    if isinstance(condition, PerformedCondition):
        return AggregateSpec(
            function="count",
            event=condition.performed,
            property=None,
            window_seconds=condition.window_seconds(),
        )
    if isinstance(condition, CountCondition):
        return AggregateSpec(
            function="count",
            event=condition.count,
            property=None,
            window_seconds=condition.window_seconds(),
        )
    for function, model in (
        ("sum", SumCondition),
        ("average", AverageCondition),
        ("min", MinCondition),
        ("max", MaxCondition),
    ):
        if isinstance(condition, model):
            return AggregateSpec(
                function=function,
                event=condition.of,
                property=getattr(condition, function),
                window_seconds=condition.window_seconds(),
            )
    return None


def children(condition: Any) -> list[Any]:
    if isinstance(condition, AllCondition):
        return list(condition.all)
    if isinstance(condition, AnyCondition):
        return list(condition.any)
    if isinstance(condition, NotCondition):
        return [condition.not_]
    return []


def walk(condition: Any) -> list[Any]:
    """The condition and every condition inside it, depth first."""
    found = [condition]
    for child in children(condition):
        found += walk(child)
    return found


class SegmentDependencies(BaseModel):
    """What can change a segment's membership: these events, traits, the passing of time."""

    model_config = ConfigDict(frozen=True)

    events: list[str]
    traits: bool
    time: bool


def dependencies_of(condition: Any) -> SegmentDependencies:
    events: set[str] = set()
    traits = time = False
    for node in walk(condition):
        aggregate = aggregate_of(node)
        if isinstance(node, ValueCondition):
            # Kept from every order event; the days since an order grow with the clock.
            events.update(ORDER_EVENTS)
            time = time or node.uses_clock()
        elif aggregate is not None:
            events.add(aggregate.event)
            time = time or aggregate.window_seconds is not None
        elif isinstance(node, TraitCondition):
            traits = True
            time = time or node.uses_clock()
        elif isinstance(node, GroupCondition):
            events.add(GROUP_EVENT)
            # Another member's group call can change the group's traits: the scheduled
            # refresh re-decides those.
            time = time or isinstance(node.group, TraitCondition)
    return SegmentDependencies(events=sorted(events), traits=traits, time=time)


class CompiledSegment(BaseModel):
    """A validated segment as the engine stores and evaluates it, with its dependencies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    version: str
    name: str
    description: str
    match: Condition
    depends_on: SegmentDependencies

    def aggregates(self) -> list[AggregateSpec]:
        specs = [aggregate_of(node) for node in walk(self.match)]
        return list(dict.fromkeys(s for s in specs if s is not None))

    def affected_by(self, event_name: str) -> bool:
        """Whether an event of this name can change membership (identify changes traits)."""
        return event_name in self.depends_on.events or (
            event_name == IDENTIFY_EVENT and self.depends_on.traits
        )


def compile_segment(segment: Segment) -> CompiledSegment:
    """The compiled form; its version is a hash of everything that decides membership."""
    match = segment.match
    body = {
        "id": segment.segment,
        "name": segment.name,
        "description": segment.description,
        "match": match.model_dump(mode="json", by_alias=True, exclude_unset=True),
    }
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return CompiledSegment(
        id=segment.segment,
        version=f"v{digest[:12]}",
        name=segment.name,
        description=segment.description,
        match=match,
        depends_on=dependencies_of(match),
    )


def dump_segment(segment: CompiledSegment) -> dict[str, Any]:
    """JSON for the store; ``exclude_unset`` keeps `equals: null` apart from no `equals`."""
    return segment.model_dump(mode="json", by_alias=True, exclude_unset=True)


def match_yaml(segment: CompiledSegment) -> str:
    """The segment's ``match`` as YAML, as its author writes it: each condition's kind
    first, then what it is of, then its test (``cxflow segments show``, the console)."""
    stream = io.StringIO()
    dumper = YAML(typ="rt", pure=True)
    dumper.default_flow_style = False
    dumper.dump(_author_order(dump_segment(segment)["match"]), stream)
    return stream.getvalue().rstrip()


def _author_order(value: Any) -> Any:
    if isinstance(value, list):
        return [_author_order(item) for item in value]
    if not isinstance(value, dict):
        return value
    first = [k for k in (*CONDITION_KINDS, "of", "within") if k in value]
    return {k: _author_order(value[k]) for k in [*first, *(k for k in value if k not in first)]}
