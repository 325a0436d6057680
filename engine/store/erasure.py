"""Erasing a customer: delete the personal data, pseudonymise what analytics keep.

It spans most tables in one transaction, so it works on the session directly
rather than through the other repositories (each of which opens its own).
A test checks that every table with a customer column is in ERASED_TABLES or
PSEUDONYMISED_TABLES, and that no column of any table still holds the customer's id
afterwards (workflow ids, idempotency keys and message ids embed it).
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import delete, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from engine.store.database import Database, _now, _rowcount
from engine.store.records import ErasureRecord
from engine.store.tables import (
    Base,
    ConsentChangeRow,
    ConsentRow,
    ConversionRow,
    CustomerMergeRow,
    CustomerRow,
    CustomerValueRow,
    ErasedCustomerRow,
    EventRow,
    ExperimentAssignmentRow,
    GroupMembershipRow,
    MessageEngagementRow,
    MessageRow,
    RunRow,
    SegmentChangeRow,
    SegmentMembershipRow,
    SuppressionRow,
)
from workflows.ids import journey_of, workflow_id_for

ERASED_PREFIX = "erased-"
# What erasing a customer deletes (children first), and the tables it pseudonymises instead.
_ERASED_ROWS: tuple[tuple[type[Base], InstrumentedAttribute[str]], ...] = (
    (SegmentMembershipRow, SegmentMembershipRow.customer_id),
    (GroupMembershipRow, GroupMembershipRow.customer_id),
    (ConsentRow, ConsentRow.customer_id),
    (ConsentChangeRow, ConsentChangeRow.customer_id),
    (CustomerMergeRow, CustomerMergeRow.from_id),
    (CustomerMergeRow, CustomerMergeRow.into_id),
    (SegmentChangeRow, SegmentChangeRow.customer_id),
    (EventRow, EventRow.customer_id),
    (MessageEngagementRow, MessageEngagementRow.customer_id),
    (CustomerValueRow, CustomerValueRow.customer_id),
    (CustomerRow, CustomerRow.id),
)
# Suppressions keep the hashed address (a complaint stays a complaint) but lose the customer.
PSEUDONYMISED_TABLES = (
    "runs",
    "message_log",
    "conversions",
    "experiment_assignments",
    "suppressions",
)
ERASED_TABLES = tuple(dict.fromkeys(table.__tablename__ for table, _ in _ERASED_ROWS))


def customer_hash(customer_id: str) -> str:
    """How the tombstone of an erased customer names them: never the id itself."""
    return hashlib.sha256(f"cxflow-erased\x1f{customer_id}".encode()).hexdigest()


class Erasure:
    """Erases customers across the tables above."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def erase(self, customer_id: str) -> ErasureRecord:
        """Remove the customer's personal data; keep the analytics under a pseudonym.

        The profile, its events, segment and group memberships, consents and merges are
        deleted (and the lifetime value figures, with the events they are kept from), for
        the customer and every id merged into them (the same person). Runs,
        messages, experiment assignments and conversions stay (journey and experiment
        figures must not change after the fact) but name a random pseudonym instead of
        the customer, and messages lose their details (addresses, provider answers).
        Engagement with their messages is deleted; suppressions of their addresses stay
        (keyed by a hash of the address, not the address) without the customer's id.
        One transaction: all of it or nothing.
        """
        pseudonym = f"{ERASED_PREFIX}{secrets.token_hex(8)}"
        deleted: dict[str, int] = {}
        pseudonymised: dict[str, int] = {}
        with self._db.writes.begin() as session:
            merged = list(
                session.scalars(
                    select(CustomerRow.id).where(CustomerRow.merged_into == customer_id)
                )
            )
            for erased_id in [customer_id, *merged]:
                _erase_one(session, erased_id, pseudonym, deleted, pseudonymised)
                # Another customer's call may have named this id (a join that was refused).
                session.execute(
                    update(EventRow)
                    .where(EventRow.anonymous_id == erased_id)
                    .values(anonymous_id=None)
                )
                if any(deleted.values()) or any(pseudonymised.values()):
                    self._db.insert_ignore(
                        session,
                        ErasedCustomerRow,
                        ["customer_hash"],
                        customer_hash=customer_hash(erased_id),
                        erased_at=_now(),
                    )
        return ErasureRecord(
            customer_id=customer_id,
            pseudonym=pseudonym,
            deleted=deleted,
            pseudonymised={k: v for k, v in pseudonymised.items() if v},
        )

    def is_erased(self, customer_id: str) -> bool:
        """Whether this customer was erased (old links of theirs must recreate nothing)."""
        statement = select(ErasedCustomerRow.customer_hash).where(
            ErasedCustomerRow.customer_hash == customer_hash(customer_id)
        )
        with self._db.reads.begin() as session:
            return session.scalar(statement) is not None


def _count(counts: dict[str, int], table: str, rows: int) -> None:
    counts[table] = counts.get(table, 0) + rows


def _erase_one(
    session: Session,
    customer_id: str,
    pseudonym: str,
    deleted: dict[str, int],
    pseudonymised: dict[str, int],
) -> None:
    """Erase one id inside the erasure's transaction, adding to its counts."""

    def renamed(workflow_id: str, journey_id: str | None = None) -> str:
        """The customer's workflow id of a journey as the pseudonym's: derived anew,
        since a long id ends with a hash of the customer id, not the id itself."""
        journey = journey_id or journey_of(workflow_id)
        if journey is not None and workflow_id == workflow_id_for(journey, customer_id):
            return workflow_id_for(journey, pseudonym)
        suffix = f":{customer_id}"  # not a journey run's id: rename what it embeds
        if workflow_id.endswith(suffix):
            return workflow_id[: -len(suffix)] + f":{pseudonym}"
        return workflow_id

    def renamed_key(key: str, workflow_id: str) -> str:
        """An idempotency key, ``<workflow id>/<entry>/<step>/<visit>``, renamed."""
        if key.startswith(f"{workflow_id}/"):
            return renamed(workflow_id) + key[len(workflow_id) :]
        return key

    for table, column in _ERASED_ROWS:
        result = session.execute(delete(table).where(column == customer_id))
        _count(deleted, table.__tablename__, _rowcount(result))
    for run in session.scalars(select(RunRow).where(RunRow.customer_id == customer_id)):
        run.customer_id = pseudonym
        run.workflow_id = renamed(run.workflow_id, run.journey_id)
        run.trigger_message_id = _unlinked(run.trigger_message_id)
        _count(pseudonymised, "runs", 1)
    messages = select(MessageRow).where(MessageRow.customer_id == customer_id)
    for message in session.scalars(messages):
        message.key = renamed_key(message.key, message.workflow_id)
        message.customer_id, message.workflow_id = pseudonym, renamed(message.workflow_id)
        message.detail = {"erased": True}
        _count(pseudonymised, "message_log", 1)
    conversions = select(ConversionRow).where(ConversionRow.customer_id == customer_id)
    for conversion in session.scalars(conversions):
        conversion.customer_id = pseudonym
        conversion.workflow_id = renamed(conversion.workflow_id, conversion.journey_id)
        conversion.message_id = _unlinked(conversion.message_id) or ""
        _count(pseudonymised, "conversions", 1)
    result = session.execute(
        update(ExperimentAssignmentRow)
        .where(ExperimentAssignmentRow.customer_id == customer_id)
        .values(customer_id=pseudonym)
    )
    _count(pseudonymised, "experiment_assignments", _rowcount(result))
    result = session.execute(
        update(SuppressionRow)
        .where(SuppressionRow.customer_id == customer_id)
        .values(customer_id=None, detail={"erased": True})
    )
    _count(pseudonymised, "suppressions", _rowcount(result))


def _unlinked(message_id: str | None) -> str | None:
    """A sender's message id (it may embed the customer) as a stable hash."""
    if message_id is None or message_id.startswith(ERASED_PREFIX):
        return message_id
    return f"{ERASED_PREFIX}{hashlib.sha256(message_id.encode()).hexdigest()[:32]}"
