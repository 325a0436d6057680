"""Events: appended once per message_id, then routed to Temporal.

Inserts are ``ON CONFLICT DO NOTHING`` on the message id, so a retried ingest or a
replayed event changes nothing. A call is stored with what its type changes, in one
transaction: an identify writes the customer's traits and consent traits, a group call
the group and the membership, and a call that names an anonymous id beside a user id
(or an alias) joins the two (engine.store.identities).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from engine.errors import ConsentError, StoreError
from engine.privacy.consent import clamp, consent_from_traits
from engine.store.consent import Consents
from engine.store.customer_value import is_order, recompute_locked
from engine.store.customers import Customers
from engine.store.database import (
    Database,
    _aware,
    _check_limit,
    _check_timezone,
    _in_period,
    _json_object,
    _now,
    _rowcount,
)
from engine.store.groups import Groups
from engine.store.identities import Identities
from engine.store.records import (
    EventRecord,
    FailedEventRecord,
    IncomingCall,
    RouteFailure,
    RoutingCounts,
    StoredCall,
)
from engine.store.tables import EventRow


def _event(row: EventRow) -> EventRecord:
    return EventRecord.model_validate(row, from_attributes=True)


class Events:
    """The ``events`` table (identify also writes ``customers`` and ``consents``)."""

    def __init__(
        self,
        database: Database,
        customers: Customers,
        consents: Consents,
        identities: Identities,
        groups: Groups,
    ) -> None:
        self._db = database
        self._customers = customers
        self._consents = consents
        self._identities = identities
        self._groups = groups

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
            call_type=event.call_type,
            # An event stored by id alone (not from a call) names a known customer.
            user_id=event.user_id
            if event.user_id is not None or event.anonymous_id is not None
            else event.customer_id,
            anonymous_id=event.anonymous_id,
            context=event.context,
            integrations=event.integrations,
            sent_at=event.sent_at,
            original_timestamp=event.original_timestamp,
        )

    def record(self, event: EventRecord) -> bool:
        """Append an event; False (and nothing changes) when its message_id is already stored."""
        return self.record_many([event])[0]

    def record_many(self, events: Sequence[EventRecord]) -> list[bool]:
        """Append events in one transaction (all or none); per event, whether it was new."""
        rows = [(event, _json_object(event.properties, "event properties")) for event in events]
        with self._db.writes.begin() as session:
            new = [self._insert(session, event, properties) for event, properties in rows]
            stored = zip(events, new, strict=True)
            self._orders_stored(session, [e.customer_id for e, n in stored if n and _order(e)])
            return new

    def record_identify(
        self, event: EventRecord, traits: dict[str, Any], timezone: str | None = None
    ) -> bool:
        """Record an identify call and merge its traits, in one transaction.

        False (and nothing changes) when its message_id is already stored, so a
        retried or replayed identify never overwrites newer traits.
        """
        call = IncomingCall(event=event, traits=traits, timezone=timezone)
        return self.record_calls([call])[0].new

    def record_calls(self, calls: Sequence[IncomingCall]) -> list[StoredCall]:
        """Store calls in order, each resolved to its customer, with what its type changes.

        Calls that only append an event (track, page and screen calls whose ids are
        joined already) are stored together in one transaction; identify, group and
        alias calls, and calls that join an anonymous id to a user id, take the rows of
        the customers they change in a transaction of their own (in id order, so two
        batches never wait on each other in a circle). A call whose message id is stored
        already changes nothing.
        """
        checked = [self._checked(call) for call in calls]
        # Which calls naming an anonymous id beside a user id are joined already (no lock
        # needed): one read, only when there are such calls.
        pairs = {
            i
            for c in calls
            if c.event.anonymous_id is not None and c.event.user_id is not None
            for i in (c.event.anonymous_id, c.event.user_id)
        }
        joined: dict[str, str] = {}
        if pairs:
            with self._db.reads.begin() as session:
                joined = self._identities.resolve(session, pairs)
        results: list[StoredCall] = []
        index = 0
        while index < len(calls):
            plain = list(
                itertools.takewhile(lambda item: _appends_only(item[0], joined), checked[index:])
            )
            if plain:
                with self._db.writes.begin() as session:
                    named = {i for c, _ in plain for i in (c.event.user_id, c.event.anonymous_id)}
                    resolved = self._identities.resolve(session, {i for i in named if i})
                    ordered = []
                    for call, properties in plain:
                        customer = _customer_of(call.event, resolved)
                        event = call.event.model_copy(update={"customer_id": customer})
                        new = self._insert(session, event, properties)
                        results.append(StoredCall(new=new, customer_id=customer))
                        if new and _order(event):
                            ordered.append(customer)
                    self._orders_stored(session, ordered)
                index += len(plain)
                continue
            results.append(self._record_one(*checked[index]))
            index += 1
        return results

    def _checked(self, call: IncomingCall) -> tuple[IncomingCall, dict[str, Any]]:
        """The call with its JSON checked for the store, before any transaction begins."""
        properties = _json_object(call.event.properties, "event properties")
        if call.traits is not None:
            try:  # consent traits go to the consents table, not the profile
                _consent, traits = consent_from_traits(call.traits)
            except ConsentError as error:
                raise StoreError(f"traits: {error}") from None
            _json_object(traits, "traits")
        if call.group_traits is not None:
            _json_object(call.group_traits, "group traits")
        if call.timezone is not None:
            _check_timezone(call.timezone)
        return call, properties

    def _record_one(self, call: IncomingCall, properties: dict[str, Any]) -> StoredCall:
        event = call.event
        with self._db.writes.begin() as session:
            now = _now()
            named = {i for i in (event.user_id, event.anonymous_id, call.previous_id) if i}
            joined = self._identities.resolve(session, named)
            customer = _customer_of(event, joined)
            if not self._insert(
                session, event.model_copy(update={"customer_id": customer}), properties
            ):
                return StoredCall(new=False, customer_id=customer)
            merge = None
            if call.previous_id is not None:
                merge = self._identities.join(
                    session, call.previous_id, customer, "alias", event.message_id, now
                )
            elif event.anonymous_id is not None and event.user_id is not None:
                cause = "identify" if event.call_type == "identify" else "call"
                merge = self._identities.join(
                    session, event.anonymous_id, customer, cause, event.message_id, now
                )
            if call.traits is not None:
                consent, traits = consent_from_traits(call.traits)
                row = self._customers.lock(session, customer, now)
                row.traits = {**row.traits, **traits}
                if call.timezone is not None:
                    row.timezone = call.timezone
                row.updated_at = now
                at = clamp(event.timestamp, event.received_at)
                self._consents.apply(session, customer, consent, "identify", at)
            if call.group_id is not None:
                self._customers.lock(session, customer, now)
                self._groups.join(session, customer, call.group_id, call.group_traits or {}, now)
            if _order(event):
                self._orders_stored(session, [customer])
            return StoredCall(new=True, customer_id=customer, merge=merge)

    def _orders_stored(self, session: Session, customers: list[str]) -> None:
        """New order events of these customers were stored in this transaction: their
        lifetime figures are recomputed in it (engine.store.customer_value)."""
        if customers:
            recompute_locked(session, self._customers, customers, _now())

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

    def between(self, since: datetime, until: datetime, limit: int) -> list[EventRecord]:
        """Every event in ``[since, until)`` by its timestamp, oldest first, at most
        ``limit`` (what `cxflow simulate` replays)."""
        statement = (
            select(EventRow)
            .where(*_in_period(EventRow.timestamp, since, until))
            .order_by(EventRow.timestamp, EventRow.id)
            .limit(limit)
        )
        with self._db.reads.begin() as session:
            return [_event(row) for row in session.scalars(statement)]

    def named(
        self, name: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[EventRecord]:
        """Every event of this name (in ``[since, until)`` by its timestamp), oldest first:
        what workspace reports read (survey answers, orders)."""
        statement = select(EventRow).where(
            EventRow.name == name, *_in_period(EventRow.timestamp, since, until)
        )
        with self._db.reads.begin() as session:
            return [_event(row) for row in session.scalars(statement.order_by(EventRow.timestamp))]


def _order(event: EventRecord) -> bool:
    return is_order(event.name)


def _appends_only(call: IncomingCall, joined: dict[str, str]) -> bool:
    """Whether storing the call is an insert and nothing else (no lock, no merge)."""
    event = call.event
    if call.traits is not None or call.group_id is not None or call.previous_id is not None:
        return False
    if event.user_id is None or event.anonymous_id is None:
        return True
    return joined.get(event.anonymous_id) == joined.get(event.user_id, event.user_id)


def _customer_of(event: EventRecord, joined: dict[str, str]) -> str:
    """Whom the call's ids stand for: its userId, else its anonymousId, as resolved."""
    named = event.user_id or event.anonymous_id or event.customer_id
    return joined.get(named, named)
