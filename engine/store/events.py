"""Events: appended once per message_id, then routed to Temporal.

Inserts are ``ON CONFLICT DO NOTHING`` on the message id, so a retried ingest or a
replayed event changes nothing. An identify call writes its event, the customer's
traits and its consent traits in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from engine.errors import ConsentError, StoreError
from engine.privacy.consent import clamp, consent_from_traits
from engine.store.consent import Consents
from engine.store.customers import Customers
from engine.store.database import (
    Database,
    _aware,
    _check_limit,
    _check_timezone,
    _json_object,
    _now,
    _rowcount,
)
from engine.store.records import EventRecord, FailedEventRecord, RouteFailure, RoutingCounts
from engine.store.tables import EventRow


def _event(row: EventRow) -> EventRecord:
    return EventRecord.model_validate(row, from_attributes=True)


class Events:
    """The ``events`` table (identify also writes ``customers`` and ``consents``)."""

    def __init__(self, database: Database, customers: Customers, consents: Consents) -> None:
        self._db = database
        self._customers = customers
        self._consents = consents

    def _insert(self, session: Session, event: EventRecord, properties: dict[str, Any]) -> bool:
        return self._db.insert_ignore(
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

    def record(self, event: EventRecord) -> bool:
        """Append an event; False (and nothing changes) when its message_id is already stored."""
        return self.record_many([event])[0]

    def record_many(self, events: Sequence[EventRecord]) -> list[bool]:
        """Append events in one transaction (all or none); per event, whether it was new."""
        rows = [(event, _json_object(event.properties, "event properties")) for event in events]
        with self._db.writes.begin() as session:
            return [self._insert(session, event, properties) for event, properties in rows]

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
        with self._db.writes.begin() as session:
            if not self._insert(session, event, properties):
                return False
            now = _now()
            row = self._customers.lock(session, event.customer_id, now)
            row.traits = {**row.traits, **new_traits}
            if timezone is not None:
                row.timezone = timezone
            row.updated_at = now
            at = clamp(event.timestamp, event.received_at)
            self._consents.apply(session, event.customer_id, consent, "identify", at)
            return True

    def mark_routed(self, message_id: str, at: datetime | None = None) -> None:
        """The event has been handed to Temporal: it will not be routed again."""
        with self._db.writes.begin() as session:
            session.execute(
                update(EventRow)
                .where(EventRow.message_id == message_id, EventRow.routed_at.is_(None))
                .values(routed_at=at or _now())
            )

    def unrouted(
        self,
        limit: int = 100,
        received_before: datetime | None = None,
        now: datetime | None = None,
    ) -> list[EventRecord]:
        """Accepted events to hand to Temporal now, oldest first.

        That is: not routed, not parked, and not waiting out a retry delay.
        ``received_before`` leaves out the events still being routed by the request
        that accepted them.
        """
        _check_limit(limit)
        now = _aware(now, "now") if now is not None else _now()
        statement = select(EventRow).where(
            EventRow.routed_at.is_(None),
            EventRow.route_failed_at.is_(None),
            or_(EventRow.route_after.is_(None), EventRow.route_after <= now),
        )
        if received_before is not None:
            statement = statement.where(
                EventRow.received_at < _aware(received_before, "received_before")
            )
        statement = statement.order_by(EventRow.id).limit(limit)
        with self._db.reads.begin() as session:
            return [_event(row) for row in session.scalars(statement)]

    def route_failed(
        self, message_id: str, error: str, retry_delays: Sequence[float]
    ) -> RouteFailure:
        """Count a failed routing of the event and say what happens next.

        ``retry_delays[n - 1]`` is how many seconds to wait after the n-th failure; past
        the end of it the event is parked for an operator. ``error`` is a code and a short
        reason written by cxflow, never the event's data.
        """
        now = _now()
        with self._db.writes.begin() as session:
            row = session.scalar(select(EventRow).where(EventRow.message_id == message_id))
            if row is None or row.routed_at is not None:
                return RouteFailure(attempts=0, parked=False, retry_at=None)
            row.route_attempts += 1
            row.route_error = error[:500]
            if row.route_attempts <= len(retry_delays):
                row.route_after = now + timedelta(seconds=retry_delays[row.route_attempts - 1])
            else:
                row.route_after = None
                row.route_failed_at = now
            return RouteFailure(
                attempts=row.route_attempts,
                parked=row.route_failed_at is not None,
                retry_at=row.route_after,
            )

    def failed(self, limit: int = 100) -> list[FailedEventRecord]:
        """Parked events (routing failed every attempt), oldest failure first."""
        _check_limit(limit)
        statement = (
            select(EventRow)
            .where(EventRow.route_failed_at.is_not(None), EventRow.routed_at.is_(None))
            .order_by(EventRow.route_failed_at, EventRow.id)
            .limit(limit)
        )
        with self._db.reads.begin() as session:
            return [
                FailedEventRecord(
                    message_id=row.message_id,
                    customer_id=row.customer_id,
                    name=row.name,
                    received_at=row.received_at,
                    attempts=row.route_attempts,
                    error=row.route_error or "",
                    failed_at=row.route_failed_at or row.received_at,
                )
                for row in session.scalars(statement)
            ]

    def retry(self, message_ids: Sequence[str] | None = None) -> int:
        """Put parked events back in line (all when ``message_ids`` is None); how many."""
        statement = update(EventRow).where(
            EventRow.route_failed_at.is_not(None), EventRow.routed_at.is_(None)
        )
        if message_ids is not None:
            statement = statement.where(EventRow.message_id.in_(list(message_ids)))
        with self._db.writes.begin() as session:
            result = session.execute(
                statement.values(route_failed_at=None, route_after=None, route_attempts=0)
            )
            return _rowcount(result)

    def routing_counts(self) -> RoutingCounts:
        """How many events wait to be routed, wait out a retry delay, or are parked."""
        unrouted = EventRow.routed_at.is_(None)
        statement = select(
            func.count().filter(unrouted, EventRow.route_failed_at.is_(None)),
            func.count().filter(
                unrouted, EventRow.route_failed_at.is_(None), EventRow.route_attempts > 0
            ),
            func.count().filter(unrouted, EventRow.route_failed_at.is_not(None)),
        )
        with self._db.reads.begin() as session:
            pending, retrying, failed = session.execute(statement).one()
        return RoutingCounts(pending=pending, retrying=retrying, failed=failed)

    def get(self, message_id: str) -> EventRecord | None:
        """The event stored under this message id (unique), if any."""
        statement = select(EventRow).where(EventRow.message_id == message_id)
        with self._db.reads.begin() as session:
            row = session.scalar(statement)
            return _event(row) if row is not None else None

    def for_customer(
        self, customer_id: str, name: str | None = None, limit: int = 100
    ) -> list[EventRecord]:
        """The customer's events, newest first (by event timestamp)."""
        _check_limit(limit)
        statement = select(EventRow).where(EventRow.customer_id == customer_id)
        if name is not None:
            statement = statement.where(EventRow.name == name)
        statement = statement.order_by(EventRow.timestamp.desc(), EventRow.id.desc()).limit(limit)
        with self._db.reads.begin() as session:
            return [_event(row) for row in session.scalars(statement)]
