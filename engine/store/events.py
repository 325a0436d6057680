"""Events: appended once per message_id, then routed to Temporal.

Inserts are ``ON CONFLICT DO NOTHING`` on the message id, so a retried ingest or a
replayed event changes nothing. An identify call writes its event, the customer's
traits and its consent traits in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
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
)
from engine.store.records import EventRecord
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
        with self._db.reads.begin() as session:
            return [_event(row) for row in session.scalars(statement)]

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
