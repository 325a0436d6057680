"""Deployed journey versions: one active version per journey, stored compiled."""

from __future__ import annotations

from sqlalchemy import func, select, update

from dsl.compiled import CompiledJourney
from engine.store.database import Database, _now
from engine.store.records import JourneyControlRecord, JourneyStatus, JourneyVersionRecord
from engine.store.tables import JourneyControlRow, JourneyVersionRow


def _journey(row: JourneyVersionRow) -> CompiledJourney:
    return CompiledJourney.model_validate(row.compiled)


class Journeys:
    """The ``journey_versions`` and ``journey_controls`` tables."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def deploy(self, journey: CompiledJourney, source: str | None = None) -> bool:
        """Store this version and make it the active one; False if it already was.

        Deploys of one journey are serialized (SQLite: the write lock; PostgreSQL:
        an advisory lock on the journey id), so concurrent deploys never trip the
        one-active-version index: the last one wins.
        """
        with self._db.writes.begin() as session:
            if self._db.dialect == "postgresql":
                session.execute(
                    select(func.pg_advisory_xact_lock(func.hashtextextended(journey.id, 0)))
                )
            stored = session.get(JourneyVersionRow, (journey.id, journey.version))
            if stored is not None and stored.active:
                return False
            # Deactivate first: the one-active index is checked statement by statement.
            session.execute(
                update(JourneyVersionRow)
                .where(JourneyVersionRow.journey_id == journey.id, JourneyVersionRow.active)
                .values(active=False)
            )
            now = _now()
            if stored is None:
                session.add(
                    JourneyVersionRow(
                        journey_id=journey.id,
                        version=journey.version,
                        compiled=journey.model_dump(mode="json"),
                        source=source,
                        deployed_at=now,
                        active=True,
                    )
                )
            else:
                stored.active = True
                stored.deployed_at = now
                if source is not None:
                    stored.source = source
            return True

    def active(self) -> list[CompiledJourney]:
        """The active version of every journey, by journey id."""
        statement = (
            select(JourneyVersionRow)
            .where(JourneyVersionRow.active)
            .order_by(JourneyVersionRow.journey_id)
        )
        with self._db.reads.begin() as session:
            return [_journey(row) for row in session.scalars(statement)]

    def active_versions(self) -> frozenset[tuple[str, str]]:
        """(journey id, version) of every active journey: cheap, to tell when to reload them."""
        statement = select(JourneyVersionRow.journey_id, JourneyVersionRow.version).where(
            JourneyVersionRow.active
        )
        with self._db.reads.begin() as session:
            return frozenset((journey, version) for journey, version in session.execute(statement))

    def get(self, journey_id: str, version: str | None = None) -> CompiledJourney | None:
        """That version of the journey, or the active one when ``version`` is None."""
        statement = select(JourneyVersionRow).where(JourneyVersionRow.journey_id == journey_id)
        if version is None:
            statement = statement.where(JourneyVersionRow.active)
        else:
            statement = statement.where(JourneyVersionRow.version == version)
        with self._db.reads.begin() as session:
            row = session.scalars(statement).one_or_none()
            return None if row is None else _journey(row)

    def versions(self, journey_id: str) -> list[JourneyVersionRecord]:
        """Every deployed version, most recently deployed first."""
        statement = (
            select(JourneyVersionRow)
            .where(JourneyVersionRow.journey_id == journey_id)
            .order_by(JourneyVersionRow.deployed_at.desc(), JourneyVersionRow.version)
        )
        with self._db.reads.begin() as session:
            return [
                JourneyVersionRecord(
                    journey_id=row.journey_id,
                    version=row.version,
                    deployed_at=row.deployed_at,
                    active=row.active,
                )
                for row in session.scalars(statement)
            ]

    def ids(self) -> list[str]:
        """Every journey ever deployed, active or not, sorted."""
        statement = select(JourneyVersionRow.journey_id).distinct().order_by("journey_id")
        with self._db.reads.begin() as session:
            return list(session.scalars(statement))

    def control(self, journey_id: str) -> JourneyControlRecord:
        """The journey's status: one primary-key read, made before every entry and send."""
        with self._db.reads.begin() as session:
            row = session.get(JourneyControlRow, journey_id)
            if row is None:
                return JourneyControlRecord(journey_id=journey_id)
            return JourneyControlRecord.model_validate(row, from_attributes=True)

    def controls(self) -> dict[str, JourneyControlRecord]:
        """Every journey whose status was ever changed, by id (the others are active)."""
        with self._db.reads.begin() as session:
            return {
                row.journey_id: JourneyControlRecord.model_validate(row, from_attributes=True)
                for row in session.scalars(select(JourneyControlRow))
            }

    def set_control(
        self, journey_id: str, status: JourneyStatus, actor: str
    ) -> JourneyControlRecord:
        """Set the journey's status (resume sets ``active``), noting who and when."""
        with self._db.writes.begin() as session:
            row = session.get(JourneyControlRow, journey_id, with_for_update=True)
            if row is None:
                row = JourneyControlRow(journey_id=journey_id)
                session.add(row)
            row.status = status
            row.changed_at = _now()
            row.changed_by = actor
            session.flush()
            return JourneyControlRecord.model_validate(row, from_attributes=True)

    def source(self, journey_id: str, version: str) -> str | None:
        """The file that version was deployed from, as the deploy named it (None if unknown)."""
        statement = select(JourneyVersionRow.source).where(
            JourneyVersionRow.journey_id == journey_id, JourneyVersionRow.version == version
        )
        with self._db.reads.begin() as session:
            return session.scalar(statement)
