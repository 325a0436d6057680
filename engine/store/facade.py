"""The customer-data store: customers, events, journeys, runs, messages and experiments.

Temporal activities (in threads) and the CLI share it, so every method is one
short transaction and every write that a retried activity may repeat is
idempotent: inserts that must happen once use ``INSERT ... ON CONFLICT DO
NOTHING`` and then read what is stored. It runs on an embedded SQLite file
(the default) or on PostgreSQL; callers only ever see the frozen pydantic
records of engine.store.records, never ORM objects.

``Store`` is a thin facade: it opens the database once (engine.store.database)
and builds one repository per group of tables (``store.customers``,
``store.events``, ...), which new code may call directly. Every method below
delegates to one repository method and keeps the name it had before the split,
so callers keep calling ``store.record_event(...)``. Methods that write several
tables in one transaction live in one repository, which takes the others' helpers
that work on its session (``Customers.lock``, ``Consents.apply``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dsl.compiled import CompiledJourney
from dsl.segment_models import AggregateSpec, CompiledSegment
from engine.privacy.consent import ConsentRecord
from engine.segments.records import SegmentChangeRecord, SegmentDecider, SegmentSummaryRecord
from engine.store.consent import Consents
from engine.store.console_sessions import ConsoleSessions
from engine.store.customer_value import CustomerValues
from engine.store.customers import Customers
from engine.store.database import Database
from engine.store.engagement import Engagement, Suppressions
from engine.store.erasure import Erasure
from engine.store.events import Events
from engine.store.experiments import Experiments
from engine.store.groups import Groups
from engine.store.identities import Identities
from engine.store.journeys import Journeys
from engine.store.keys import Keys
from engine.store.messages import Messages
from engine.store.profiles import Profiles
from engine.store.records import (
    ConversionRecord,
    CustomerRecord,
    ErasureRecord,
    EventRecord,
    FailedEventRecord,
    GroupRecord,
    JourneyVersionRecord,
    KeyScope,
    MessageRecord,
    RouteFailure,
    RoutingCounts,
    RunRecord,
    StepFunnelRecord,
    WriteKeyRecord,
)
from engine.store.reports import Reports
from engine.store.runs import Runs
from engine.store.segments import Segments
from engine.store.timeline import Timelines
from engine.store.users import Users
from engine.store.workspace import Workspace


class Store:
    """The customer-data store on one database; safe to share between threads."""

    def __init__(self, url: str, *, search_path: str | None = None) -> None:
        """Create the engine (no connection yet, no tables).

        ``search_path`` (PostgreSQL only) puts the tables in that schema, which
        must exist: tests use it to get a private schema each.
        """
        self.database = Database(url, search_path=search_path)
        self.url = self.database.url
        self._engine = self.database.engine  # tests inspect connections through it
        self.customers = Customers(self.database)
        self.consent = Consents(self.database, self.customers)  # not .consents: a method
        self.identities = Identities(self.database, self.customers)
        self.groups = Groups(self.database)
        self.events = Events(
            self.database, self.customers, self.consent, self.identities, self.groups
        )
        self.profiles = Profiles(self.database, self.customers, self.groups)
        self.customer_value = CustomerValues(self.database, self.customers)
        self.timelines = Timelines(self.profiles)
        self.workspace = Workspace(self.database)
        self.reports = Reports(self.database)
        self.users = Users(self.database)
        self.console_sessions = ConsoleSessions(self.database)
        self.segments = Segments(self.database, self.customers)
        self.journeys = Journeys(self.database)
        self.runs = Runs(self.database)
        self.messages = Messages(self.database)
        self.experiments = Experiments(self.database)
        self.keys = Keys(self.database)
        self.erasure = Erasure(self.database)
        self.engagement = Engagement(self.database)
        self.suppressions = Suppressions(self.database)

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
        self.database.migrate()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.database.dispose()

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.database.dialect

    # --- customers (engine.store.customers) -------------------------------------------------

    def upsert_customer(
        self, customer_id: str, traits: dict[str, Any] | None = None, timezone: str | None = None
    ) -> CustomerRecord:
        return self.customers.upsert(customer_id, traits, timezone)

    def get_customer(self, customer_id: str) -> CustomerRecord | None:
        return self.customers.get(customer_id)

    def resolve(self, customer_ids: set[str]) -> dict[str, str]:
        """Whom each id stands for now (the customer it was merged into, else itself)."""
        with self.database.reads.begin() as session:
            return self.identities.resolve(session, customer_ids)

    def customer_view(self, customer_id: str) -> tuple[CustomerRecord, list[GroupRecord]] | None:
        """The profile and its groups, read together (what routing and runs see)."""
        with self.database.reads.begin() as session:
            record = self.customers.read(session, customer_id)
            if record is None:
                return None
            return record, self.groups.of_customer(session, record.id)

    def update_traits(
        self, customer_id: str, set_traits: dict[str, Any], unset: list[str]
    ) -> CustomerRecord:
        return self.customers.update_traits(customer_id, set_traits, unset)

    def customer_ids(self, after: str | None = None, limit: int = 500) -> list[str]:
        return self.customers.ids(after, limit)

    # --- events (engine.store.events) -------------------------------------------------------

    def record_event(self, event: EventRecord) -> bool:
        return self.events.record(event)

    def record_events(self, events: Sequence[EventRecord]) -> list[bool]:
        return self.events.record_many(events)

    def record_identify(
        self, event: EventRecord, traits: dict[str, Any], timezone: str | None = None
    ) -> bool:
        return self.events.record_identify(event, traits, timezone)

    def mark_routed(self, message_id: str, at: datetime | None = None) -> None:
        self.events.mark_routed(message_id, at)

    def unrouted_events(
        self, limit: int = 100, received_before: datetime | None = None
    ) -> list[EventRecord]:
        return self.events.unrouted(limit, received_before)

    def route_failed(
        self, message_id: str, error: str, retry_delays: Sequence[float]
    ) -> RouteFailure:
        return self.events.route_failed(message_id, error, retry_delays)

    def failed_events(self, limit: int = 100) -> list[FailedEventRecord]:
        return self.events.failed(limit)

    def retry_failed_events(self, message_ids: Sequence[str] | None = None) -> int:
        return self.events.retry(message_ids)

    def routing_counts(self) -> RoutingCounts:
        return self.events.routing_counts()

    def events_for(
        self, customer_id: str, name: str | None = None, limit: int = 100
    ) -> list[EventRecord]:
        return self.events.for_customer(customer_id, name, limit)

    # --- journeys (engine.store.journeys) ---------------------------------------------------

    def deploy_journey(self, journey: CompiledJourney, source: str | None = None) -> bool:
        return self.journeys.deploy(journey, source)

    def active_journeys(self) -> list[CompiledJourney]:
        return self.journeys.active()

    def active_versions(self) -> frozenset[tuple[str, str]]:
        return self.journeys.active_versions()

    def get_journey(self, journey_id: str, version: str | None = None) -> CompiledJourney | None:
        return self.journeys.get(journey_id, version)

    def journey_versions(self, journey_id: str) -> list[JourneyVersionRecord]:
        return self.journeys.versions(journey_id)

    def journey_ids(self) -> list[str]:
        return self.journeys.ids()

    # --- runs (engine.store.runs) -----------------------------------------------------------

    def run_started(self, run: RunRecord) -> None:
        self.runs.started(run)

    def run_step(
        self, workflow_id: str, run_id: str, step_id: str, at: datetime | None = None
    ) -> None:
        self.runs.step(workflow_id, run_id, step_id, at)

    def step_funnel(self, journey_id: str) -> list[StepFunnelRecord]:
        return self.runs.funnel(journey_id)

    def run_variant(self, workflow_id: str, run_id: str, variant: str) -> None:
        self.runs.set_variant(workflow_id, run_id, variant)

    def run_finished(
        self,
        workflow_id: str,
        run_id: str,
        status: str,
        reason: str | None = None,
        ended_at: datetime | None = None,
    ) -> None:
        self.runs.finished(workflow_id, run_id, status, reason, ended_at)

    def get_runs(
        self,
        journey_id: str | None = None,
        customer_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[RunRecord]:
        return self.runs.find(journey_id, customer_id, status, limit)

    def last_entry(self, journey_id: str, customer_id: str) -> datetime | None:
        return self.runs.last_entry(journey_id, customer_id)

    def entered_by(self, journey_id: str, trigger_message_id: str) -> bool:
        return self.runs.entered_by(journey_id, trigger_message_id)

    # --- message log (engine.store.messages) ------------------------------------------------

    def claim_message(
        self, key: str, run_workflow_id: str, step_id: str, channel: str, customer_id: str
    ) -> MessageRecord:
        return self.messages.claim(key, run_workflow_id, step_id, channel, customer_id)

    def complete_message(self, key: str, status: str, detail: dict[str, Any]) -> MessageRecord:
        return self.messages.complete(key, status, detail)

    def get_message(self, key: str) -> MessageRecord | None:
        return self.messages.get(key)

    def messages_for(
        self, customer_id: str | None = None, workflow_id: str | None = None
    ) -> list[MessageRecord]:
        return self.messages.find(customer_id, workflow_id)

    def sent_count_since(
        self, customer_id: str, since: datetime, channels: list[str] | None = None
    ) -> int:
        return self.messages.sent_count_since(customer_id, since, channels)

    # --- experiments and goals (engine.store.experiments) -----------------------------------

    def assign_variant(self, experiment: str, customer_id: str, variant: str) -> str:
        return self.experiments.assign(experiment, customer_id, variant)

    def assignments(self, experiment: str) -> dict[str, str]:
        return self.experiments.assignments(experiment)

    def record_conversion(self, conversion: ConversionRecord) -> bool:
        return self.experiments.record_conversion(conversion)

    def conversions(self, journey_id: str) -> list[ConversionRecord]:
        return self.experiments.conversions(journey_id)

    # --- API keys (engine.store.keys) -------------------------------------------------------

    def create_write_key(self, source: str, scope: KeyScope = "write") -> str:
        return self.keys.create(source, scope)

    def check_write_key(self, key: str, scope: KeyScope = "write") -> str | None:
        return self.keys.check(key, scope)

    def write_keys(self) -> list[WriteKeyRecord]:
        return self.keys.listed()

    def allow_origins(self, source: str, origins: list[str]) -> list[str]:
        return self.keys.allow_origins(source, origins)

    # --- erasure (engine.store.erasure) -----------------------------------------------------

    def erase_customer(self, customer_id: str) -> ErasureRecord:
        return self.erasure.erase(customer_id)

    def is_erased(self, customer_id: str) -> bool:
        return self.erasure.is_erased(customer_id)

    # --- segments (engine.store.segments) ---------------------------------------------------

    def set_segments(self, customer_id: str, segments: set[str]) -> tuple[set[str], set[str]]:
        return self.segments.set_memberships(customer_id, segments)

    def segment_members(self, segment: str) -> list[str]:
        return self.segments.members(segment)

    def deploy_segment(self, segment: CompiledSegment, source: str | None = None) -> bool:
        return self.segments.deploy(segment, source)

    def active_segments(self) -> list[CompiledSegment]:
        return self.segments.active()

    def segments_fingerprint(self) -> tuple[int, datetime | None]:
        return self.segments.fingerprint()

    def segment_summaries(self) -> list[SegmentSummaryRecord]:
        return self.segments.summaries()

    def segment_changes(
        self, segment: str | None = None, customer_id: str | None = None, limit: int = 100
    ) -> list[SegmentChangeRecord]:
        return self.segments.changes(segment, customer_id, limit)

    def recompute_segments(
        self,
        customer_id: str,
        segments: list[str],
        aggregates: list[AggregateSpec],
        decide: SegmentDecider,
        now: datetime | None = None,
    ) -> tuple[set[str], set[str]]:
        return self.segments.recompute(customer_id, segments, aggregates, decide, now)

    def event_aggregates(
        self, customer_id: str, aggregates: list[AggregateSpec], now: datetime | None = None
    ) -> dict[AggregateSpec, float | None]:
        return self.segments.event_aggregates(customer_id, aggregates, now)

    # --- consent (engine.store.consent) -----------------------------------------------------

    def set_consent(
        self,
        customer_id: str,
        channel: str,
        subscribed: bool,
        source: str,
        at: datetime | None = None,
    ) -> bool:
        return self.consent.record(customer_id, channel, subscribed, source, at)

    def consents(self, customer_id: str, channel: str | None = None) -> list[ConsentRecord]:
        return self.consent.get(customer_id, channel)
