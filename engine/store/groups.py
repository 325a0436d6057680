"""Groups (accounts, companies, households) from ``group`` calls, and who belongs to them.

A group's traits merge shallowly like a customer's; a customer may belong to several
groups. Journeys read them as ``customer.groups`` and segments with ``group:``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.database import Database, _json_object
from engine.store.records import GroupRecord
from engine.store.tables import GroupMembershipRow, GroupRow


class Groups:
    """The ``groups`` and ``group_memberships`` tables."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def join(
        self,
        session: Session,
        customer_id: str,
        group_id: str,
        traits: dict[str, Any],
        at: datetime,
    ) -> None:
        """Merge the group's traits (creating it) and make the customer a member."""
        new_traits = _json_object(traits, "group traits")
        self._db.insert_ignore(
            session, GroupRow, ["id"], id=group_id, traits={}, created_at=at, updated_at=at
        )
        group = session.execute(
            select(GroupRow).where(GroupRow.id == group_id).with_for_update()
        ).scalar_one()
        if new_traits:
            group.traits = {**group.traits, **new_traits}
            group.updated_at = at
        self._db.insert_ignore(
            session,
            GroupMembershipRow,
            ["group_id", "customer_id"],
            group_id=group_id,
            customer_id=customer_id,
            joined_at=at,
        )

    def of_customer(self, session: Session, customer_id: str) -> list[GroupRecord]:
        """The customer's groups with their traits, by id (inside a caller's session)."""
        rows = session.execute(
            select(GroupRow, GroupMembershipRow.joined_at)
            .join(GroupMembershipRow, GroupMembershipRow.group_id == GroupRow.id)
            .where(GroupMembershipRow.customer_id == customer_id)
            .order_by(GroupRow.id)
        )
        return [
            GroupRecord(
                id=group.id,
                traits=group.traits,
                joined_at=joined,
                created_at=group.created_at,
                updated_at=group.updated_at,
            )
            for group, joined in rows
        ]

    def for_customer(self, customer_id: str) -> list[GroupRecord]:
        with self._db.reads.begin() as session:
            return self.of_customer(session, customer_id)

    def get(self, group_id: str) -> GroupRecord | None:
        with self._db.reads.begin() as session:
            row = session.get(GroupRow, group_id)
            if row is None:
                return None
            return GroupRecord(
                id=row.id, traits=row.traits, created_at=row.created_at, updated_at=row.updated_at
            )
