"""What the store returns: frozen pydantic records (never ORM rows), their Literal types
and the status constants the store checks."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict

from connectors.inbound import EngagementKind
from engine.privacy.consent import ConsentRecord

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
    """A profile. ``aliases`` are the ids merged into it (their calls resolve here)."""

    id: str
    traits: dict[str, Any]
    timezone: str | None
    segments: list[str]
    created_at: AwareDatetime
    updated_at: AwareDatetime
    aliases: list[str] = []


CallType = Literal["track", "identify", "page", "screen", "group", "alias"]
MergeStatus = Literal["merged", "reverted", "refused"]


class EventRecord(Record):
    """A stored call. ``customer_id`` is whom its ids resolve to; ``user_id`` and
    ``anonymous_id`` are the ids the call itself named."""

    message_id: str
    customer_id: str
    name: str
    properties: dict[str, Any]
    timestamp: AwareDatetime
    received_at: AwareDatetime
    call_type: CallType = "track"
    user_id: str | None = None
    anonymous_id: str | None = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
    sent_at: AwareDatetime | None = None
    original_timestamp: AwareDatetime | None = None


class IncomingCall(Record):
    """A call to store: the event, and what its type changes beside it.

    ``traits`` (identify), ``group_id``/``group_traits`` (group) and ``previous_id``
    (alias) are written in the event's transaction; ``event.customer_id`` is set by
    the store from the ids once resolved.
    """

    event: EventRecord
    traits: dict[str, Any] | None = None
    timezone: str | None = None
    group_id: str | None = None
    group_traits: dict[str, Any] | None = None
    previous_id: str | None = None


class MergeRecord(Record):
    """One id joined to another customer, or a join refused, and why."""

    id: int
    from_id: str
    into_id: str
    status: MergeStatus
    cause: str
    message_id: str | None
    reason: str | None
    at: AwareDatetime
    reverted_at: AwareDatetime | None


class StoredCall(Record):
    """What storing one call did: whether it was new, whom it resolved to, any merge."""

    new: bool
    customer_id: str
    merge: MergeRecord | None = None


class GroupRecord(Record):
    """An account a customer belongs to, with its traits."""

    id: str
    traits: dict[str, Any]
    joined_at: AwareDatetime | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime


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


JourneyStatus = Literal["active", "paused", "stopped"]


class JourneyControlRecord(Record):
    """A journey's operational status (all versions): ``active`` unless an operator paused
    or stopped it; who changed it last and when (None for a journey never changed)."""

    journey_id: str
    status: JourneyStatus = "active"
    changed_at: AwareDatetime | None = None
    changed_by: str | None = None


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
    ref: str | None = None


class EngagementRecord(Record):
    """One signal about a sent message (engine.store.engagement); journey, step and channel
    are the message's."""

    id: int
    dedupe_key: str
    message_ref: str
    kind: EngagementKind
    customer_id: str
    journey_id: str
    step_id: str
    channel: str
    detail: dict[str, Any]
    at: AwareDatetime


SuppressionReason = Literal["hard_bounce", "spam_complaint", "manual"]
SUPPRESSION_REASONS: tuple[SuppressionReason, ...] = get_args(SuppressionReason)


class SuppressionRecord(Record):
    """An address nothing more is sent to on a channel. ``address`` is the SHA-256 (hex) of
    the address stripped and lower-cased, never the address; ``customer_id`` is gone once the
    customer is erased."""

    channel: str
    address: str
    reason: SuppressionReason
    customer_id: str | None
    message_ref: str | None
    source: str
    detail: dict[str, Any]
    at: AwareDatetime


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
    value: float | None = None
    currency: str | None = None
    # The message it is attributed to (docs/analytics.md): ref, step and channel.
    attributed_ref: str | None = None
    attributed_step: str | None = None
    attributed_channel: str | None = None


# --- profiles and timelines (engine.store.profiles) -----------------------------------------

TimelineKind = Literal[
    "event",
    "page",
    "identify",
    "group",
    "alias",
    "message",
    "journey",
    "segment",
    "consent",
    "survey",
    "merge",
]
TIMELINE_KINDS: tuple[TimelineKind, ...] = get_args(TimelineKind)


class Identity(Record):
    """An id that stands for the customer: their own, an anonymous id, a merged-away one."""

    id: str
    kind: Literal["user", "anonymous", "merged"]


class SegmentMembership(Record):
    segment: str
    entered_at: AwareDatetime


class Assignment(Record):
    experiment: str
    variant: str
    assigned_at: AwareDatetime


class JourneyRun(Record):
    """One run of a journey: where it is, or how it ended."""

    journey_id: str
    workflow_id: str
    status: RunStatus
    current_step: str | None
    variant: str | None
    started_at: AwareDatetime
    ended_at: AwareDatetime | None
    exit_reason: str | None


class SurveyAnswer(Record):
    at: AwareDatetime
    survey: str | None
    score: float | None
    comment: str | None


class Lifetime(Record):
    """Figures over the customer's whole history."""

    first_seen: AwareDatetime
    last_seen: AwareDatetime | None
    events: int
    page_views: int
    orders: int
    revenue: float
    messages_sent: int


class CustomerValue(Record):
    """A customer's lifetime order figures (engine.store.customer_value, whose docstring
    defines each); all zero or none for a customer who never ordered."""

    orders: int = 0
    revenue: float = 0.0
    currency: str | None = None
    aov: float | None = None
    first_order_at: AwareDatetime | None = None
    last_order_at: AwareDatetime | None = None
    days_between_orders: float | None = None
    repeat: bool = False


class CustomerProfile(Record):
    """Everything cxflow knows of a customer, on one page (``GET /v1/customers/{id}``)."""

    id: str
    traits: dict[str, Any]
    timezone: str | None
    identities: list[Identity]
    groups: list[GroupRecord]
    segments: list[SegmentMembership]
    consents: list[ConsentRecord]
    experiments: list[Assignment]
    journeys: list[JourneyRun]
    surveys: list[SurveyAnswer]
    merges: list[MergeRecord]
    lifetime: Lifetime
    value: CustomerValue = CustomerValue()
    created_at: AwareDatetime
    updated_at: AwareDatetime
    # Suppressed addresses of the customer (hashed: engine.store.engagement) and, per kind
    # of signal, how many of their messages had at least one.
    suppressions: list[SuppressionRecord] = []
    engagement: dict[EngagementKind, int] = {}


class TimelineEntry(Record):
    """One thing that happened to or by the customer."""

    kind: TimelineKind
    at: AwareDatetime
    id: str
    title: str
    channel: str | None = None
    journey_id: str | None = None
    data: dict[str, Any] = {}


class TimelinePage(Record):
    """Entries newest first; pass ``next_cursor`` back for the next (older) page."""

    customer_id: str
    entries: list[TimelineEntry]
    next_cursor: str | None


class CustomerMatch(Record):
    """A customer found by a search."""

    id: str
    email: str | None
    name: str | None
    updated_at: AwareDatetime


# --- the console's accounts (engine.store.users) ------------------------------------------


class ConsoleSessionRecord(Record):
    """A console login, without its token (only the token's hash is stored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    token_hash: str
    user_id: int
    csrf_token: str
    created_at: AwareDatetime
    seen_at: AwareDatetime
    expires_at: AwareDatetime


class ConsoleUserRecord(Record):
    """A console account, without its password hash."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: int
    email: str
    name: str
    role: Literal["viewer", "operator", "admin"]
    disabled: bool
    created_at: AwareDatetime
    updated_at: AwareDatetime
    last_login_at: AwareDatetime | None


class AuditRecord(Record):
    """One action an operator took."""

    id: int
    at: AwareDatetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
