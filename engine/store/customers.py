"""Customer profiles: traits and timezone, read with their segment memberships.

``lock`` is the one way to write a customer's row: it creates the row when missing
and locks it until the transaction ends. Other repositories call it inside their own
transaction (identify, consent, segment recomputation) so writes of one customer queue.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.database import (
    Database,
    _check_limit,
    _check_timezone,
    _json_object,
    _now,
)
from engine.store.records import CustomerRecord
from engine.store.tables import CustomerRow, SegmentMembershipRow


class Customers:
    """The ``customers`` table (memberships are read here, written by ``Segments``)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def lock(self, session: Session, customer_id: str, now: datetime) -> CustomerRow:
        """The customer row, created when missing, locked until the transaction ends.

        Inserting first gives FOR UPDATE a row to lock even for a new customer,
        so concurrent trait updates queue instead of losing each other's writes.
        """
        self._db.insert_ignore(
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

    def lock_profile(self, session: Session, customer_id: str, now: datetime) -> CustomerRow:
        """Like :meth:`lock`, but for an id merged into another customer, that customer's
        row: what a journey still running under the old id writes to."""
        row = self.lock(session, customer_id, now)
        return row if row.merged_into is None else self.lock(session, row.merged_into, now)

    def to_record(self, session: Session, row: CustomerRow) -> CustomerRecord:
        """The row as a record, with the customer's segments (read in the same session)."""
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
            aliases=self.aliases(session, row.id),
        )

    def upsert(
        self,
        customer_id: str,
        traits: dict[str, Any] | None = None,
        timezone: str | None = None,
    ) -> CustomerRecord:
        """Create or update a customer: traits merge shallowly, a None timezone keeps the old."""
        new_traits = _json_object(traits or {}, "traits")
        if timezone is not None:
            _check_timezone(timezone)
        with self._db.writes.begin() as session:
            now = _now()
            row = self.lock_profile(session, customer_id, now)
            row.traits = {**row.traits, **new_traits}
            if timezone is not None:
                row.timezone = timezone
            row.updated_at = now
            session.flush()
            return self.to_record(session, row)

    def get(self, customer_id: str) -> CustomerRecord | None:
        """The profile; for an id merged into another customer, that customer's."""
        with self._db.reads.begin() as session:
            return self.read(session, customer_id)

    def read(self, session: Session, customer_id: str) -> CustomerRecord | None:
        """:meth:`get` inside a caller's session."""
        row = self.row(session, customer_id)
        return None if row is None else self.to_record(session, row)

    def row(self, session: Session, customer_id: str) -> CustomerRow | None:
        """The customer's row; for an id merged into another customer, that customer's."""
        row = session.get(CustomerRow, customer_id)
        if row is not None and row.merged_into is not None:
            row = session.get(CustomerRow, row.merged_into)
        return row

    def aliases(self, session: Session, customer_id: str) -> list[str]:
        """The ids merged into the customer, in order."""
        statement = (
            select(CustomerRow.id)
            .where(CustomerRow.merged_into == customer_id)
            .order_by(CustomerRow.id)
        )
        return list(session.scalars(statement))

    def update_traits(
        self, customer_id: str, set_traits: dict[str, Any], unset: list[str]
    ) -> CustomerRecord:
        """Set then unset traits (a name in both ends up unset); creates the customer if missing."""
        new_traits = _json_object(set_traits, "traits")
        with self._db.writes.begin() as session:
            now = _now()
            row = self.lock_profile(session, customer_id, now)
            merged = {**row.traits, **new_traits}
            for name in unset:
                merged.pop(name, None)
            row.traits = merged
            row.updated_at = now
            session.flush()
            return self.to_record(session, row)

    def ids(self, after: str | None = None, limit: int = 500) -> list[str]:
        """Customer ids in order, ``limit`` at a time after ``after``: for refreshing in pages."""
        _check_limit(limit)
        statement = (
            select(CustomerRow.id)
            .where(CustomerRow.merged_into.is_(None))
            .order_by(CustomerRow.id)
            .limit(limit)
        )
        if after is not None:
            statement = statement.where(CustomerRow.id > after)
        with self._db.reads.begin() as session:
            return list(session.scalars(statement))
