"""The message log: one entry per idempotency key, claimed 'pending' then completed.

Sends and connector calls claim their key before acting, so a retried activity
finds the entry completed and does not act twice. Frequency caps count its sends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from connectors.models import message_ref
from engine.errors import StoreError
from engine.store.database import (
    Database,
    _aware,
    _check_status,
    _in_period,
    _json_object,
    _now,
)
from engine.store.records import COMPLETED_MESSAGE_STATUSES, MessageRecord
from engine.store.tables import MessageRow
from workflows.ids import PREFIX


def _message(row: MessageRow) -> MessageRecord:
    return MessageRecord.model_validate(row, from_attributes=True)


class Messages:
    """The ``message_log`` table."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def claim(
        self, key: str, run_workflow_id: str, step_id: str, channel: str, customer_id: str
    ) -> MessageRecord:
        """The log entry for this idempotency key, created 'pending' if absent.

        A status other than 'pending' tells a retried activity the work is done.
        """
        with self._db.writes.begin() as session:
            self._db.insert_ignore(
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
                ref=message_ref(key),
            )
            return _message(
                session.execute(select(MessageRow).where(MessageRow.key == key)).scalar_one()
            )

    def complete(self, key: str, status: str, detail: dict[str, Any]) -> MessageRecord:
        """Record the outcome of a claimed message."""
        _check_status(status, COMPLETED_MESSAGE_STATUSES, "a completed message's")
        stored_detail = _json_object(detail, "message detail")
        with self._db.writes.begin() as session:
            row = session.get(MessageRow, key, with_for_update=True)
            if row is None:
                raise StoreError(f"no message with key {key!r}: claim_message it first")
            row.status = status
            row.detail = stored_detail
            row.completed_at = _now()
            session.flush()
            return _message(row)

    def by_ref(self, ref: str) -> MessageRecord | None:
        """The log entry whose public reference (connectors.models.message_ref) is ``ref``."""
        with self._db.reads.begin() as session:
            row = session.scalars(select(MessageRow).where(MessageRow.ref == ref)).first()
            return None if row is None else _message(row)

    def get(self, key: str) -> MessageRecord | None:
        with self._db.reads.begin() as session:
            row = session.get(MessageRow, key)
            return None if row is None else _message(row)

    def find(
        self, customer_id: str | None = None, workflow_id: str | None = None
    ) -> list[MessageRecord]:
        """Log entries matching every given filter, newest first."""
        statement = select(MessageRow)
        if customer_id is not None:
            statement = statement.where(MessageRow.customer_id == customer_id)
        if workflow_id is not None:
            statement = statement.where(MessageRow.workflow_id == workflow_id)
        statement = statement.order_by(MessageRow.created_at.desc(), MessageRow.key)
        with self._db.reads.begin() as session:
            return [_message(row) for row in session.scalars(statement)]

    def page(
        self,
        *,
        channel: str | None = None,
        status: str | None = None,
        journey_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[MessageRecord], int]:
        """One page of the sends (not connector calls, whose channel has a dot) matching
        every given filter, newest first, and how many match in all: the console's log.

        The journey is read from the run's workflow id (``journey:<journey>:<customer>``);
        the period is the entry's creation time, in ``[since, until)``.
        """
        conditions = [
            ~MessageRow.channel.contains("."),
            *_in_period(MessageRow.created_at, since, until),
        ]
        if channel is not None:
            conditions.append(MessageRow.channel == channel)
        if status is not None:
            conditions.append(MessageRow.status == status)
        if journey_id is not None:
            conditions.append(
                MessageRow.workflow_id.startswith(f"{PREFIX}{journey_id}:", autoescape=True)
            )
        statement = (
            select(MessageRow)
            .where(*conditions)
            .order_by(MessageRow.created_at.desc(), MessageRow.key)
            .limit(limit)
            .offset(offset)
        )
        with self._db.reads.begin() as session:
            total = session.scalar(select(func.count()).select_from(MessageRow).where(*conditions))
            return [_message(row) for row in session.scalars(statement)], total or 0

    def channels(self) -> list[str]:
        """The channels sends were logged on, for the log's filter."""
        statement = (
            select(MessageRow.channel)
            .where(~MessageRow.channel.contains("."))
            .distinct()
            .order_by(MessageRow.channel)
        )
        with self._db.reads.begin() as session:
            return list(session.scalars(statement))

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
        with self._db.reads.begin() as session:
            return session.scalar(statement) or 0
