"""Reads the reports of issue 14 need and no other code does: a journey's messages per step
and status, what its conversions are credited to, the customers who entered journeys and
what they converted for (the global control group's lift), engagement per channel, the
messages of given runs (the channel a survey link went by) and when customers were
assigned (survey scores per variant). Aggregates and ids only; no message content."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TypeVar

from sqlalchemy import func, select

from engine.store.database import Database, _in_period
from engine.store.records import MessageRecord, Record, RunRecord
from engine.store.tables import (
    ConversionRow,
    ExperimentAssignmentRow,
    MessageEngagementRow,
    MessageRow,
    RunRow,
    StepVisitRow,
)

CHUNK = 500  # ids per IN (...) list: far below SQLite's and PostgreSQL's limits
_T = TypeVar("_T")
_R = TypeVar("_R", bound=Record)


class CustomerConversion(Record):
    customer_id: str
    value: float | None
    currency: str | None


class StepCredit(Record):
    """The conversions credited to one step (last touch), and the sum of their values."""

    conversions: int
    revenue: float


class Assignment(Record):
    variant: str
    assigned_at: datetime


def journey_messages_prefix(journey_id: str) -> str:
    """What the workflow id of every run of the journey starts with (workflows.ids)."""
    return f"journey:{journey_id}:"


class Reports:
    """Report reads across ``message_log``, ``message_engagement``, ``conversions``,
    ``runs``, ``step_visits`` and ``experiment_assignments``."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def step_messages(self, journey_id: str) -> dict[str, dict[str, int]]:
        """step id -> status -> how many of the journey's messages (every run and visit);
        connector calls, whose channel is an action with a dot, are no messages."""
        log = MessageRow
        statement = (
            select(log.step_id, log.status, func.count())
            .where(
                log.workflow_id.startswith(journey_messages_prefix(journey_id), autoescape=True),
                ~log.channel.contains("."),
            )
            .group_by(log.step_id, log.status)
        )
        found: dict[str, dict[str, int]] = defaultdict(dict)
        with self._db.reads.begin() as session:
            for step, status, n in session.execute(statement):
                found[step][status] = int(n)
        return dict(found)

    def step_credit(self, journey_id: str) -> dict[str, StepCredit]:
        """step id -> the journey's conversions credited to it, and their values' sum."""
        row = ConversionRow
        statement = (
            select(row.attributed_step, func.count(), func.coalesce(func.sum(row.value), 0.0))
            .where(row.journey_id == journey_id, row.attributed_step.is_not(None))
            .group_by(row.attributed_step)
        )
        with self._db.reads.begin() as session:
            return {
                str(step): StepCredit(conversions=int(n), revenue=float(total or 0.0))
                for step, n, total in session.execute(statement)
            }

    def step_revenue_reached(self, journey_id: str) -> dict[str, float]:
        """step id -> the sum of the conversion values of the runs that reached the step."""
        statement = (
            select(StepVisitRow.step_id, func.coalesce(func.sum(ConversionRow.value), 0.0))
            .join(ConversionRow, ConversionRow.run_id == StepVisitRow.run_id)
            .where(StepVisitRow.journey_id == journey_id, ConversionRow.journey_id == journey_id)
            .group_by(StepVisitRow.step_id)
        )
        with self._db.reads.begin() as session:
            return {step: float(total or 0.0) for step, total in session.execute(statement)}

    def entered_customers(self, since: datetime | None, until: datetime | None) -> set[str]:
        """The customers with a run of any journey that began in ``[since, until)``."""
        period = _in_period(RunRow.started_at, since, until)
        statement = select(RunRow.customer_id).where(*period).distinct()
        with self._db.reads.begin() as session:
            return set(session.scalars(statement))

    def customer_conversions(
        self, since: datetime | None, until: datetime | None
    ) -> list[CustomerConversion]:
        """Every conversion of the period (by its time), any journey: who, value, currency."""
        row = ConversionRow
        statement = select(row.customer_id, row.value, row.currency).where(
            *_in_period(row.converted_at, since, until)
        )
        with self._db.reads.begin() as session:
            return [
                CustomerConversion(customer_id=c, value=v, currency=cur)
                for c, v, cur in session.execute(statement)
            ]

    def channel_engagement(
        self, since: datetime | None, until: datetime | None
    ) -> dict[str, dict[str, int]]:
        """channel -> ``sent`` (messages sent that were created in the period) and, per
        engagement kind, how many of those messages had at least one such signal (at any
        time): a cohort, so no rate can pass 100%."""
        log, signal = MessageRow, MessageEngagementRow
        cohort = (log.status == "sent", ~log.channel.contains("."))
        period = _in_period(log.created_at, since, until)
        sent = select(log.channel, func.count()).where(*cohort, *period).group_by(log.channel)
        engaged = (
            select(log.channel, signal.kind, func.count(func.distinct(signal.message_ref)))
            .join(signal, signal.message_ref == log.ref)
            .where(*cohort, *period)
            .group_by(log.channel, signal.kind)
        )
        found: dict[str, dict[str, int]] = defaultdict(dict)
        with self._db.reads.begin() as session:
            for channel, n in session.execute(sent):
                found[channel]["sent"] = int(n)
            for channel, kind, n in session.execute(engaged):
                found[channel][kind] = int(n)
        return dict(found)

    def messages_of(self, workflow_ids: Iterable[str]) -> list[MessageRecord]:
        """Every message-log entry (sends and calls) of these workflow ids, oldest first."""
        found = self._of_workflows(MessageRow, MessageRecord, workflow_ids)
        return sorted(found, key=lambda m: (m.created_at, m.key))

    def runs_of(self, workflow_ids: Iterable[str]) -> list[RunRecord]:
        """Every run of these workflow ids, oldest first."""
        found = self._of_workflows(RunRow, RunRecord, workflow_ids)
        return sorted(found, key=lambda r: (r.started_at, r.run_id))

    def _of_workflows(
        self,
        table: type[MessageRow] | type[RunRow],
        record: type[_R],
        workflow_ids: Iterable[str],
    ) -> list[_R]:
        """The rows of ``table`` of these workflow ids, as ``record``s, a chunk of ids a query."""
        found: list[_R] = []
        with self._db.reads.begin() as session:
            for chunk in _chunks(sorted(set(workflow_ids))):
                statement = select(table).where(table.workflow_id.in_(chunk))
                found += [
                    record.model_validate(row, from_attributes=True)
                    for row in session.scalars(statement)
                ]
        return found

    def assigned(self, experiment: str) -> dict[str, Assignment]:
        """customer id -> variant and when it was assigned, for the experiment."""
        row = ExperimentAssignmentRow
        statement = select(row.customer_id, row.variant, row.assigned_at).where(
            row.experiment == experiment
        )
        with self._db.reads.begin() as session:
            return {
                customer: Assignment(variant=variant, assigned_at=at)
                for customer, variant, at in session.execute(statement)
            }


def _chunks(items: list[_T]) -> Iterator[list[_T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
