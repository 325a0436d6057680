"""Journey runs: started once, moved from step to step, finished once; and step funnels."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update

from engine.store.database import Database, _aware, _check_limit, _check_status, _now
from engine.store.records import FINISHED_RUN_STATUSES, RunRecord, StepFunnelRecord
from engine.store.tables import ConversionRow, RunRow, StepVisitRow


def _run(row: RunRow) -> RunRecord:
    return RunRecord.model_validate(row, from_attributes=True)


class Runs:
    """The ``runs`` and ``step_visits`` tables (funnels also read ``conversions``)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def started(self, run: RunRecord) -> None:
        """Record a run; repeating it (a retried activity) keeps the first record."""
        with self._db.writes.begin() as session:
            self._db.insert_ignore(session, RunRow, ["workflow_id", "run_id"], **run.model_dump())

    def step(self, workflow_id: str, run_id: str, step_id: str, at: datetime | None = None) -> None:
        """Note the step a running run is at, and its first visit of that step (funnels).

        Ignored for unknown runs; a finished run's current step stays as it was.
        """
        visited = _now() if at is None else _aware(at, "at")
        with self._db.writes.begin() as session:
            run = session.get(RunRow, (workflow_id, run_id))
            if run is None:
                return
            if run.status == "running":
                run.current_step = step_id
            self._db.insert_ignore(
                session,
                StepVisitRow,
                ["run_id", "step_id"],
                run_id=run_id,
                step_id=step_id,
                journey_id=run.journey_id,
                first_at=visited,
            )

    def funnel(self, journey_id: str) -> list[StepFunnelRecord]:
        """Per step reached: runs and customers, and how those runs ended or converted."""
        converted = (
            select(ConversionRow.run_id).where(ConversionRow.journey_id == journey_id).distinct()
        ).subquery()
        statement = (
            select(
                StepVisitRow.step_id,
                func.count(),
                func.count(func.distinct(RunRow.customer_id)),
                func.count().filter(RunRow.status == "completed"),
                func.count().filter(RunRow.status == "exited"),
                func.count().filter(RunRow.status == "failed"),
                func.count().filter(RunRow.status == "running"),
                func.count(converted.c.run_id),
            )
            .join(RunRow, RunRow.run_id == StepVisitRow.run_id)
            .outerjoin(converted, converted.c.run_id == StepVisitRow.run_id)
            .where(StepVisitRow.journey_id == journey_id, RunRow.journey_id == journey_id)
            .group_by(StepVisitRow.step_id)
            .order_by(StepVisitRow.step_id)
        )
        with self._db.reads.begin() as session:
            return [
                StepFunnelRecord(
                    step_id=step,
                    runs=runs,
                    customers=customers,
                    completed=completed,
                    exited=exited,
                    failed=failed,
                    running=running,
                    converted=conversions,
                )
                for step, runs, customers, completed, exited, failed, running, conversions in (
                    session.execute(statement)
                )
            ]

    def set_variant(self, workflow_id: str, run_id: str, variant: str) -> None:
        """Note the experiment variant the run was split into; ignored for unknown runs."""
        with self._db.writes.begin() as session:
            session.execute(
                update(RunRow)
                .where(RunRow.workflow_id == workflow_id, RunRow.run_id == run_id)
                .values(variant=variant)
            )

    def finished(
        self,
        workflow_id: str,
        run_id: str,
        status: str,
        reason: str | None = None,
        ended_at: datetime | None = None,
    ) -> None:
        """End a running run; the first end wins, and an unknown run is ignored."""
        _check_status(status, FINISHED_RUN_STATUSES, "a finished run's")
        ended = _now() if ended_at is None else _aware(ended_at, "ended_at")
        with self._db.writes.begin() as session:
            session.execute(
                update(RunRow)
                .where(
                    RunRow.workflow_id == workflow_id,
                    RunRow.run_id == run_id,
                    RunRow.status == "running",
                )
                .values(status=status, exit_reason=reason, ended_at=ended)
            )

    def find(
        self,
        journey_id: str | None = None,
        customer_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[RunRecord]:
        """Runs matching every given filter, newest first."""
        _check_limit(limit)
        statement = select(RunRow)
        if journey_id is not None:
            statement = statement.where(RunRow.journey_id == journey_id)
        if customer_id is not None:
            statement = statement.where(RunRow.customer_id == customer_id)
        if status is not None:
            statement = statement.where(RunRow.status == status)
        statement = statement.order_by(
            RunRow.started_at.desc(), RunRow.workflow_id, RunRow.run_id
        ).limit(limit)
        with self._db.reads.begin() as session:
            return [_run(row) for row in session.scalars(statement)]

    def last_entry(self, journey_id: str, customer_id: str) -> datetime | None:
        """When the customer last entered the journey (for re-entry rules)."""
        statement = select(func.max(RunRow.started_at)).where(
            RunRow.journey_id == journey_id, RunRow.customer_id == customer_id
        )
        with self._db.reads.begin() as session:
            return session.scalar(statement)

    def entered_by(self, journey_id: str, trigger_message_id: str) -> bool:
        """Whether a run of the journey was started by this trigger message."""
        statement = (
            select(RunRow.run_id)
            .where(
                RunRow.journey_id == journey_id,
                RunRow.trigger_message_id == trigger_message_id,
            )
            .limit(1)
        )
        with self._db.reads.begin() as session:
            return session.scalar(statement) is not None

    def running_of(self, customer_ids: list[str]) -> dict[str, str]:
        """The runs in flight of these customers, as ``{journey id: workflow id}``."""
        statement = select(RunRow.journey_id, RunRow.workflow_id).where(
            RunRow.customer_id.in_(customer_ids), RunRow.status == "running"
        )
        with self._db.reads.begin() as session:
            return {row[0]: row[1] for row in session.execute(statement)}

    def in_flight(self, journey_id: str) -> list[str]:
        """The workflow ids of the journey's runs still going, any version (controls)."""
        statement = (
            select(RunRow.workflow_id)
            .where(RunRow.journey_id == journey_id, RunRow.status == "running")
            .distinct()
            .order_by(RunRow.workflow_id)
        )
        with self._db.reads.begin() as session:
            return list(session.scalars(statement))

    def entered_between(
        self,
        journey_ids: list[str],
        customer_ids: list[str],
        since: datetime,
        until: datetime,
    ) -> list[RunRecord]:
        """Runs of these journeys and customers that began in ``[since, until]``, whatever
        their status: the runs a goal event may count for (engine.ingest.router)."""
        statement = (
            select(RunRow)
            .where(
                RunRow.journey_id.in_(journey_ids),
                RunRow.customer_id.in_(customer_ids),
                RunRow.started_at >= since,
                RunRow.started_at <= until,
            )
            .order_by(RunRow.started_at)
        )
        with self._db.reads.begin() as session:
            return [_run(row) for row in session.scalars(statement)]

    # --- where the runs are (the console's journey graph) ---------------------------------

    def at_steps(self, journey_id: str) -> dict[tuple[str, str], int]:
        """Runs of the journey (any version) by (current step, status): where the runs in
        flight wait, and the step the others ended at."""
        statement = (
            select(RunRow.current_step, RunRow.status, func.count())
            .where(RunRow.journey_id == journey_id, RunRow.current_step.is_not(None))
            .group_by(RunRow.current_step, RunRow.status)
        )
        with self._db.reads.begin() as session:
            return {
                (str(step), status): count for step, status, count in session.execute(statement)
            }

    def reached_sets(self, journey_id: str) -> dict[frozenset[str], int]:
        """Runs of the journey by the set of steps they reached: the edges a run took are
        inferred from it and the journey's graph (step visits keep no order of their own).

        Counted in the database (step ids have no spaces), so what comes back is one row
        per distinct path, not one per run."""
        reached = (
            select(func.aggregate_strings(StepVisitRow.step_id, " ").label("steps"))
            .where(StepVisitRow.journey_id == journey_id)
            .group_by(StepVisitRow.run_id)
            .subquery()
        )
        statement = select(reached.c.steps, func.count()).group_by(reached.c.steps)
        counts: dict[frozenset[str], int] = {}
        with self._db.reads.begin() as session:
            for steps, count in session.execute(statement):
                key = frozenset(str(steps).split(" "))
                counts[key] = counts.get(key, 0) + count  # the same set, listed in another order
        return counts

    def in_flight_counts(self) -> dict[str, int]:
        """Runs still going, per journey (any version)."""
        statement = (
            select(RunRow.journey_id, func.count())
            .where(RunRow.status == "running")
            .group_by(RunRow.journey_id)
        )
        with self._db.reads.begin() as session:
            return {str(journey): int(count) for journey, count in session.execute(statement)}
