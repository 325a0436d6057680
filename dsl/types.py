"""Scalar types of the journey DSL: names, durations, times, expressions.

Each type checks its value with a message that says what to write instead, and
carries a JSON Schema (pattern and description) so editors flag the same
mistakes while the author types.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import croniter
from pydantic import AfterValidator, WithJsonSchema

from dsl.codes import CodedValueError, DiagnosticCode
from dsl.durations import DURATION_PATTERN, TIME_OF_DAY_PATTERN, parse_duration, parse_time_of_day

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
IDENTIFIER_PATTERN = r"^[a-z_][a-z0-9_]*$"
ACTION_PATTERN = r"^[a-z][a-z0-9_-]*\.[a-z][a-z0-9_]*$"
EVENT_PATTERN = r"^\S(?:.*\S)?$"

_SLUG_RE = re.compile(SLUG_PATTERN)
_IDENTIFIER_RE = re.compile(IDENTIFIER_PATTERN)
_ACTION_RE = re.compile(ACTION_PATTERN)
_EVENT_RE = re.compile(EVENT_PATTERN)


def _slug(kind: str, example: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if len(value) > 64 or not _SLUG_RE.match(value):
            suggestion = re.sub(r"[^a-z0-9_-]+", "-", value.lower()).strip("-_") or example
            raise CodedValueError(
                DiagnosticCode.NAME_INVALID,
                f"{value!r} is not a valid {kind}: use lower-case letters, digits, '-' and '_' "
                f"(at most 64), for example {suggestion[:64]!r}",
                {"kind": kind, "value": value},
            )
        return value

    return check


def _check_identifier(value: str) -> str:
    if len(value) > 64 or not _IDENTIFIER_RE.match(value):
        suggestion = re.sub(r"[^a-z0-9_]+", "_", value.lower()).strip("_") or "result"
        if suggestion[0].isdigit():
            suggestion = f"_{suggestion}"
        raise CodedValueError(
            DiagnosticCode.VARIABLE_NAME_INVALID,
            f"{value!r} cannot be used as a variable name in conditions and templates: use "
            f"lower-case letters, digits and '_', starting with a letter, for example "
            f"{suggestion[:64]!r}",
            {"value": value},
        )
    return value


def _check_action(value: str) -> str:
    if not _ACTION_RE.match(value):
        raise CodedValueError(
            DiagnosticCode.ACTION_INVALID,
            f"{value!r} does not name a connector action: write <connector>.<action>, "
            "for example shop.create_discount",
            {"value": value},
        )
    return value


def _check_event(value: str) -> str:
    if len(value) > 200 or not _EVENT_RE.match(value):
        raise CodedValueError(
            DiagnosticCode.EVENT_NAME_INVALID,
            f"{value!r} is not an event name: write the name your systems send with track(), "
            "for example order.completed, without leading or trailing spaces",
            {"value": value},
        )
    return value


def _check_duration(value: str) -> str:
    parse_duration(value)
    return value


def _check_time_of_day(value: str) -> str:
    parse_time_of_day(value)
    return value


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        import difflib

        close = difflib.get_close_matches(value, sorted(available_timezones()), n=1)
        hint = f"did you mean {close[0]!r}?" if close else "for example 'Europe/Berlin' or 'UTC'"
        raise CodedValueError(
            DiagnosticCode.TIMEZONE_INVALID,
            f"{value!r} is not an IANA time zone: {hint}",
            {"value": value},
        ) from None
    return value


def _check_currency(value: str) -> str:
    if not (len(value) == 3 and value.isascii() and value.isalpha() and value.isupper()):
        raise CodedValueError(
            DiagnosticCode.CURRENCY_INVALID,
            f"{value!r} is not a currency code: write its three capital letters (ISO 4217), "
            "e.g. EUR, USD or GBP",
            {"value": value},
        )
    return value


def _check_customer_or_timezone(value: str) -> str:
    return value if value == "customer" else _check_timezone(value)


def _check_cron(value: str) -> str:
    fields = value.split()
    if len(fields) != 5 or any("R" in f for f in fields) or not croniter.is_valid(value):
        raise CodedValueError(
            DiagnosticCode.CRON_INVALID,
            f"{value!r} is not a cron schedule: write five fields 'minute hour day month "
            "weekday', for example '0 9 * * MON' (every Monday at 09:00)",
            {"value": value},
        )
    return value


def _string_schema(description: str, pattern: str | None = None, **extra: Any) -> WithJsonSchema:
    schema: dict[str, Any] = {"type": "string", "description": description, **extra}
    if pattern:
        schema["pattern"] = pattern
    return WithJsonSchema(schema)


Currency = Annotated[
    str,
    AfterValidator(_check_currency),
    _string_schema("An ISO 4217 currency code: EUR, USD, GBP.", r"^[A-Z]{3}$"),
]


StepId = Annotated[
    str,
    AfterValidator(_slug("step id", "send-reminder")),
    _string_schema("A step id: lower-case letters, digits, '-' and '_'.", SLUG_PATTERN),
]
# Names `cxflow report NAME` gives to the workspace's own reports, not to a journey.
RESERVED_JOURNEY_IDS = frozenset({"voc", "overview"})


def _not_reserved(value: str) -> str:
    if value in RESERVED_JOURNEY_IDS:
        raise CodedValueError(
            DiagnosticCode.NAME_RESERVED,
            f"{value!r} names a workspace report (`cxflow report {value}`): give the journey "
            f"another id, e.g. {value + '-journey'!r}",
            {"value": value},
        )
    return value


JourneyId = Annotated[
    str,
    AfterValidator(_slug("journey id", "abandoned-cart")),
    AfterValidator(_not_reserved),
    _string_schema("The journey id, unique in the workspace.", SLUG_PATTERN),
]
SegmentName = Annotated[
    str,
    AfterValidator(_slug("segment name", "vip")),
    _string_schema("A segment name, as declared in segments/.", SLUG_PATTERN),
]
ChannelName = Annotated[
    str,
    AfterValidator(_slug("channel name", "email")),
    _string_schema("A channel connector: email, social, sms, webhook, console...", SLUG_PATTERN),
]
TemplateName = Annotated[
    str,
    AfterValidator(_slug("template name", "cart-reminder")),
    _string_schema("A template file in templates/ (without the .yaml ending).", SLUG_PATTERN),
]
ExperimentKey = Annotated[
    str,
    AfterValidator(_slug("experiment key", "cart-offer-2026")),
    _string_schema(
        "The experiment key: with the customer id it decides the variant.", SLUG_PATTERN
    ),
]
VariableName = Annotated[
    str,
    AfterValidator(_check_identifier),
    _string_schema("A variable name for conditions and templates.", IDENTIFIER_PATTERN),
]
ActionRef = Annotated[
    str,
    AfterValidator(_check_action),
    _string_schema("A connector action: <connector>.<action>.", ACTION_PATTERN),
]
EventName = Annotated[
    str,
    AfterValidator(_check_event),
    _string_schema("An event name as sent with track(), e.g. order.completed.", EVENT_PATTERN),
]
Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    _string_schema("A duration: 30m, 1h, 2d, 1w, 1d12h.", DURATION_PATTERN),
]


def _check_signed_duration(value: str) -> str:
    try:
        parse_duration(value.removeprefix("-"))
    except CodedValueError as error:
        raise CodedValueError(
            error.code,
            f"{value!r} is not a duration: write one such as 2h, or -7d for before",
            error.context,
        ) from None
    return value


SignedDuration = Annotated[
    str,
    AfterValidator(_check_signed_duration),
    _string_schema(
        "A duration, before (-7d) or after (2h).", "^-?" + DURATION_PATTERN.removeprefix("^")
    ),
]
TimeOfDay = Annotated[
    str,
    AfterValidator(_check_time_of_day),
    _string_schema('A 24-hour time of day in quotes: "08:00".', TIME_OF_DAY_PATTERN),
]
TimeZoneName = Annotated[
    str,
    AfterValidator(_check_timezone),
    _string_schema("An IANA time zone, e.g. Europe/Berlin."),
]
CronExpression = Annotated[
    str,
    AfterValidator(_check_cron),
    _string_schema("A five-field cron schedule, e.g. '0 9 * * MON'."),
]
CelExpression = Annotated[
    str,
    _string_schema(
        "A CEL condition over event, customer, saved results and segment('name'), "
        "e.g. event.properties.total > 50 && segment('vip')."
    ),
]
LiquidText = Annotated[
    str,
    _string_schema("Liquid text, e.g. 'Hi {{ customer.first_name | default: \"there\" }}'."),
]
CustomerOrTimeZone = Annotated[
    str,
    AfterValidator(_check_customer_or_timezone),
    _string_schema("customer (each customer's own time zone) or an IANA time zone."),
]
