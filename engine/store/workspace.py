"""Workspace-wide reads for the overview report: entries, messages and conversions in a
period, as the few columns the report needs (never personal data)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from engine.store.database import Database, _in_period
from engine.store.tables import ConversionRow, MessageRow, RunRow


class Workspace:
    """Reads across journeys for `cxflow report overview`."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def entries(self, since: datetime | None, until: datetime | None) -> list[tuple[str, datetime]]:
        """(journey id, entry time) of every run that began in the period."""
        statement = select(RunRow.journey_id, RunRow.started_at).where(
            *_in_period(RunRow.started_at, since, until)
        )
        with self._db.reads.begin() as session:
            return [(journey, at) for journey, at in session.execute(statement)]

    def messages(
        self, since: datetime | None, until: datetime | None
    ) -> list[tuple[str, str, int]]:
        """(channel, status, how many) of the messages created in the period."""
        statement = (
            select(MessageRow.channel, MessageRow.status, func.count())
            .where(*_in_period(MessageRow.created_at, since, until))
            .group_by(MessageRow.channel, MessageRow.status)
        )
        with self._db.reads.begin() as session:
            return [(channel, status, n) for channel, status, n in session.execute(statement)]

    def conversions(
        self, since: datetime | None, until: datetime | None
    ) -> list[tuple[str, datetime, float | None, str | None]]:
        """(journey id, time, value, currency) of the conversions in the period."""
        statement = select(
            ConversionRow.journey_id,
            ConversionRow.converted_at,
            ConversionRow.value,
            ConversionRow.currency,
        ).where(*_in_period(ConversionRow.converted_at, since, until))
        with self._db.reads.begin() as session:
            return [
                (j, at, value, currency) for j, at, value, currency in session.execute(statement)
            ]
