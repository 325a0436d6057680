"""The tables of the customer-data store, shared by SQLite and PostgreSQL.

Only the store (``engine.store``) reads and writes them; everything else sees
the pydantic records it returns. Constraint names follow one convention so
that the migrations added later can refer to them on both backends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

RUN_STATUSES = ("running", "completed", "exited", "failed")
MESSAGE_STATUSES = ("pending", "sent", "skipped", "failed")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite has no time zones: values are stored as UTC text and read back naive,
    so they are converted to UTC on the way in (which also keeps text order equal
    to time order) and marked UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: the store needs aware ones")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONDocument = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONDocument,
    }


class CustomerRow(Base):
    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    traits: Mapped[dict[str, Any]]
    timezone: Mapped[str | None] = mapped_column(String)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Set when this id was merged into another customer (engine.store.identities): its
    # calls, and runs still in flight under it, then read that customer's profile.
    merged_into: Mapped[str | None] = mapped_column(String, index=True)


class SegmentMembershipRow(Base):
    __tablename__ = "segment_memberships"

    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    segment: Mapped[str] = mapped_column(String, primary_key=True)
    entered_at: Mapped[datetime]

    __table_args__ = (Index(None, "segment"),)


class EventRow(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String, unique=True)
    customer_id: Mapped[str] = mapped_column(String)
    name: Mapped[str] = mapped_column(String)
    properties: Mapped[dict[str, Any]]
    timestamp: Mapped[datetime]
    received_at: Mapped[datetime]
    routed_at: Mapped[datetime | None]
    # Routing that failed for this event (not because Temporal was down): how often,
    # why (a code and a short reason, never the event's data), when to try again, and
    # when it was parked for an operator (`cxflow events failed`).
    route_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    route_error: Mapped[str | None] = mapped_column(Text)
    route_after: Mapped[datetime | None]
    route_failed_at: Mapped[datetime | None]
    # The call as sent: its Segment type, the ids it named (``customer_id`` is whom they
    # resolve to), its context and integrations, and the sender's clock readings.
    call_type: Mapped[str] = mapped_column(String, default="track", server_default="track")
    user_id: Mapped[str | None] = mapped_column(String)
    anonymous_id: Mapped[str | None] = mapped_column(String)
    context: Mapped[dict[str, Any] | None]
    integrations: Mapped[dict[str, Any] | None]
    sent_at: Mapped[datetime | None]
    original_timestamp: Mapped[datetime | None]

    __table_args__ = (
        Index(None, "customer_id", "name", "timestamp"),
        Index(None, "routed_at", "id"),
        Index(None, "route_failed_at"),
        Index(None, "user_id"),
        Index(None, "anonymous_id"),
    )


class JourneyVersionRow(Base):
    __tablename__ = "journey_versions"

    journey_id: Mapped[str] = mapped_column(String, primary_key=True)
    version: Mapped[str] = mapped_column(String, primary_key=True)
    compiled: Mapped[dict[str, Any]]
    source: Mapped[str | None] = mapped_column(Text)
    deployed_at: Mapped[datetime]
    active: Mapped[bool] = mapped_column(Boolean)

    # At most one active version per journey, enforced by the database.
    __table_args__ = (
        Index(
            "uq_journey_versions_active",
            "journey_id",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )


JOURNEY_STATUSES = ("active", "paused", "stopped")


class JourneyControlRow(Base):
    """An operator paused or stopped a journey (all its versions), or resumed it: no row is
    ``active``. The runtime reads it before every entry and every send
    (engine.runtime.controls)."""

    __tablename__ = "journey_controls"

    journey_id: Mapped[str] = mapped_column(String, primary_key=True)
    status: Mapped[str] = mapped_column(String)
    changed_at: Mapped[datetime]
    changed_by: Mapped[str] = mapped_column(String)

    __table_args__ = (CheckConstraint(_in("status", JOURNEY_STATUSES), name="status"),)


class RunRow(Base):
    __tablename__ = "runs"

    workflow_id: Mapped[str] = mapped_column(String, primary_key=True)
    run_id: Mapped[str] = mapped_column(String, primary_key=True)
    journey_id: Mapped[str] = mapped_column(String)
    version: Mapped[str] = mapped_column(String)
    customer_id: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)
    current_step: Mapped[str | None] = mapped_column(String)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    variant: Mapped[str | None] = mapped_column(String)
    exit_reason: Mapped[str | None] = mapped_column(Text)
    trigger_message_id: Mapped[str | None] = mapped_column(String)

    __table_args__ = (
        CheckConstraint(_in("status", RUN_STATUSES), name="status"),
        Index(None, "journey_id", "customer_id", "started_at"),
        Index(None, "customer_id", "started_at"),
        Index(None, "status"),
    )


class StepVisitRow(Base):
    """A run reached a step (first time only): what per-step funnels count.

    Keyed by the entry run id, with no customer column: it holds nothing personal.
    """

    __tablename__ = "step_visits"

    run_id: Mapped[str] = mapped_column(String, primary_key=True)
    step_id: Mapped[str] = mapped_column(String, primary_key=True)
    journey_id: Mapped[str] = mapped_column(String)
    first_at: Mapped[datetime]

    __table_args__ = (Index(None, "journey_id", "step_id"),)


class MessageRow(Base):
    __tablename__ = "message_log"

    key: Mapped[str] = mapped_column(String, primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String)
    step_id: Mapped[str] = mapped_column(String)
    channel: Mapped[str] = mapped_column(String)
    customer_id: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)
    detail: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    # The message's public reference: the SHA-256 (hex) of its key. Engagement (a
    # provider's webhook, a tracked click) names the message by it, never by the key.
    ref: Mapped[str | None] = mapped_column(String(64), unique=True)

    __table_args__ = (
        CheckConstraint(_in("status", MESSAGE_STATUSES), name="status"),
        Index(None, "customer_id", "status", "completed_at"),
        Index(None, "workflow_id"),
    )


class ExperimentAssignmentRow(Base):
    __tablename__ = "experiment_assignments"

    experiment: Mapped[str] = mapped_column(String, primary_key=True)
    customer_id: Mapped[str] = mapped_column(String, primary_key=True)
    variant: Mapped[str] = mapped_column(String)
    assigned_at: Mapped[datetime]


class ConversionRow(Base):
    __tablename__ = "conversions"

    run_id: Mapped[str] = mapped_column(String, primary_key=True)
    goal_event: Mapped[str] = mapped_column(String, primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String)
    journey_id: Mapped[str] = mapped_column(String)
    customer_id: Mapped[str] = mapped_column(String)
    message_id: Mapped[str] = mapped_column(String)
    variant: Mapped[str | None] = mapped_column(String)
    converted_at: Mapped[datetime]
    # The goal's `value` for this conversion (revenue), and its currency.
    value: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str | None] = mapped_column(String)
    # The message the conversion is attributed to (docs/analytics.md, attribution):
    # its ref, step and channel; none when no message was within its channel's window.
    attributed_ref: Mapped[str | None] = mapped_column(String(64))
    attributed_step: Mapped[str | None] = mapped_column(String)
    attributed_channel: Mapped[str | None] = mapped_column(String)

    __table_args__ = (Index(None, "journey_id", "converted_at"),)


class WriteKeyRow(Base):
    """An API key of one source (write or read); only its SHA-256 is kept, never the key."""

    __tablename__ = "write_keys"

    key_hash: Mapped[str] = mapped_column(String, primary_key=True)
    source: Mapped[str] = mapped_column(String)
    key_prefix: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime]
    # "write" sends events, "read" reads reports (see engine.api.auth).
    scope: Mapped[str] = mapped_column(String, default="write", server_default="write")

    __table_args__ = (Index(None, "source"),)


# --- segments (engine.segments) ------------------------------------------------------------


class SegmentDefinitionRow(Base):
    """A deployed segment: the compiled definition the engine evaluates, one row per segment."""

    __tablename__ = "segment_definitions"

    segment: Mapped[str] = mapped_column(String, primary_key=True)
    version: Mapped[str] = mapped_column(String)
    definition: Mapped[dict[str, Any]]
    source: Mapped[str | None] = mapped_column(Text)
    deployed_at: Mapped[datetime]


class SegmentChangeRow(Base):
    """A customer entered or left a segment: the history memberships alone do not keep."""

    __tablename__ = "segment_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    segment: Mapped[str] = mapped_column(String)
    change: Mapped[str] = mapped_column(String)
    at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("change IN ('entered', 'left')", name="change"),
        Index(None, "segment", "at"),
    )


class ConsentRow(Base):
    """A customer's consent decision for one channel (``*``: every channel): engine.privacy."""

    __tablename__ = "consents"

    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String, primary_key=True)
    subscribed: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String)
    updated_at: Mapped[datetime]


class ErasedCustomerRow(Base):
    """A customer erased on request, by the SHA-256 of their id only.

    Old links (unsubscribe, survey) carry the id; this lets them answer "no longer
    valid" instead of writing the customer back. The hash is not the id, and no other
    table links to it.
    """

    __tablename__ = "erased_customers"

    customer_hash: Mapped[str] = mapped_column(String, primary_key=True)
    erased_at: Mapped[datetime]


# --- identities and groups (engine.store.identities, engine.store.groups) ------------------

MERGE_STATUSES = ("merged", "reverted", "refused")


class CustomerMergeRow(Base):
    """One id joined to another (or refused): why, and what it moved, so it can be undone.

    ``snapshot`` holds what the merge changed (both profiles' traits and consents before,
    the memberships and assignments it moved); a reverted merge also stops the pair
    from being joined again automatically.
    """

    __tablename__ = "customer_merges"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    from_id: Mapped[str] = mapped_column(String, index=True)
    into_id: Mapped[str] = mapped_column(String, index=True)
    status: Mapped[str] = mapped_column(String)
    cause: Mapped[str] = mapped_column(String)
    message_id: Mapped[str | None] = mapped_column(String)
    reason: Mapped[str | None] = mapped_column(Text)
    snapshot: Mapped[dict[str, Any]]
    at: Mapped[datetime]
    reverted_at: Mapped[datetime | None]

    __table_args__ = (CheckConstraint(_in("status", MERGE_STATUSES), name="status"),)


class GroupRow(Base):
    """An account (a company, a household) named by ``group`` calls, with its traits."""

    __tablename__ = "groups"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    traits: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class GroupMembershipRow(Base):
    __tablename__ = "group_memberships"

    group_id: Mapped[str] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(String, primary_key=True)
    joined_at: Mapped[datetime]

    __table_args__ = (Index(None, "customer_id"),)


class SourceOriginRow(Base):
    """A web origin whose pages may send a source's events from a browser (CORS)."""

    __tablename__ = "source_origins"

    source: Mapped[str] = mapped_column(String, primary_key=True)
    origin: Mapped[str] = mapped_column(String, primary_key=True)
    created_at: Mapped[datetime]


class ConsentChangeRow(Base):
    """A consent decision that changed what was stored: the history ``consents`` lacks."""

    __tablename__ = "consent_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String, index=True)
    channel: Mapped[str] = mapped_column(String)
    subscribed: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String)
    at: Mapped[datetime]


# --- message engagement, suppressions and customer value ------------------------------------

ENGAGEMENT_KINDS = ("delivered", "bounced", "complained", "opened", "clicked")
SUPPRESSION_REASONS = ("hard_bounce", "spam_complaint", "manual")


class MessageEngagementRow(Base):
    """What happened to a sent message: delivered, bounced, complained, opened, clicked.

    One row per signal, deduplicated on ``dedupe_key`` (the provider's event id, or the
    signed link and the time): a provider's retry or a double click adds nothing. The
    journey, step and channel are copied from the message log so reports need no join.
    """

    __tablename__ = "message_engagement"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String, unique=True)
    message_ref: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String)
    customer_id: Mapped[str] = mapped_column(String, index=True)
    journey_id: Mapped[str] = mapped_column(String)
    step_id: Mapped[str] = mapped_column(String)
    channel: Mapped[str] = mapped_column(String)
    detail: Mapped[dict[str, Any]]
    at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint(_in("kind", ENGAGEMENT_KINDS), name="kind"),
        Index(None, "journey_id", "step_id", "kind"),
    )


class SuppressionRow(Base):
    """An address nothing more is sent to on a channel: it hard-bounced, complained, or an
    operator said so. Keyed by the address, not the customer: a customer who gives a new
    address can be reached there. ``address`` is the SHA-256 (hex) of the address stripped
    and lower-cased (engine.store.engagement.address_hash), never the address itself, so a
    suppression survives the customer's erasure (which clears ``customer_id``) without
    keeping personal data."""

    __tablename__ = "suppressions"

    channel: Mapped[str] = mapped_column(String, primary_key=True)
    address: Mapped[str] = mapped_column(String, primary_key=True)
    reason: Mapped[str] = mapped_column(String)
    customer_id: Mapped[str | None] = mapped_column(String, index=True)
    message_ref: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String)
    detail: Mapped[dict[str, Any]]
    at: Mapped[datetime]

    __table_args__ = (CheckConstraint(_in("reason", SUPPRESSION_REASONS), name="reason"),)


class CustomerValueRow(Base):
    """A customer's lifetime order figures, kept current from ``order.completed`` events."""

    __tablename__ = "customer_value"

    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    orders: Mapped[int] = mapped_column(Integer)
    revenue: Mapped[float] = mapped_column(Float)
    currency: Mapped[str | None] = mapped_column(String)
    first_order_at: Mapped[datetime | None]
    last_order_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


# --- the console's accounts (engine.store.users) ------------------------------------------

ROLES = ("viewer", "operator", "admin")


class ConsoleUserRow(Base):
    """A person who may log in to the console, with a role; only a password's argon2id hash
    is kept."""

    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String, unique=True)
    name: Mapped[str] = mapped_column(String)
    role: Mapped[str] = mapped_column(String)
    password_hash: Mapped[str] = mapped_column(String)
    disabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]

    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)


class ConsoleSessionRow(Base):
    """A console login: the sha256 of the cookie's token (the token itself is never kept), its
    CSRF token, and when it ends. Logging out, disabling the account or changing its password
    deletes the rows, so a stolen cookie dies with them."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("console_users.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime]
    seen_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AuditRow(Base):
    """An operator's action (a user created or disabled, a journey paused, a test send):
    who, what, on what, when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String)
    action: Mapped[str] = mapped_column(String)
    target: Mapped[str] = mapped_column(String)
    detail: Mapped[dict[str, Any]]
