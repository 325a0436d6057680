"""Experiments and goals: each customer's variant (the first assignment is kept
forever) and the conversions runs reached (once per run and goal event), each credited
to the message of its run that touched the customer last (engine.analytics.attribution)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.analytics.attribution import AttributionWindows, Touch, attribute, default_windows
from engine.store.database import Database, _now
from engine.store.records import ConversionRecord
from engine.store.tables import (
    ConversionRow,
    ExperimentAssignmentRow,
    MessageEngagementRow,
    MessageRow,
)

TOUCH_KINDS = ("opened", "clicked")  # the signals that restart a message's window


def _conversion(row: ConversionRow) -> ConversionRecord:
    return ConversionRecord.model_validate(row, from_attributes=True)


class Experiments:
    """The ``experiment_assignments`` and ``conversions`` tables."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def assign(self, experiment: str, customer_id: str, variant: str) -> str:
        """The customer's variant: the first assignment is kept forever."""
        with self._db.writes.begin() as session:
            self._db.insert_ignore(
                session,
                ExperimentAssignmentRow,
                ["experiment", "customer_id"],
                experiment=experiment,
                customer_id=customer_id,
                variant=variant,
                assigned_at=_now(),
            )
            return session.execute(
                select(ExperimentAssignmentRow.variant).where(
                    ExperimentAssignmentRow.experiment == experiment,
                    ExperimentAssignmentRow.customer_id == customer_id,
                )
            ).scalar_one()

    def assignments(self, experiment: str) -> dict[str, str]:
        """customer id -> variant for the experiment."""
        statement = select(
            ExperimentAssignmentRow.customer_id, ExperimentAssignmentRow.variant
        ).where(ExperimentAssignmentRow.experiment == experiment)
        with self._db.reads.begin() as session:
            return {row.customer_id: row.variant for row in session.execute(statement)}

    def record_conversion(
        self, conversion: ConversionRecord, windows: AttributionWindows | None = None
    ) -> bool:
        """Record a goal reached; False if this run already converted on this goal event.

        The conversion is credited to the run's message that touched the customer last
        within its channel's window (``windows``, the default ones when not given), unless
        the record names one already. The run and the router may both record one
        conversion (engine.ingest.router): the first row stays, and takes the value (and
        the credit) if it was recorded without one.
        """
        with self._db.writes.begin() as session:
            if conversion.attributed_ref is None:
                conversion = self._attributed(session, conversion, windows)
            new = self._db.insert_ignore(
                session, ConversionRow, ["run_id", "goal_event"], **conversion.model_dump()
            )
            if new:
                return True
            key = (
                ConversionRow.run_id == conversion.run_id,
                ConversionRow.goal_event == conversion.goal_event,
            )
            if conversion.value is not None:
                session.execute(
                    update(ConversionRow)
                    .where(*key, ConversionRow.value.is_(None))
                    .values(value=conversion.value, currency=conversion.currency)
                )
            if conversion.attributed_ref is not None:
                session.execute(
                    update(ConversionRow)
                    .where(*key, ConversionRow.attributed_ref.is_(None))
                    .values(
                        attributed_ref=conversion.attributed_ref,
                        attributed_step=conversion.attributed_step,
                        attributed_channel=conversion.attributed_channel,
                    )
                )
            return False

    def _attributed(
        self, session: Session, conversion: ConversionRecord, windows: AttributionWindows | None
    ) -> ConversionRecord:
        """The conversion with the message it is credited to, if any (see the module)."""
        at = conversion.converted_at
        chosen = attribute(
            run_touches(session, conversion.workflow_id, conversion.run_id, at),
            at,
            windows if windows is not None else default_windows(),
        )
        if chosen is None:
            return conversion
        return conversion.model_copy(
            update={
                "attributed_ref": chosen.ref,
                "attributed_step": chosen.step_id,
                "attributed_channel": chosen.channel,
            }
        )

    def conversions(self, journey_id: str) -> list[ConversionRecord]:
        """The journey's conversions, oldest first."""
        statement = (
            select(ConversionRow)
            .where(ConversionRow.journey_id == journey_id)
            .order_by(ConversionRow.converted_at, ConversionRow.run_id)
        )
        with self._db.reads.begin() as session:
            return [_conversion(row) for row in session.scalars(statement)]


def run_touches(session: Session, workflow_id: str, run_id: str, before: datetime) -> list[Touch]:
    """The messages one run sent up to ``before``, with their opens and clicks up to then.

    A run's messages are the message log's ``sent`` entries whose idempotency key starts
    with ``<workflow id>/<entry id>/`` (docs/architecture.md, Ids); connector calls, whose
    channel is an action with a dot (``survey.link``), are no messages.
    """
    log = MessageRow
    rows = session.execute(
        select(log.key, log.ref, log.step_id, log.channel, log.completed_at).where(
            log.workflow_id == workflow_id,
            log.key.startswith(f"{workflow_id}/{run_id}/", autoescape=True),
            log.status == "sent",
            log.completed_at <= before,
            ~log.channel.contains("."),
        )
    ).all()
    refs = [ref for _key, ref, _step, _channel, _at in rows if ref is not None]
    engaged: dict[str, list[datetime]] = defaultdict(list)
    if refs:
        signal = MessageEngagementRow
        for ref, at in session.execute(
            select(signal.message_ref, signal.at).where(
                signal.message_ref.in_(refs), signal.kind.in_(TOUCH_KINDS), signal.at <= before
            )
        ):
            engaged[ref].append(at)
    return [
        Touch(
            ref=ref, step_id=step, channel=channel, sent_at=at,
            engaged=tuple(engaged.get(ref, ())), key=key,
        )
        for key, ref, step, channel, at in rows
        if ref is not None and at is not None
    ]  # fmt: skip
