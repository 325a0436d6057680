"""Experiments and goals: each customer's variant (the first assignment is kept
forever) and the conversions runs reached (once per run and goal event)."""

from __future__ import annotations

from sqlalchemy import select, update

from engine.store.database import Database, _now
from engine.store.records import ConversionRecord
from engine.store.tables import ConversionRow, ExperimentAssignmentRow


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

    def record_conversion(self, conversion: ConversionRecord) -> bool:
        """Record a goal reached; False if this run already converted on this goal event.

        The run and the router may both record one conversion (engine.ingest.router):
        the first row stays, and takes the value if it was recorded without one.
        """
        with self._db.writes.begin() as session:
            new = self._db.insert_ignore(
                session, ConversionRow, ["run_id", "goal_event"], **conversion.model_dump()
            )
            if not new and conversion.value is not None:
                session.execute(
                    update(ConversionRow)
                    .where(
                        ConversionRow.run_id == conversion.run_id,
                        ConversionRow.goal_event == conversion.goal_event,
                        ConversionRow.value.is_(None),
                    )
                    .values(value=conversion.value, currency=conversion.currency)
                )
            return new

    def conversions(self, journey_id: str) -> list[ConversionRecord]:
        """The journey's conversions, oldest first."""
        statement = (
            select(ConversionRow)
            .where(ConversionRow.journey_id == journey_id)
            .order_by(ConversionRow.converted_at, ConversionRow.run_id)
        )
        with self._db.reads.begin() as session:
            return [_conversion(row) for row in session.scalars(statement)]
