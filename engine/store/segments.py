"""The store side of segments (engine.segments evaluates; this reads and writes):
definitions, memberships, the log of entries and exits, and event aggregates.

A recomputation is one transaction with the customer's row locked, so two events
of one customer are decided one after the other, each on data including the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, func, select
from sqlalchemy.orm import Session

from dsl.segment_models import AggregateSpec, CompiledSegment, dump_segment
from engine.segments.records import (
    SegmentChangeRecord,
    SegmentDecider,
    SegmentMemberRecord,
    SegmentSummaryRecord,
)
from engine.store.customer_value import value_aggregates
from engine.store.customers import Customers
from engine.store.database import Database, _aware, _check_limit, _now
from engine.store.profiles import _name, _text
from engine.store.tables import (
    CustomerRow,
    EventRow,
    GroupMembershipRow,
    GroupRow,
    SegmentChangeRow,
    SegmentDefinitionRow,
    SegmentMembershipRow,
)


class Segments:
    """The ``segment_definitions``, ``segment_memberships`` and ``segment_changes`` tables."""

    def __init__(self, database: Database, customers: Customers) -> None:
        self._db = database
        self._customers = customers

    # --- memberships ------------------------------------------------------------------------

    def set_memberships(self, customer_id: str, segments: set[str]) -> tuple[set[str], set[str]]:
        """Replace the customer's memberships; returns (entered, left)."""
        with self._db.writes.begin() as session:
            now = _now()
            self._customers.lock(session, customer_id, now)
            current = set(
                session.scalars(
                    select(SegmentMembershipRow.segment).where(
                        SegmentMembershipRow.customer_id == customer_id
                    )
                )
            )
            entered, left = segments - current, current - segments
            if left:
                session.execute(
                    delete(SegmentMembershipRow).where(
                        SegmentMembershipRow.customer_id == customer_id,
                        SegmentMembershipRow.segment.in_(left),
                    )
                )
            session.add_all(
                SegmentMembershipRow(customer_id=customer_id, segment=name, entered_at=now)
                for name in sorted(entered)
            )
            return entered, left

    def members(self, segment: str) -> list[str]:
        """Customer ids in the segment, sorted."""
        with self._db.reads.begin() as session:
            return list(
                session.scalars(
                    select(SegmentMembershipRow.customer_id)
                    .where(SegmentMembershipRow.segment == segment)
                    .order_by(SegmentMembershipRow.customer_id)
                )
            )

    def member_page(
        self, segment: str, limit: int = 50, offset: int = 0, after: str | None = None
    ) -> list[SegmentMemberRecord]:
        """Members by id with when they entered and their email and name: ``limit`` of
        them after skipping ``offset`` (pages to show) or after the id ``after`` (an
        export read page by page, so no page is held whole)."""
        _check_limit(limit)
        statement = (
            select(SegmentMembershipRow, CustomerRow.traits)
            .join(CustomerRow, CustomerRow.id == SegmentMembershipRow.customer_id)
            .where(SegmentMembershipRow.segment == segment)
            .order_by(SegmentMembershipRow.customer_id)
            .offset(max(offset, 0))
            .limit(limit)
        )
        if after is not None:
            statement = statement.where(SegmentMembershipRow.customer_id > after)
        with self._db.reads.begin() as session:
            return [
                SegmentMemberRecord(
                    customer_id=row.customer_id,
                    entered_at=row.entered_at,
                    email=_text(traits.get("email")),
                    name=_name(traits),
                )
                for row, traits in session.execute(statement)
            ]

    def sizes(self, segment: str, days: Sequence[date]) -> list[int]:
        """How many customers were in the segment at the end of each of ``days`` (UTC).

        Worked back from the members now through the logged entries and exits after each
        day, so the last figure is today's count; members whose entry was not logged
        (memberships set directly) count as members all along."""
        if not days:
            return []
        ends = [datetime.combine(d + timedelta(days=1), time(), UTC) for d in days]
        with self._db.reads.begin() as session:
            now = session.scalar(
                select(func.count()).where(SegmentMembershipRow.segment == segment)
            )
            changes = session.execute(
                select(SegmentChangeRow.change, SegmentChangeRow.at)
                .where(SegmentChangeRow.segment == segment, SegmentChangeRow.at >= min(ends))
                .order_by(SegmentChangeRow.at.desc())
            )
            size, pending = int(now or 0), [(change, at) for change, at in changes]
        found: dict[datetime, int] = {}
        for end in sorted(ends, reverse=True):
            while pending and pending[0][1] >= end:
                change, _ = pending.pop(0)
                size += -1 if change == "entered" else 1
            found[end] = size
        return [found[end] for end in ends]

    # --- definitions ------------------------------------------------------------------------

    def deploy(self, segment: CompiledSegment, source: str | None = None) -> bool:
        """Store the segment's definition; False if this version was already deployed."""
        with self._db.writes.begin() as session:
            row = session.get(SegmentDefinitionRow, segment.id, with_for_update=True)
            if row is not None and row.version == segment.version:
                return False
            definition = dump_segment(segment)
            if row is None:
                session.add(
                    SegmentDefinitionRow(
                        segment=segment.id,
                        version=segment.version,
                        definition=definition,
                        source=source,
                        deployed_at=_now(),
                    )
                )
            else:
                row.version, row.definition = segment.version, definition
                row.source, row.deployed_at = source, _now()
            return True

    def active(self) -> list[CompiledSegment]:
        """Every deployed segment, by id."""
        statement = select(SegmentDefinitionRow).order_by(SegmentDefinitionRow.segment)
        with self._db.reads.begin() as session:
            return [
                CompiledSegment.model_validate(row.definition) for row in session.scalars(statement)
            ]

    def fingerprint(self) -> tuple[int, datetime | None]:
        """How many segments and the last deploy: changes whenever a definition does."""
        statement = select(func.count(), func.max(SegmentDefinitionRow.deployed_at))
        with self._db.reads.begin() as session:
            count, last = session.execute(statement).one()
            return int(count), last

    def summaries(self) -> list[SegmentSummaryRecord]:
        """Every deployed segment with its version, deploy time and member count."""
        members = (
            select(SegmentMembershipRow.segment, func.count().label("members"))
            .group_by(SegmentMembershipRow.segment)
            .subquery()
        )
        statement = (
            select(SegmentDefinitionRow, func.coalesce(members.c.members, 0))
            .outerjoin(members, members.c.segment == SegmentDefinitionRow.segment)
            .order_by(SegmentDefinitionRow.segment)
        )
        with self._db.reads.begin() as session:
            return [
                SegmentSummaryRecord(
                    segment=CompiledSegment.model_validate(row.definition),
                    source=row.source,
                    deployed_at=row.deployed_at,
                    members=int(count),
                )
                for row, count in session.execute(statement)
            ]

    def changes(
        self, segment: str | None = None, customer_id: str | None = None, limit: int = 100
    ) -> list[SegmentChangeRecord]:
        """Entries into and exits from segments, newest first."""
        _check_limit(limit)
        statement = select(SegmentChangeRow)
        if segment is not None:
            statement = statement.where(SegmentChangeRow.segment == segment)
        if customer_id is not None:
            statement = statement.where(SegmentChangeRow.customer_id == customer_id)
        statement = statement.order_by(SegmentChangeRow.id.desc()).limit(limit)
        with self._db.reads.begin() as session:
            return [
                SegmentChangeRecord.model_validate(row, from_attributes=True)
                for row in session.scalars(statement)
            ]

    # --- recomputing ------------------------------------------------------------------------

    def recompute(
        self,
        customer_id: str,
        segments: list[str],
        aggregates: list[AggregateSpec],
        decide: SegmentDecider,
        now: datetime | None = None,
    ) -> tuple[set[str], set[str]]:
        """Re-decide the customer's membership of ``segments``; returns (entered, left).

        One transaction with the customer's row locked, so two events of one customer
        are decided one after the other, each on data that includes the other. The
        ``aggregates`` are computed in one query; ``decide`` gets them with the traits
        and says which of ``segments`` the customer is in. Other segments are untouched.
        """
        at = _now() if now is None else _aware(now, "now")
        with self._db.writes.begin() as session:
            row = self._customers.lock(session, customer_id, at)
            values = self._event_aggregates(session, customer_id, aggregates, at)
            groups = session.execute(
                select(GroupRow.id, GroupRow.traits)
                .join(GroupMembershipRow, GroupMembershipRow.group_id == GroupRow.id)
                .where(GroupMembershipRow.customer_id == customer_id)
            )
            inside = decide(row.traits, values, [(group, traits) for group, traits in groups])
            current = set(
                session.scalars(
                    select(SegmentMembershipRow.segment).where(
                        SegmentMembershipRow.customer_id == customer_id,
                        SegmentMembershipRow.segment.in_(segments),
                    )
                )
            )
            entered = {s for s in segments if inside.get(s, False)} - current
            left = current - {s for s in segments if inside.get(s, False)}
            if left:
                session.execute(
                    delete(SegmentMembershipRow).where(
                        SegmentMembershipRow.customer_id == customer_id,
                        SegmentMembershipRow.segment.in_(left),
                    )
                )
            session.add_all(
                SegmentMembershipRow(customer_id=customer_id, segment=name, entered_at=at)
                for name in sorted(entered)
            )
            session.add_all(
                SegmentChangeRow(customer_id=customer_id, segment=name, change=change, at=at)
                for names, change in ((entered, "entered"), (left, "left"))
                for name in sorted(names)
            )
            return entered, left

    def event_aggregates(
        self, customer_id: str, aggregates: list[AggregateSpec], now: datetime | None = None
    ) -> dict[AggregateSpec, float | None]:
        """The customer's event aggregates as of ``now`` (for `cxflow segments show` and tests)."""
        at = _now() if now is None else _aware(now, "now")
        with self._db.reads.begin() as session:
            return self._event_aggregates(session, customer_id, aggregates, at)

    def _event_aggregates(
        self, session: Session, customer_id: str, aggregates: list[AggregateSpec], now: datetime
    ) -> dict[AggregateSpec, float | None]:
        """Every aggregate in one indexed query: one column per aggregate, each a CASE.

        The (customer_id, name, timestamp) index of events narrows the scan to the
        customer's events of the names asked for, in the widest window asked for.
        A sum over no events is 0; an average, minimum or maximum over none is None.
        Lifetime value figures (``value`` specs) are read from what the store keeps of them.
        """
        figures = [s for s in aggregates if s.function == "value"]
        aggregates = [s for s in aggregates if s.function != "value"]
        if figures:
            kept = value_aggregates(session, customer_id, figures, now)
            return kept | self._event_aggregates(session, customer_id, aggregates, now)
        if not aggregates:
            return {}
        columns: list[ColumnElement[Any]] = []
        for spec in aggregates:
            matches = EventRow.name == spec.event
            if spec.window_seconds is not None:
                since = now - timedelta(seconds=spec.window_seconds)
                matches = and_(matches, EventRow.timestamp >= since)
            if spec.function == "count":
                columns.append(func.count(case((matches, 1))))
                continue
            assert spec.property is not None
            value = case((matches, self._numeric_property(spec.property)))
            if spec.function == "sum":
                columns.append(func.sum(value))
            elif spec.function == "average":
                columns.append(func.avg(value))
            elif spec.function == "min":
                columns.append(func.min(value))
            else:
                columns.append(func.max(value))
        statement = select(*columns).where(
            EventRow.customer_id == customer_id,
            EventRow.name.in_(sorted({s.event for s in aggregates})),
        )
        if all(s.window_seconds is not None for s in aggregates):
            widest = max(s.window_seconds or 0 for s in aggregates)
            statement = statement.where(EventRow.timestamp >= now - timedelta(seconds=widest))
        row = session.execute(statement).one()
        result: dict[AggregateSpec, float | None] = {}
        for spec, value in zip(aggregates, row, strict=True):
            if value is None:
                result[spec] = 0.0 if spec.function == "sum" else None
            else:
                result[spec] = float(value)
        return result

    def _numeric_property(self, path: str) -> ColumnElement[Any]:
        """The event property at the dotted ``path`` when it is a JSON number, else NULL."""
        parts = path.split(".")
        if self._db.dialect == "postgresql":
            node = EventRow.properties[tuple(parts)]
            return case((func.jsonb_typeof(node) == "number", node.as_float()))
        json_path = "$" + "".join(f'."{part}"' for part in parts)
        return case(
            (
                func.json_type(EventRow.properties, json_path).in_(("integer", "real")),
                func.json_extract(EventRow.properties, json_path),
            )
        )
