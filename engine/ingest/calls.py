"""The calls the intake takes: Segment's whole tracking spec, checked field by field.

Emitting systems that already speak Segment (its libraries, or a Segment
destination) send these shapes unchanged: camelCase fields, a customer named by
``userId`` and/or ``anonymousId``, and a ``messageId`` that makes retries idempotent.
``track``, ``identify``, ``page``, ``screen``, ``group`` and ``alias`` are each stored
as an event (page and screen as ``page.viewed`` and ``screen.viewed``); fields cxflow
does not use (``channel``, ``receivedAt``, ...) are accepted and ignored. The event API
takes them as request bodies; connectors' routes submit theirs through
:class:`engine.ingest.intake.Intake`, checked by these same models.

The bounds are the runtime's: a customer id becomes part of a Temporal workflow
id (``journey:<journey>:<customer>``, at most 255 bytes), and everything stored
must be storable on PostgreSQL too (no NUL characters, no NaN).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from engine.privacy.consent import check_traits as check_consent_traits

MAX_CUSTOMER_ID = 200
MAX_EVENT_NAME = 200
MAX_MESSAGE_ID = 255
IDENTIFY_EVENT = "identify"
PAGE_EVENT = "page.viewed"
SCREEN_EVENT = "screen.viewed"
ALIAS_EVENT = "alias"
# The largest number a property or trait may hold: 2^53 - 1, exact in every JSON reader
# (JavaScript's Number.MAX_SAFE_INTEGER), in CEL's int64 and in the store's double sums.
MAX_SAFE_NUMBER = 2**53 - 1
# Explicit classes rather than \S and `.`, whose meaning differs between Python, Rust
# (pydantic-core) and ECMAScript (JSON Schema) regular expressions.
EVENT_NAME_PATTERN = r"^[^ \t\n\r\f\v](?:[^\n\r]*[^ \t\n\r\f\v])?$"

# Error types the API turns into friendlier answers (see engine.api.problems).
CUSTOMER_ID_MISSING = "customer_id_missing"
CALL_TOO_LARGE = "call_too_large"


def _storable_text(value: str, what: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError("text_nul", f"{what} must not contain NUL (\\u0000) characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError(
            "text_surrogate", f"{what} must be valid Unicode (it holds a lone surrogate)"
        ) from None
    return value


def _text(value: str) -> str:
    return _storable_text(value, "text")


def _customer_id(value: str) -> str:
    _storable_text(value, "the customer id")
    if len(value.encode("utf-8")) > MAX_CUSTOMER_ID:
        raise PydanticCustomError(
            "customer_id_too_long",
            f"the customer id must be at most {MAX_CUSTOMER_ID} bytes in UTF-8: it becomes "
            "part of Temporal workflow ids, which are capped at 255",
        )
    return value


def _json_document(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    """Check that every key and value can be stored, summed and compared on every backend.

    The field's path is the object's (``properties``); the message starts with where
    inside it the problem is (``items[0].price``).
    """
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, where = stack.pop()
        at = f"{where}: " if where else ""
        if isinstance(item, dict):
            for key, inner in item.items():
                _storable_text(key, "keys")
                stack.append((inner, f"{where}.{key}" if where else str(key)))
        elif isinstance(item, list):
            stack.extend((inner, f"{where}[{index}]") for index, inner in enumerate(item))
        elif isinstance(item, str):
            _storable_text(item, "strings")
        elif isinstance(item, float) and not math.isfinite(item):
            raise PydanticCustomError(
                "number_not_finite", f"{at}numbers must be finite: NaN and Infinity are not JSON"
            )
        elif (
            isinstance(item, int | float)
            and not isinstance(item, bool)
            and abs(item) > MAX_SAFE_NUMBER
        ):
            raise PydanticCustomError(
                "number_too_large",
                f"{at}numbers must be between -{MAX_SAFE_NUMBER} and {MAX_SAFE_NUMBER} "
                "(2^53 - 1, what JSON readers, conditions and the store's sums hold exactly): "
                "send a larger value as a string",
            )
    return value


def _iso_timestamp(value: object) -> object:
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "timestamp_type", "write the time as an ISO 8601 string, e.g. 2024-05-01T12:00:00Z"
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError(
            "timestamp_format",
            "not an ISO 8601 time: write e.g. 2024-05-01T12:00:00Z or 2024-05-01T14:00:00+02:00",
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise PydanticCustomError(
            "timestamp_naive",
            "the time has no UTC offset: add one, e.g. 2024-05-01T12:00:00Z or "
            "2024-05-01T14:00:00+02:00",
        )
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "timestamp_range", "the time is out of range once converted to UTC"
        ) from None


def _id_text(value: object) -> object:
    """A numeric id (analytics.js sends ``userId: 42`` as given) becomes its digits."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 42.0 is the JSON integer 42
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_SAFE_NUMBER:
            raise PydanticCustomError(
                "customer_id_too_large", "a numeric id must be within 2^53 - 1: send it as text"
            )
        return str(value)
    return value


# An id as the SDKs send it: text, or a whole number (analytics.js's `userId: 42`).
_ID_SCHEMA: JsonDict = {
    "anyOf": [
        {"type": "string", "minLength": 1, "maxLength": MAX_CUSTOMER_ID},
        {"type": "integer", "minimum": -MAX_SAFE_NUMBER, "maximum": MAX_SAFE_NUMBER},
    ]
}

CustomerId = Annotated[
    str,
    BeforeValidator(_id_text),
    StringConstraints(min_length=1, max_length=MAX_CUSTOMER_ID),
    AfterValidator(_customer_id),
    WithJsonSchema(_ID_SCHEMA),
]
MessageId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_MESSAGE_ID),
    AfterValidator(_text),
    Field(
        description="Unique id of this call, chosen by the sender (a UUID): a call sent again "
        "with the same messageId is accepted and changes nothing. Generated when left out, "
        "which makes retries unsafe."
    ),
]
EventName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_EVENT_NAME, pattern=EVENT_NAME_PATTERN),
    AfterValidator(_text),
    Field(
        description="What happened, e.g. `cart.updated`: journeys trigger and wait on this "
        "name. No leading or trailing spaces, no line breaks.",
        examples=["cart.updated"],
    ),
]
JsonObject = Annotated[dict[str, JsonValue], AfterValidator(_json_document)]
Timestamp = Annotated[
    datetime | None,
    BeforeValidator(_iso_timestamp),
    Field(
        description="When it happened: ISO 8601 with a UTC offset. The time the API received "
        "the call when left out."
    ),
]

_CUSTOMER_REQUIRED: JsonDict = {
    "anyOf": [
        {"required": ["userId"], "properties": {"userId": {"not": {"type": "null"}}}},
        {"required": ["anonymousId"], "properties": {"anonymousId": {"not": {"type": "null"}}}},
    ]
}


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, validate_by_name=True)


class CallBase(ApiModel):
    """What every call carries: who (userId or anonymousId), an id, a time and a context."""

    user_id: CustomerId | None = Field(
        default=None,
        alias="userId",
        description="Your id of the customer. This or anonymousId is required; userId wins "
        "when both are sent.",
    )
    anonymous_id: CustomerId | None = Field(
        default=None,
        alias="anonymousId",
        description="An id for a visitor not identified yet (used when userId is absent).",
    )
    message_id: MessageId | None = Field(default=None, alias="messageId")
    timestamp: Timestamp = None
    original_timestamp: Timestamp = Field(
        default=None,
        alias="originalTimestamp",
        description="When it happened by the sender's clock; with sentAt, corrected for "
        "that clock's skew (see sentAt).",
    )
    sent_at: Timestamp = Field(
        default=None,
        alias="sentAt",
        description="When the sender sent the call, by its own clock. With it, the stored "
        "time is receivedAt - (sentAt - originalTimestamp or timestamp): a device whose "
        "clock is off still records the right time, and a backfill keeps its dates.",
    )
    context: JsonObject | None = Field(
        default=None,
        description="Segment's context object (library, ip, page, timezone, traits...): "
        "stored with the event; `timezone` sets the customer's, `traits` are identify's "
        "traits when the call has none of its own.",
    )
    integrations: JsonObject | None = Field(
        default=None,
        description="Which destinations the call is for (Segment's `integrations`): "
        "stored with the event, not acted on.",
    )

    @model_validator(mode="after")
    def _has_customer(self) -> CallBase:
        if self.user_id is None and self.anonymous_id is None:
            raise PydanticCustomError(
                CUSTOMER_ID_MISSING,
                "name the customer: send userId (your id of the customer), or anonymousId "
                "for a visitor not identified yet",
            )
        return self

    @property
    def customer_id(self) -> str:
        """userId, else anonymousId."""
        customer = self.user_id if self.user_id is not None else self.anonymous_id
        assert customer is not None  # checked by _has_customer
        return customer


class TrackCall(CallBase):
    """A `track` call: the customer did something."""

    model_config = ConfigDict(json_schema_extra=_CUSTOMER_REQUIRED)

    type: Literal["track"] = Field(
        default="track", description="`track`; required inside a batch, optional on /v1/track."
    )
    event: EventName
    properties: JsonObject = Field(
        default_factory=dict,
        description="Facts about the event, a JSON object: journeys read them as "
        "`event.properties`.",
    )


class IdentifyCall(CallBase):
    """An `identify` call: who the customer is (traits merge into the profile)."""

    model_config = ConfigDict(json_schema_extra=_CUSTOMER_REQUIRED)

    type: Literal["identify"] = Field(
        default="identify",
        description="`identify`; required inside a batch, optional on /v1/identify.",
    )
    traits: JsonObject = Field(
        default_factory=dict,
        description="Profile fields, a JSON object, merged shallowly into the stored ones. "
        "`timezone` (an IANA name such as Europe/Paris) also sets the customer's time zone. "
        "Consent is not a profile field: `subscriptions` ({channel: true|false}) and "
        "`unsubscribed` (true|false, every channel) set it and are not stored as traits.",
    )

    _consent_readable = field_validator("traits")(check_consent_traits)

    @model_validator(mode="before")
    @classmethod
    def _traits_in_context(cls, data: Any) -> Any:
        """RudderStack's SDKs send identify traits in ``context.traits``: read them there."""
        if isinstance(data, dict) and not data.get("traits"):
            context = data.get("context")
            if isinstance(context, dict) and isinstance(context.get("traits"), dict):
                return {**data, "traits": context["traits"]}
        return data


GroupId = Annotated[
    str,
    BeforeValidator(_id_text),
    StringConstraints(min_length=1, max_length=MAX_CUSTOMER_ID),
    AfterValidator(_text),
    WithJsonSchema(_ID_SCHEMA),
]
ViewName = Annotated[str, StringConstraints(max_length=MAX_EVENT_NAME), AfterValidator(_text)]


class PageCall(CallBase):
    """A `page` call: the customer viewed a web page (stored as `page.viewed`)."""

    model_config = ConfigDict(json_schema_extra=_CUSTOMER_REQUIRED)

    type: Literal["page"] = Field(
        default="page", description="`page`; required inside a batch, optional on /v1/page."
    )
    name: ViewName | None = Field(default=None, description="The page's name, e.g. `Pricing`.")
    category: ViewName | None = Field(default=None, description="Its category, e.g. `Docs`.")
    properties: JsonObject = Field(
        default_factory=dict,
        description="url, path, title, referrer, search...: journeys read them as "
        "`event.properties`, with `name` and `category` added.",
    )


class ScreenCall(PageCall):
    """A `screen` call: the customer viewed an app screen (stored as `screen.viewed`)."""

    type: Literal["screen"] = Field(  # type: ignore[assignment]
        default="screen",
        description="`screen`; required inside a batch, optional on /v1/screen.",
    )


class GroupCall(CallBase):
    """A `group` call: the customer belongs to a group (an account, a company)."""

    model_config = ConfigDict(json_schema_extra=_CUSTOMER_REQUIRED)

    type: Literal["group"] = Field(
        default="group", description="`group`; required inside a batch, optional on /v1/group."
    )
    group_id: GroupId = Field(alias="groupId", description="Your id of the group.")
    traits: JsonObject = Field(
        default_factory=dict,
        description="The group's traits (name, plan, employees...), merged into the stored ones.",
    )


class AliasCall(CallBase):
    """An `alias` call: ``previousId`` (an anonymous id, or an older user id) is ``userId``.

    The previous id's profile and history join the user's, by the merge rules of
    docs/api.md.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [{"required": ["userId"], "properties": {"userId": {"not": {"type": "null"}}}}]
        }
    )

    type: Literal["alias"] = Field(
        default="alias", description="`alias`; required inside a batch, optional on /v1/alias."
    )
    previous_id: CustomerId = Field(
        alias="previousId", description="The id the customer was known by until now."
    )

    @model_validator(mode="after")
    def _names_the_user(self) -> AliasCall:
        if self.user_id is None:
            raise PydanticCustomError(
                CUSTOMER_ID_MISSING,
                "an alias call needs userId: the id previousId is to be known by from now",
            )
        return self


AnyCall = TrackCall | IdentifyCall | PageCall | ScreenCall | GroupCall | AliasCall


def corrected_time(
    call: CallBase, received: datetime, batch_sent_at: datetime | None = None
) -> datetime:
    """When the call happened, corrected for the sender's clock (Segment's rule).

    With ``sentAt`` (the call's, else the batch's): receivedAt - (sentAt - the sender's
    time of the event); without it, the sender's time as given; without either, now.
    """
    at = call.original_timestamp or call.timestamp
    sent = call.sent_at or batch_sent_at
    if at is None:
        return received
    if sent is None:
        return at
    try:
        return received - (sent - at)
    except OverflowError:
        return at
