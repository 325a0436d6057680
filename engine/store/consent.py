"""Consent decisions per customer and channel (engine.privacy.consent decides; this stores).

A decision older than the stored one is ignored, so replayed or out-of-order
decisions never undo a newer one. ``apply`` runs inside a caller's transaction with
the customer's row locked (identify records consent traits with the event).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.privacy.consent import ConsentRecord
from engine.store.customers import Customers
from engine.store.database import Database, _aware, _now
from engine.store.tables import ConsentChangeRow, ConsentRow, CustomerRow


class Consents:
    """The ``consents`` table."""

    def __init__(self, database: Database, customers: Customers) -> None:
        self._db = database
        self._customers = customers

    def apply(
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
        for channel in changed:  # the history a profile's timeline shows
            session.add(
                ConsentChangeRow(
                    customer_id=customer_id,
                    channel=channel,
                    subscribed=changes[channel],
                    source=source,
                    at=at,
                )
            )
        return changed

    def record(
        self,
        customer_id: str,
        channel: str,
        subscribed: bool,
        source: str,
        at: datetime | None = None,
    ) -> bool:
        """Record one decision (``channel`` ``*``: every channel), creating the customer if
        missing; True when it changed what was stored."""
        with self._db.writes.begin() as session:
            customer_id = self._customers.lock_profile(session, customer_id, _now()).id
            changes = {channel: subscribed}
            return bool(self.apply(session, customer_id, changes, source, at or _now()))

    def get(self, customer_id: str, channel: str | None = None) -> list[ConsentRecord]:
        """The customer's decisions, by channel; with ``channel``, its own and ``*``'s."""
        with self._db.reads.begin() as session:
            merged_into = session.scalar(
                select(CustomerRow.merged_into).where(CustomerRow.id == customer_id)
            )
            customer_id = merged_into or customer_id  # a run under a merged-away id
            statement = select(ConsentRow).where(ConsentRow.customer_id == customer_id)
            if channel is not None:
                statement = statement.where(ConsentRow.channel.in_((channel, "*")))
            rows = session.scalars(statement.order_by(ConsentRow.channel))
            return [ConsentRecord.model_validate(row, from_attributes=True) for row in rows]
