"""The customer-data store: customers, events, journeys, runs, messages and experiments.

Temporal activities (in threads) and the CLI share it, so every method is one
short transaction and every write that a retried activity may repeat is
idempotent: inserts that must happen once use ``INSERT ... ON CONFLICT DO
NOTHING`` and then read what is stored. It runs on an embedded SQLite file
(the default) or on PostgreSQL; callers only ever see the frozen pydantic
records defined here, never ORM objects.
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, JsonValue, TypeAdapter, ValidationError
from sqlalchemy import (
    ColumnElement,
    Engine,
    and_,
    case,
    create_engine,
    delete,
    event,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, CursorResult, Result, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql import Executable

from dsl.compiled import CompiledJourney
from dsl.segment_models import AggregateSpec, CompiledSegment, dump_segment
from engine.privacy.consent import ConsentError, ConsentRecord, clamp, consent_from_traits
from engine.segments.records import SegmentChangeRecord, SegmentDecider, SegmentSummaryRecord
from engine.store.migrate import SchemaError, upgrade
from engine.store.tables import (
    Base,
    ConsentRow,
    ConversionRow,
    CustomerRow,
    EventRow,
    ExperimentAssignmentRow,
    JourneyVersionRow,
    MessageRow,
    RunRow,
    SegmentChangeRow,
    SegmentDefinitionRow,
    SegmentMembershipRow,
    StepVisitRow,
    WriteKeyRow,
)

RunStatus = Literal["running", "completed", "exited", "failed"]
KeyScope = Literal["write", "read"]
KEY_SCOPES: tuple[KeyScope, ...] = ("write", "read")
MessageStatus = Literal["pending", "sent", "skipped", "failed"]

FINISHED_RUN_STATUSES = ("completed", "exited", "failed")
COMPLETED_MESSAGE_STATUSES = ("sent", "skipped", "failed")

SQLITE_BUSY_TIMEOUT_MS = 30_000
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
WRITE_KEY_PREFIX = "cxk_"
_WRITE_KEY = re.compile(r"^cxk_[A-Za-z0-9_-]{32}$")
_JSON_OBJECT: TypeAdapter[dict[str, JsonValue]] = TypeAdapter(dict[str, JsonValue])


class StoreError(Exception):
    """The store cannot be opened or was used wrongly; the message says what to do."""


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


# --- opening the store ----------------------------------------------------------------------


def _parse_url(url: str) -> URL:
    """The URL with its driver made explicit; only SQLite files and PostgreSQL are supported."""
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise StoreError(f"cannot open the store at {url!r}: {error}") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:") or "mode=memory" in str(parsed):
            raise StoreError(
                f"cannot open the store at {_shown(parsed)}: an in-memory SQLite database is "
                "not shared between threads; use a file, e.g. sqlite:///.cxflow/cxflow.db"
            )
        return parsed
    raise StoreError(
        f"cannot open the store at {_shown(parsed)}: the {backend!r} backend is not supported; "
        "use sqlite:///path/to/file.db or postgresql+psycopg://user@host/db"
    )


def _shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _prepare_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and a write lock taken when a write begins.

    Python's sqlite3 module begins transactions lazily, so a read-then-write
    transaction would try to upgrade its lock and fail at once with "database is
    locked" under concurrency. cxflow emits BEGIN itself instead: BEGIN IMMEDIATE
    for writing sessions (they queue on the busy timeout), plain BEGIN for reads.
    """

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        writing = connection.get_execution_options().get("cxflow_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise StoreError(f"{what} must be a timezone-aware datetime, got {value.isoformat()}")
    return value.astimezone(UTC)


def _json_object(value: dict[str, Any], what: str) -> dict[str, Any]:
    try:
        return dict(_JSON_OBJECT.validate_python(value, strict=True))
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise StoreError(f"{what} must be JSON values: {where}: {problem['msg']}") from None


ERASED_PREFIX = "erased-"
# What erasing a customer deletes (children first), and the tables it pseudonymises
# instead; a test checks that every table with a customer column is in one of them.
_ERASED_ROWS: tuple[tuple[type[Base], InstrumentedAttribute[str]], ...] = (
    (SegmentMembershipRow, SegmentMembershipRow.customer_id),
    (ConsentRow, ConsentRow.customer_id),
    (SegmentChangeRow, SegmentChangeRow.customer_id),
    (EventRow, EventRow.customer_id),
    (CustomerRow, CustomerRow.id),
)
PSEUDONYMISED_TABLES = ("runs", "message_log", "conversions", "experiment_assignments")
ERASED_TABLES = tuple(table.__tablename__ for table, _ in _ERASED_ROWS)


def _rowcount(result: Result[Any]) -> int:
    """Rows a DELETE or UPDATE touched."""
    return max(cast(CursorResult[Any], result).rowcount, 0)


def _key_hash(key: str) -> str:
    """Keys are 192 random bits, so a plain SHA-256 is enough: no salt or slow hash needed."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise StoreError(f"limit must be at least 1, got {limit}")


def _check_timezone(timezone: str) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise StoreError(
            f"unknown timezone {timezone!r}: use an IANA name such as Europe/Paris"
        ) from None


def _check_status(status: str, allowed: tuple[str, ...], what: str) -> None:
    if status not in allowed:
        raise StoreError(f"{what} status must be one of {', '.join(allowed)}; got {status!r}")


# --- rows to records ------------------------------------------------------------------------


def _event(row: EventRow) -> EventRecord:
    return EventRecord.model_validate(row, from_attributes=True)


def _run(row: RunRow) -> RunRecord:
    return RunRecord.model_validate(row, from_attributes=True)


def _message(row: MessageRow) -> MessageRecord:
    return MessageRecord.model_validate(row, from_attributes=True)


def _conversion(row: ConversionRow) -> ConversionRecord:
    return ConversionRecord.model_validate(row, from_attributes=True)


def _journey(row: JourneyVersionRow) -> CompiledJourney:
    return CompiledJourney.model_validate(row.compiled)


class Store:
    """The customer-data store on one database; safe to share between threads."""

    def __init__(self, url: str, *, search_path: str | None = None) -> None:
        """Create the engine (no connection yet, no tables).

        ``search_path`` (PostgreSQL only) puts the tables in that schema, which
        must exist: tests use it to get a private schema each.
        """
        parsed = _parse_url(url)
        self.url = _shown(parsed)
        self._sqlite = parsed.get_backend_name() == "sqlite"
        connect_args: dict[str, Any] = {}
        if search_path is not None:
            if self._sqlite:
                raise StoreError("search_path is a PostgreSQL setting; SQLite has no schemas")
            if not _SCHEMA_NAME.match(search_path):
                raise StoreError(f"search_path must be a plain schema name, got {search_path!r}")
            connect_args["options"] = f"-csearch_path={search_path}"
        try:
            self._engine = create_engine(
                parsed, connect_args=connect_args, pool_pre_ping=not self._sqlite
            )
        except (ArgumentError, NoSuchModuleError, ImportError) as error:
            raise StoreError(f"cannot open the store at {self.url}: {error}") from None
        if self._sqlite:
            _prepare_sqlite(self._engine)
        self._database = parsed.database
        # Same pool; on SQLite the option makes a transaction begin with the write lock.
        self._write_engine = self._engine.execution_options(cxflow_write=True)
        self._reads = sessionmaker(self._engine, expire_on_commit=False)
        self._writes = sessionmaker(self._write_engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, search_path: str | None = None) -> Store:
        """A store with its tables created."""
        store = cls(url, search_path=search_path)
        try:
            store.migrate()
        except BaseException:
            store.dispose()
            raise
        return store

    def migrate(self) -> None:
        """Bring the schema to the newest migration (see engine.store.migrate)."""
        try:
            if self._sqlite and self._database:
                database = Path(self._database)
                database.parent.mkdir(parents=True, exist_ok=True)
                # A new file's first connections race to switch it to WAL, which SQLite
                # refuses at once ("database is locked"): openers on this machine queue.
                with database.with_name(database.name + ".lock").open("a") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    upgrade(self._write_engine)
            else:
                upgrade(self._write_engine)
        except SchemaError as error:
            raise StoreError(f"cannot open the store at {self.url}: {error}") from None
        except (SQLAlchemyError, OSError) as error:
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            raise StoreError(f"cannot open the store at {self.url}: {reason}") from None

    def dispose(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    def _insert_ignore(
        self, session: Session, table: type[Base], keys: list[str], **values: Any
    ) -> bool:
        """Insert one row unless one with the same ``keys`` exists; True if inserted.

        ON CONFLICT DO NOTHING makes concurrent inserts of one key safe: exactly
        one wins and the others wait for it, then do nothing, without an error.
        """
        statement: Executable
        if self.dialect == "postgresql":
            statement = (
                postgresql.insert(table)
                .values(**values)
                .on_conflict_do_nothing(index_elements=keys)
                .returning(literal_column("1"))
            )
        else:
            statement = (
                sqlite.insert(table)
                .values(**values)
                .on_conflict_do_nothing(index_elements=keys)
                .returning(literal_column("1"))
            )
        # RETURNING, not rowcount: psycopg reports -1 for these inserts.
        return session.execute(statement).first() is not None

    # --- customers --------------------------------------------------------------------------

    def _locked_customer(self, session: Session, customer_id: str, now: datetime) -> CustomerRow:
        """The customer row, created when missing, locked until the transaction ends.

        Inserting first gives FOR UPDATE a row to lock even for a new customer,
        so concurrent trait updates queue instead of losing each other's writes.
        """
        self._insert_ignore(
            session,
            CustomerRow,
            ["id"],
            id=customer_id,
            traits={},
            timezone=None,
            created_at=now,
            updated_at=now,
        )
        statement = select(CustomerRow).where(CustomerRow.id == customer_id).with_for_update()
        return session.execute(statement).scalar_one()

    def _customer(self, session: Session, row: CustomerRow) -> CustomerRecord:
        segments = session.scalars(
            select(SegmentMembershipRow.segment)
            .where(SegmentMembershipRow.customer_id == row.id)
            .order_by(SegmentMembershipRow.segment)
        ).all()
        return CustomerRecord(
            id=row.id,
            traits=row.traits,
            timezone=row.timezone,
            segments=list(segments),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def upsert_customer(
        self,
        customer_id: str,
        traits: dict[str, Any] | None = None,
        timezone: str | None = None,
    ) -> CustomerRecord:
        """Create or update a customer: traits merge shallowly, a None timezone keeps the old."""
        new_traits = _json_object(traits or {}, "traits")
        if timezone is not None:
            _check_timezone(timezone)
        with self._writes.begin() as session:
            now = _now()
            row = self._locked_customer(session, customer_id, now)
            row.traits = {**row.traits, **new_traits}
            if timezone is not None:
                row.timezone = timezone
            row.updated_at = now
            session.flush()
            return self._customer(session, row)

    def get_customer(self, customer_id: str) -> CustomerRecord | None:
        with self._reads.begin() as session:
            row = session.get(CustomerRow, customer_id)
            return None if row is None else self._customer(session, row)

    def update_traits(
        self, customer_id: str, set_traits: dict[str, Any], unset: list[str]
    ) -> CustomerRecord:
        """Set then unset traits (a name in both ends up unset); creates the customer if missing."""
        new_traits = _json_object(set_traits, "traits")
        with self._writes.begin() as session:
            now = _now()
            row = self._locked_customer(session, customer_id, now)
            merged = {**row.traits, **new_traits}
            for name in unset:
                merged.pop(name, None)
            row.traits = merged
            row.updated_at = now
            session.flush()
            return self._customer(session, row)

    def set_segments(self, customer_id: str, segments: set[str]) -> tuple[set[str], set[str]]:
        """Replace the customer's memberships; returns (entered, left)."""
        with self._writes.begin() as session:
            now = _now()
            self._locked_customer(session, customer_id, now)
            current = set(
                session.scalars(
                    select(SegmentMembershipRow.segment).where(
                        SegmentMembershipRow.customer_id == customer_id
                    )
                )
            )
            entered, left = segments - current, current - segments
            if left:
                session.execute(
                    delete(SegmentMembershipRow).where(
                        SegmentMembershipRow.customer_id == customer_id,
                        SegmentMembershipRow.segment.in_(left),
                    )
                )
            session.add_all(
                SegmentMembershipRow(customer_id=customer_id, segment=name, entered_at=now)
                for name in sorted(entered)
            )
            return entered, left

    def segment_members(self, segment: str) -> list[str]:
        """Customer ids in the segment, sorted."""
        with self._reads.begin() as session:
            return list(
                session.scalars(
                    select(SegmentMembershipRow.customer_id)
                    .where(SegmentMembershipRow.segment == segment)
                    .order_by(SegmentMembershipRow.customer_id)
                )
            )

    # --- events -----------------------------------------------------------------------------

    def record_event(self, event: EventRecord) -> bool:
        """Append an event; False (and nothing changes) when its message_id is already stored."""
        return self.record_events([event])[0]

    def record_events(self, events: Sequence[EventRecord]) -> list[bool]:
        """Append events in one transaction (all or none); per event, whether it was new."""
        rows = [(event, _json_object(event.properties, "event properties")) for event in events]
        with self._writes.begin() as session:
            return [
                self._insert_ignore(
                    session,
                    EventRow,
                    ["message_id"],
                    message_id=event.message_id,
                    customer_id=event.customer_id,
                    name=event.name,
                    properties=properties,
                    timestamp=event.timestamp,
                    received_at=event.received_at,
                )
                for event, properties in rows
            ]

    def record_identify(
        self, event: EventRecord, traits: dict[str, Any], timezone: str | None = None
    ) -> bool:
        """Record an identify call and merge its traits, in one transaction.

        False (and nothing changes) when its message_id is already stored, so a
        retried or replayed identify never overwrites newer traits.
        """
        properties = _json_object(event.properties, "event properties")
        try:  # consent traits go to the consents table, not the profile
            consent, traits = consent_from_traits(traits)
        except ConsentError as error:
            raise StoreError(f"traits: {error}") from None
        new_traits = _json_object(traits, "traits")
        if timezone is not None:
            _check_timezone(timezone)
        with self._writes.begin() as session:
            inserted = self._insert_ignore(
                session,
                EventRow,
                ["message_id"],
                message_id=event.message_id,
                customer_id=event.customer_id,
                name=event.name,
                properties=properties,
                timestamp=event.timestamp,
                received_at=event.received_at,
            )
            if not inserted:
                return False
            now = _now()
            row = self._locked_customer(session, event.customer_id, now)
            row.traits = {**row.traits, **new_traits}
            if timezone is not None:
                row.timezone = timezone
            row.updated_at = now
            at = clamp(event.timestamp, event.received_at)
            self._apply_consent(session, event.customer_id, consent, "identify", at)
            return True

    def mark_routed(self, message_id: str, at: datetime | None = None) -> None:
        """The event has been handed to Temporal: it will not be routed again."""
        with self._writes.begin() as session:
            session.execute(
                update(EventRow)
                .where(EventRow.message_id == message_id, EventRow.routed_at.is_(None))
                .values(routed_at=at or _now())
            )

    def unrouted_events(
        self, limit: int = 100, received_before: datetime | None = None
    ) -> list[EventRecord]:
        """Accepted events not yet handed to Temporal (it was down), oldest first.

        ``received_before`` leaves out the events still being routed by the request
        that accepted them.
        """
        _check_limit(limit)
        statement = select(EventRow).where(EventRow.routed_at.is_(None))
        if received_before is not None:
            statement = statement.where(
                EventRow.received_at < _aware(received_before, "received_before")
            )
        statement = statement.order_by(EventRow.id).limit(limit)
        with self._reads.begin() as session:
            return [_event(row) for row in session.scalars(statement)]

    def events_for(
        self, customer_id: str, name: str | None = None, limit: int = 100
    ) -> list[EventRecord]:
        """The customer's events, newest first (by event timestamp)."""
        _check_limit(limit)
        statement = select(EventRow).where(EventRow.customer_id == customer_id)
        if name is not None:
            statement = statement.where(EventRow.name == name)
        statement = statement.order_by(EventRow.timestamp.desc(), EventRow.id.desc()).limit(limit)
        with self._reads.begin() as session:
            return [_event(row) for row in session.scalars(statement)]

    # --- journeys ---------------------------------------------------------------------------

    def deploy_journey(self, journey: CompiledJourney, source: str | None = None) -> bool:
        """Store this version and make it the active one; False if it already was.

        Deploys of one journey are serialized (SQLite: the write lock; PostgreSQL:
        an advisory lock on the journey id), so concurrent deploys never trip the
        one-active-version index: the last one wins.
        """
        with self._writes.begin() as session:
            if self.dialect == "postgresql":
                session.execute(
                    select(func.pg_advisory_xact_lock(func.hashtextextended(journey.id, 0)))
                )
            stored = session.get(JourneyVersionRow, (journey.id, journey.version))
            if stored is not None and stored.active:
                return False
            # Deactivate first: the one-active index is checked statement by statement.
            session.execute(
                update(JourneyVersionRow)
                .where(JourneyVersionRow.journey_id == journey.id, JourneyVersionRow.active)
                .values(active=False)
            )
            now = _now()
            if stored is None:
                session.add(
                    JourneyVersionRow(
                        journey_id=journey.id,
                        version=journey.version,
                        compiled=journey.model_dump(mode="json"),
                        source=source,
                        deployed_at=now,
                        active=True,
                    )
                )
            else:
                stored.active = True
                stored.deployed_at = now
                if source is not None:
                    stored.source = source
            return True

    def active_journeys(self) -> list[CompiledJourney]:
        """The active version of every journey, by journey id."""
        statement = (
            select(JourneyVersionRow)
            .where(JourneyVersionRow.active)
            .order_by(JourneyVersionRow.journey_id)
        )
        with self._reads.begin() as session:
            return [_journey(row) for row in session.scalars(statement)]

    def active_versions(self) -> frozenset[tuple[str, str]]:
        """(journey id, version) of every active journey: cheap, to tell when to reload them."""
        statement = select(JourneyVersionRow.journey_id, JourneyVersionRow.version).where(
            JourneyVersionRow.active
        )
        with self._reads.begin() as session:
            return frozenset((journey, version) for journey, version in session.execute(statement))

    def get_journey(self, journey_id: str, version: str | None = None) -> CompiledJourney | None:
        """That version of the journey, or the active one when ``version`` is None."""
        statement = select(JourneyVersionRow).where(JourneyVersionRow.journey_id == journey_id)
        if version is None:
            statement = statement.where(JourneyVersionRow.active)
        else:
            statement = statement.where(JourneyVersionRow.version == version)
        with self._reads.begin() as session:
            row = session.scalars(statement).one_or_none()
            return None if row is None else _journey(row)

    def journey_versions(self, journey_id: str) -> list[JourneyVersionRecord]:
        """Every deployed version, most recently deployed first."""
        statement = (
            select(JourneyVersionRow)
            .where(JourneyVersionRow.journey_id == journey_id)
            .order_by(JourneyVersionRow.deployed_at.desc(), JourneyVersionRow.version)
        )
        with self._reads.begin() as session:
            return [
                JourneyVersionRecord(
                    journey_id=row.journey_id,
                    version=row.version,
                    deployed_at=row.deployed_at,
                    active=row.active,
                )
                for row in session.scalars(statement)
            ]

    # --- runs -------------------------------------------------------------------------------

    def run_started(self, run: RunRecord) -> None:
        """Record a run; repeating it (a retried activity) keeps the first record."""
        with self._writes.begin() as session:
            self._insert_ignore(session, RunRow, ["workflow_id", "run_id"], **run.model_dump())

    def run_step(
        self, workflow_id: str, run_id: str, step_id: str, at: datetime | None = None
    ) -> None:
        """Note the step a running run is at, and its first visit of that step (funnels).

        Ignored for unknown runs; a finished run's current step stays as it was.
        """
        visited = _now() if at is None else _aware(at, "at")
        with self._writes.begin() as session:
            run = session.get(RunRow, (workflow_id, run_id))
            if run is None:
                return
            if run.status == "running":
                run.current_step = step_id
            self._insert_ignore(
                session,
                StepVisitRow,
                ["run_id", "step_id"],
                run_id=run_id,
                step_id=step_id,
                journey_id=run.journey_id,
                first_at=visited,
            )

    def step_funnel(self, journey_id: str) -> list[StepFunnelRecord]:
        """Per step reached: runs and customers, and how those runs ended or converted."""
        converted = (
            select(ConversionRow.run_id).where(ConversionRow.journey_id == journey_id).distinct()
        ).subquery()
        statement = (
            select(
                StepVisitRow.step_id,
                func.count(),
                func.count(func.distinct(RunRow.customer_id)),
                func.count().filter(RunRow.status == "completed"),
                func.count().filter(RunRow.status == "exited"),
                func.count().filter(RunRow.status == "failed"),
                func.count().filter(RunRow.status == "running"),
                func.count(converted.c.run_id),
            )
            .join(RunRow, RunRow.run_id == StepVisitRow.run_id)
            .outerjoin(converted, converted.c.run_id == StepVisitRow.run_id)
            .where(StepVisitRow.journey_id == journey_id, RunRow.journey_id == journey_id)
            .group_by(StepVisitRow.step_id)
            .order_by(StepVisitRow.step_id)
        )
        with self._reads.begin() as session:
            return [
                StepFunnelRecord(
                    step_id=step,
                    runs=runs,
                    customers=customers,
                    completed=completed,
                    exited=exited,
                    failed=failed,
                    running=running,
                    converted=conversions,
                )
                for step, runs, customers, completed, exited, failed, running, conversions in (
                    session.execute(statement)
                )
            ]

    def run_variant(self, workflow_id: str, run_id: str, variant: str) -> None:
        """Note the experiment variant the run was split into; ignored for unknown runs."""
        with self._writes.begin() as session:
            session.execute(
                update(RunRow)
                .where(RunRow.workflow_id == workflow_id, RunRow.run_id == run_id)
                .values(variant=variant)
            )

    def run_finished(
        self,
        workflow_id: str,
        run_id: str,
        status: str,
        reason: str | None = None,
        ended_at: datetime | None = None,
    ) -> None:
        """End a running run; the first end wins, and an unknown run is ignored."""
        _check_status(status, FINISHED_RUN_STATUSES, "a finished run's")
        ended = _now() if ended_at is None else _aware(ended_at, "ended_at")
        with self._writes.begin() as session:
            session.execute(
                update(RunRow)
                .where(
                    RunRow.workflow_id == workflow_id,
                    RunRow.run_id == run_id,
                    RunRow.status == "running",
                )
                .values(status=status, exit_reason=reason, ended_at=ended)
            )

    def get_runs(
        self,
        journey_id: str | None = None,
        customer_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[RunRecord]:
        """Runs matching every given filter, newest first."""
        _check_limit(limit)
        statement = select(RunRow)
        if journey_id is not None:
            statement = statement.where(RunRow.journey_id == journey_id)
        if customer_id is not None:
            statement = statement.where(RunRow.customer_id == customer_id)
        if status is not None:
            statement = statement.where(RunRow.status == status)
        statement = statement.order_by(
            RunRow.started_at.desc(), RunRow.workflow_id, RunRow.run_id
        ).limit(limit)
        with self._reads.begin() as session:
            return [_run(row) for row in session.scalars(statement)]

    def last_entry(self, journey_id: str, customer_id: str) -> datetime | None:
        """When the customer last entered the journey (for re-entry rules)."""
        statement = select(func.max(RunRow.started_at)).where(
            RunRow.journey_id == journey_id, RunRow.customer_id == customer_id
        )
        with self._reads.begin() as session:
            return session.scalar(statement)

    # --- message log ------------------------------------------------------------------------

    def claim_message(
        self, key: str, run_workflow_id: str, step_id: str, channel: str, customer_id: str
    ) -> MessageRecord:
        """The log entry for this idempotency key, created 'pending' if absent.

        A status other than 'pending' tells a retried activity the work is done.
        """
        with self._writes.begin() as session:
            self._insert_ignore(
                session,
                MessageRow,
                ["key"],
                key=key,
                workflow_id=run_workflow_id,
                step_id=step_id,
                channel=channel,
                customer_id=customer_id,
                status="pending",
                detail={},
                created_at=_now(),
                completed_at=None,
            )
            return _message(
                session.execute(select(MessageRow).where(MessageRow.key == key)).scalar_one()
            )

    def complete_message(self, key: str, status: str, detail: dict[str, Any]) -> MessageRecord:
        """Record the outcome of a claimed message."""
        _check_status(status, COMPLETED_MESSAGE_STATUSES, "a completed message's")
        stored_detail = _json_object(detail, "message detail")
        with self._writes.begin() as session:
            row = session.get(MessageRow, key, with_for_update=True)
            if row is None:
                raise StoreError(f"no message with key {key!r}: claim_message it first")
            row.status = status
            row.detail = stored_detail
            row.completed_at = _now()
            session.flush()
            return _message(row)

    def get_message(self, key: str) -> MessageRecord | None:
        with self._reads.begin() as session:
            row = session.get(MessageRow, key)
            return None if row is None else _message(row)

    def messages_for(
        self, customer_id: str | None = None, workflow_id: str | None = None
    ) -> list[MessageRecord]:
        """Log entries matching every given filter, newest first."""
        statement = select(MessageRow)
        if customer_id is not None:
            statement = statement.where(MessageRow.customer_id == customer_id)
        if workflow_id is not None:
            statement = statement.where(MessageRow.workflow_id == workflow_id)
        statement = statement.order_by(MessageRow.created_at.desc(), MessageRow.key)
        with self._reads.begin() as session:
            return [_message(row) for row in session.scalars(statement)]

    def sent_count_since(
        self, customer_id: str, since: datetime, channels: list[str] | None = None
    ) -> int:
        """Messages sent to the customer at or after ``since`` (on these channels), for caps.

        Only sends count: the log also holds connector calls (``shop.create_discount``),
        whose channel column is the action, always with a dot, which no channel has.
        """
        statement = select(func.count()).where(
            MessageRow.customer_id == customer_id,
            MessageRow.status == "sent",
            MessageRow.completed_at >= _aware(since, "since"),
            ~MessageRow.channel.contains("."),
        )
        if channels is not None:
            statement = statement.where(MessageRow.channel.in_(channels))
        with self._reads.begin() as session:
            return session.scalar(statement) or 0

    # --- experiments ------------------------------------------------------------------------

    def assign_variant(self, experiment: str, customer_id: str, variant: str) -> str:
        """The customer's variant: the first assignment is kept forever."""
        with self._writes.begin() as session:
            self._insert_ignore(
                session,
                ExperimentAssignmentRow,
                ["experiment", "customer_id"],
                experiment=experiment,
                customer_id=customer_id,
                variant=variant,
                assigned_at=_now(),
            )
            return session.execute(
                select(ExperimentAssignmentRow.variant).where(
                    ExperimentAssignmentRow.experiment == experiment,
                    ExperimentAssignmentRow.customer_id == customer_id,
                )
            ).scalar_one()

    def assignments(self, experiment: str) -> dict[str, str]:
        """customer id -> variant for the experiment."""
        statement = select(
            ExperimentAssignmentRow.customer_id, ExperimentAssignmentRow.variant
        ).where(ExperimentAssignmentRow.experiment == experiment)
        with self._reads.begin() as session:
            return {row.customer_id: row.variant for row in session.execute(statement)}

    # --- goals ------------------------------------------------------------------------------

    def record_conversion(self, conversion: ConversionRecord) -> bool:
        """Record a goal reached; False if this run already converted on this goal event."""
        with self._writes.begin() as session:
            return self._insert_ignore(
                session, ConversionRow, ["run_id", "goal_event"], **conversion.model_dump()
            )

    def conversions(self, journey_id: str) -> list[ConversionRecord]:
        """The journey's conversions, oldest first."""
        statement = (
            select(ConversionRow)
            .where(ConversionRow.journey_id == journey_id)
            .order_by(ConversionRow.converted_at, ConversionRow.run_id)
        )
        with self._reads.begin() as session:
            return [_conversion(row) for row in session.scalars(statement)]

    # --- API write keys ---------------------------------------------------------------------

    def create_write_key(self, source: str, scope: KeyScope = "write") -> str:
        """A new API key for the source; the key is returned once and stored hashed.

        A source may hold several keys (to rotate one without downtime). ``write``
        keys send events; ``read`` keys read reports.
        """
        if not _SOURCE_NAME.match(source):
            raise StoreError(
                f"source name {source!r} must be 1 to 100 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit, e.g. web-shop"
            )
        if scope not in KEY_SCOPES:
            raise StoreError(f"a key's scope is one of {', '.join(KEY_SCOPES)}; got {scope!r}")
        key = WRITE_KEY_PREFIX + secrets.token_urlsafe(24)  # 24 bytes: 32 url-safe characters
        with self._writes.begin() as session:
            session.add(
                WriteKeyRow(
                    key_hash=_key_hash(key),
                    source=source,
                    key_prefix=key[: len(WRITE_KEY_PREFIX) + 4],
                    created_at=_now(),
                    scope=scope,
                )
            )
        return key

    def check_write_key(self, key: str, scope: KeyScope = "write") -> str | None:
        """The source the key belongs to, or None when it is not a known key of that scope."""
        if not _WRITE_KEY.match(key):
            return None
        with self._reads.begin() as session:
            row = session.get(WriteKeyRow, _key_hash(key))
            return None if row is None or row.scope != scope else row.source

    def write_keys(self) -> list[WriteKeyRecord]:
        """Every write key's source, prefix and creation time, by source then age."""
        statement = select(WriteKeyRow).order_by(WriteKeyRow.source, WriteKeyRow.created_at)
        with self._reads.begin() as session:
            return [
                WriteKeyRecord(
                    source=row.source,
                    key_prefix=row.key_prefix,
                    created_at=row.created_at,
                    scope=row.scope,
                )
                for row in session.scalars(statement)
            ]

    # --- erasure ----------------------------------------------------------------------------

    def erase_customer(self, customer_id: str) -> ErasureRecord:
        """Remove the customer's personal data; keep the analytics under a pseudonym.

        The profile, its events and segment memberships are deleted. Runs,
        messages, experiment assignments and conversions stay (journey and
        experiment figures must not change after the fact) but name a random
        pseudonym instead of the customer, and messages lose their details
        (addresses, provider answers). One transaction: all of it or nothing.
        """
        pseudonym = f"{ERASED_PREFIX}{secrets.token_hex(8)}"
        deleted: dict[str, int] = {}
        pseudonymised: dict[str, int] = {}

        def renamed(workflow_id: str) -> str:
            suffix = f":{customer_id}"
            if workflow_id.endswith(suffix):
                return workflow_id[: -len(suffix)] + f":{pseudonym}"
            return workflow_id

        with self._writes.begin() as session:
            for table, column in _ERASED_ROWS:
                result = session.execute(delete(table).where(column == customer_id))
                deleted[table.__tablename__] = _rowcount(result)
            for run in session.scalars(select(RunRow).where(RunRow.customer_id == customer_id)):
                run.customer_id, run.workflow_id = pseudonym, renamed(run.workflow_id)
                pseudonymised["runs"] = pseudonymised.get("runs", 0) + 1
            messages = select(MessageRow).where(MessageRow.customer_id == customer_id)
            for message in session.scalars(messages):
                message.customer_id, message.workflow_id = pseudonym, renamed(message.workflow_id)
                message.detail = {"erased": True}
                pseudonymised["message_log"] = pseudonymised.get("message_log", 0) + 1
            conversions = select(ConversionRow).where(ConversionRow.customer_id == customer_id)
            for conversion in session.scalars(conversions):
                conversion.customer_id = pseudonym
                conversion.workflow_id = renamed(conversion.workflow_id)
                pseudonymised["conversions"] = pseudonymised.get("conversions", 0) + 1
            result = session.execute(
                update(ExperimentAssignmentRow)
                .where(ExperimentAssignmentRow.customer_id == customer_id)
                .values(customer_id=pseudonym)
            )
            pseudonymised["experiment_assignments"] = _rowcount(result)
        return ErasureRecord(
            customer_id=customer_id,
            pseudonym=pseudonym,
            deleted=deleted,
            pseudonymised={k: v for k, v in pseudonymised.items() if v},
        )

    def journey_ids(self) -> list[str]:
        """Every journey ever deployed, active or not, sorted."""
        statement = select(JourneyVersionRow.journey_id).distinct().order_by("journey_id")
        with self._reads.begin() as session:
            return list(session.scalars(statement))

    # --- segments (engine.segments evaluates; these read and write) -----------------------------

    def deploy_segment(self, segment: CompiledSegment, source: str | None = None) -> bool:
        """Store the segment's definition; False if this version was already deployed."""
        with self._writes.begin() as session:
            row = session.get(SegmentDefinitionRow, segment.id, with_for_update=True)
            if row is not None and row.version == segment.version:
                return False
            definition = dump_segment(segment)
            if row is None:
                session.add(
                    SegmentDefinitionRow(
                        segment=segment.id,
                        version=segment.version,
                        definition=definition,
                        source=source,
                        deployed_at=_now(),
                    )
                )
            else:
                row.version, row.definition = segment.version, definition
                row.source, row.deployed_at = source, _now()
            return True

    def active_segments(self) -> list[CompiledSegment]:
        """Every deployed segment, by id."""
        statement = select(SegmentDefinitionRow).order_by(SegmentDefinitionRow.segment)
        with self._reads.begin() as session:
            return [
                CompiledSegment.model_validate(row.definition) for row in session.scalars(statement)
            ]

    def segments_fingerprint(self) -> tuple[int, datetime | None]:
        """How many segments and the last deploy: changes whenever a definition does."""
        statement = select(func.count(), func.max(SegmentDefinitionRow.deployed_at))
        with self._reads.begin() as session:
            count, last = session.execute(statement).one()
            return int(count), last

    def segment_summaries(self) -> list[SegmentSummaryRecord]:
        """Every deployed segment with its version, deploy time and member count."""
        members = (
            select(SegmentMembershipRow.segment, func.count().label("members"))
            .group_by(SegmentMembershipRow.segment)
            .subquery()
        )
        statement = (
            select(SegmentDefinitionRow, func.coalesce(members.c.members, 0))
            .outerjoin(members, members.c.segment == SegmentDefinitionRow.segment)
            .order_by(SegmentDefinitionRow.segment)
        )
        with self._reads.begin() as session:
            return [
                SegmentSummaryRecord(
                    segment=CompiledSegment.model_validate(row.definition),
                    source=row.source,
                    deployed_at=row.deployed_at,
                    members=int(count),
                )
                for row, count in session.execute(statement)
            ]

    def segment_changes(
        self, segment: str | None = None, customer_id: str | None = None, limit: int = 100
    ) -> list[SegmentChangeRecord]:
        """Entries into and exits from segments, newest first."""
        _check_limit(limit)
        statement = select(SegmentChangeRow)
        if segment is not None:
            statement = statement.where(SegmentChangeRow.segment == segment)
        if customer_id is not None:
            statement = statement.where(SegmentChangeRow.customer_id == customer_id)
        statement = statement.order_by(SegmentChangeRow.id.desc()).limit(limit)
        with self._reads.begin() as session:
            return [
                SegmentChangeRecord.model_validate(row, from_attributes=True)
                for row in session.scalars(statement)
            ]

    def customer_ids(self, after: str | None = None, limit: int = 500) -> list[str]:
        """Customer ids in order, ``limit`` at a time after ``after``: for refreshing in pages."""
        _check_limit(limit)
        statement = select(CustomerRow.id).order_by(CustomerRow.id).limit(limit)
        if after is not None:
            statement = statement.where(CustomerRow.id > after)
        with self._reads.begin() as session:
            return list(session.scalars(statement))

    def recompute_segments(
        self,
        customer_id: str,
        segments: list[str],
        aggregates: list[AggregateSpec],
        decide: SegmentDecider,
        now: datetime | None = None,
    ) -> tuple[set[str], set[str]]:
        """Re-decide the customer's membership of ``segments``; returns (entered, left).

        One transaction with the customer's row locked, so two events of one customer
        are decided one after the other, each on data that includes the other. The
        ``aggregates`` are computed in one query; ``decide`` gets them with the traits
        and says which of ``segments`` the customer is in. Other segments are untouched.
        """
        at = _now() if now is None else _aware(now, "now")
        with self._writes.begin() as session:
            row = self._locked_customer(session, customer_id, at)
            values = self._event_aggregates(session, customer_id, aggregates, at)
            inside = decide(row.traits, values)
            current = set(
                session.scalars(
                    select(SegmentMembershipRow.segment).where(
                        SegmentMembershipRow.customer_id == customer_id,
                        SegmentMembershipRow.segment.in_(segments),
                    )
                )
            )
            entered = {s for s in segments if inside.get(s, False)} - current
            left = current - {s for s in segments if inside.get(s, False)}
            if left:
                session.execute(
                    delete(SegmentMembershipRow).where(
                        SegmentMembershipRow.customer_id == customer_id,
                        SegmentMembershipRow.segment.in_(left),
                    )
                )
            session.add_all(
                SegmentMembershipRow(customer_id=customer_id, segment=name, entered_at=at)
                for name in sorted(entered)
            )
            session.add_all(
                SegmentChangeRow(customer_id=customer_id, segment=name, change=change, at=at)
                for names, change in ((entered, "entered"), (left, "left"))
                for name in sorted(names)
            )
            return entered, left

    def event_aggregates(
        self, customer_id: str, aggregates: list[AggregateSpec], now: datetime | None = None
    ) -> dict[AggregateSpec, float | None]:
        """The customer's event aggregates as of ``now`` (for `cxflow segments show` and tests)."""
        at = _now() if now is None else _aware(now, "now")
        with self._reads.begin() as session:
            return self._event_aggregates(session, customer_id, aggregates, at)

    def _event_aggregates(
        self, session: Session, customer_id: str, aggregates: list[AggregateSpec], now: datetime
    ) -> dict[AggregateSpec, float | None]:
        """Every aggregate in one indexed query: one column per aggregate, each a CASE.

        The (customer_id, name, timestamp) index of events narrows the scan to the
        customer's events of the names asked for, in the widest window asked for.
        A sum over no events is 0; an average, minimum or maximum over none is None.
        """
        if not aggregates:
            return {}
        columns: list[ColumnElement[Any]] = []
        for spec in aggregates:
            matches = EventRow.name == spec.event
            if spec.window_seconds is not None:
                since = now - timedelta(seconds=spec.window_seconds)
                matches = and_(matches, EventRow.timestamp >= since)
            if spec.function == "count":
                columns.append(func.count(case((matches, 1))))
                continue
            assert spec.property is not None
            value = case((matches, self._numeric_property(spec.property)))
            if spec.function == "sum":
                columns.append(func.sum(value))
            elif spec.function == "average":
                columns.append(func.avg(value))
            elif spec.function == "min":
                columns.append(func.min(value))
            else:
                columns.append(func.max(value))
        statement = select(*columns).where(
            EventRow.customer_id == customer_id,
            EventRow.name.in_(sorted({s.event for s in aggregates})),
        )
        if all(s.window_seconds is not None for s in aggregates):
            widest = max(s.window_seconds or 0 for s in aggregates)
            statement = statement.where(EventRow.timestamp >= now - timedelta(seconds=widest))
        row = session.execute(statement).one()
        result: dict[AggregateSpec, float | None] = {}
        for spec, value in zip(aggregates, row, strict=True):
            if value is None:
                result[spec] = 0.0 if spec.function == "sum" else None
            else:
                result[spec] = float(value)
        return result

    def _numeric_property(self, path: str) -> ColumnElement[Any]:
        """The event property at the dotted ``path`` when it is a JSON number, else NULL."""
        parts = path.split(".")
        if self.dialect == "postgresql":
            node = EventRow.properties[tuple(parts)]
            return case((func.jsonb_typeof(node) == "number", node.as_float()))
        json_path = "$" + "".join(f'."{part}"' for part in parts)
        return case(
            (
                func.json_type(EventRow.properties, json_path).in_(("integer", "real")),
                func.json_extract(EventRow.properties, json_path),
            )
        )

    # --- consent (engine.privacy.consent decides; these read and write) ----------------------

    def _apply_consent(
        self,
        session: Session,
        customer_id: str,
        changes: dict[str, bool],
        source: str,
        at: datetime,
    ) -> list[str]:
        """Record decisions (the customer's row is locked); older than the stored: ignored.

        Returns the channels whose stored decision changed.
        """
        at = _aware(at, "a consent decision's time")
        changed: list[str] = []
        for channel, subscribed in sorted(changes.items()):
            row = session.get(ConsentRow, (customer_id, channel))
            if row is None:
                session.add(
                    ConsentRow(
                        customer_id=customer_id,
                        channel=channel,
                        subscribed=subscribed,
                        source=source,
                        updated_at=at,
                    )
                )
                changed.append(channel)
            elif row.updated_at <= at:
                if row.subscribed != subscribed:
                    changed.append(channel)
                row.subscribed, row.source, row.updated_at = subscribed, source, at
        return changed

    def set_consent(
        self,
        customer_id: str,
        channel: str,
        subscribed: bool,
        source: str,
        at: datetime | None = None,
    ) -> bool:
        """Record one decision (``channel`` ``*``: every channel), creating the customer if
        missing; True when it changed what was stored."""
        with self._writes.begin() as session:
            self._locked_customer(session, customer_id, _now())
            changes = {channel: subscribed}
            return bool(self._apply_consent(session, customer_id, changes, source, at or _now()))

    def consents(self, customer_id: str, channel: str | None = None) -> list[ConsentRecord]:
        """The customer's decisions, by channel; with ``channel``, its own and ``*``'s."""
        with self._reads.begin() as session:
            statement = select(ConsentRow).where(ConsentRow.customer_id == customer_id)
            if channel is not None:
                statement = statement.where(ConsentRow.channel.in_((channel, "*")))
            rows = session.scalars(statement.order_by(ConsentRow.channel))
            return [ConsentRecord.model_validate(row, from_attributes=True) for row in rows]
