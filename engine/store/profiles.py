"""A customer on one page: the profile, the search, and the export (the timeline: timeline.py).

Reads only. A customer's data also lives under the ids merged into them (their runs
and messages keep the id they ran under), so every read here covers the customer's
id and those aliases.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from engine.errors import StoreError
from engine.privacy.consent import ConsentRecord
from engine.store.customer_value import read as read_value
from engine.store.customer_value import values_of
from engine.store.customers import Customers
from engine.store.database import Database, _check_limit
from engine.store.engagement import kind_counts
from engine.store.groups import Groups
from engine.store.records import (
    Assignment,
    CustomerMatch,
    CustomerProfile,
    CustomerValue,
    Identity,
    JourneyRun,
    Lifetime,
    MergeRecord,
    SegmentMembership,
    SuppressionRecord,
    SurveyAnswer,
)
from engine.store.tables import (
    ConsentChangeRow,
    ConsentRow,
    CustomerMergeRow,
    CustomerRow,
    EventRow,
    ExperimentAssignmentRow,
    MessageRow,
    RunRow,
    SegmentChangeRow,
    SegmentMembershipRow,
    SuppressionRow,
)

SURVEY_EVENT = "survey.responded"


class Profiles:
    """Reads across the tables for one customer."""

    def __init__(self, database: Database, customers: Customers, groups: Groups) -> None:
        self.database = self._db = database
        self._customers = customers
        self._groups = groups

    def row(self, session: Session, customer_id: str) -> CustomerRow | None:
        row = self._customers.row(session, customer_id)
        if row is None and session.scalar(
            select(EventRow.id).where(EventRow.customer_id == customer_id).limit(1)
        ):
            # Known only from track calls: no profile row yet, but a history.
            return CustomerRow(id=customer_id, traits={}, timezone=None, merged_into=None)
        return row

    def ids(self, session: Session, customer_id: str) -> list[str]:
        """The customer's id and the ids merged into them."""
        return [customer_id, *self._customers.aliases(session, customer_id)]

    # --- the profile ------------------------------------------------------------------------

    def profile(self, customer_id: str, runs: int = 50) -> CustomerProfile | None:
        """The customer's profile (for a merged-away id, the surviving customer's)."""
        with self._db.reads.begin() as session:
            row = self.row(session, customer_id)
            if row is None:
                return None
            ids = self.ids(session, row.id)
            value = read_value(session, row.id)
            lifetime = self._lifetime(session, row, ids, value)
            return CustomerProfile(
                id=row.id,
                traits=row.traits,
                timezone=row.timezone,
                identities=self._identities(session, row.id, ids),
                groups=self._groups.of_customer(session, row.id),
                segments=[
                    SegmentMembership(segment=m.segment, entered_at=m.entered_at)
                    for m in session.scalars(
                        select(SegmentMembershipRow)
                        .where(SegmentMembershipRow.customer_id == row.id)
                        .order_by(SegmentMembershipRow.segment)
                    )
                ],
                consents=[
                    ConsentRecord.model_validate(c, from_attributes=True)
                    for c in session.scalars(
                        select(ConsentRow)
                        .where(ConsentRow.customer_id == row.id)
                        .order_by(ConsentRow.channel)
                    )
                ],
                experiments=[
                    Assignment(
                        experiment=a.experiment, variant=a.variant, assigned_at=a.assigned_at
                    )
                    for a in session.scalars(
                        select(ExperimentAssignmentRow)
                        .where(ExperimentAssignmentRow.customer_id.in_(ids))
                        .order_by(ExperimentAssignmentRow.experiment)
                    )
                ],
                journeys=[
                    _run(r)
                    for r in session.scalars(
                        select(RunRow)
                        .where(RunRow.customer_id.in_(ids))
                        .order_by(RunRow.started_at.desc())
                        .limit(runs)
                    )
                ],
                surveys=[
                    _survey(e)
                    for e in session.scalars(
                        select(EventRow)
                        .where(EventRow.customer_id == row.id, EventRow.name == SURVEY_EVENT)
                        .order_by(EventRow.timestamp.desc())
                        .limit(50)
                    )
                ],
                merges=self.merges_of(session, ids),
                suppressions=[
                    SuppressionRecord.model_validate(s, from_attributes=True)
                    for s in session.scalars(
                        select(SuppressionRow)
                        .where(SuppressionRow.customer_id.in_(ids))
                        .order_by(SuppressionRow.at.desc(), SuppressionRow.channel)
                    )
                ],
                engagement=dict(kind_counts(session, ids)),
                lifetime=lifetime,
                value=value,
                created_at=lifetime.first_seen,
                updated_at=row.updated_at or lifetime.last_seen or lifetime.first_seen,
            )

    def _identities(self, session: Session, customer_id: str, ids: list[str]) -> list[Identity]:
        anonymous = session.scalars(
            select(EventRow.anonymous_id)
            .where(EventRow.customer_id == customer_id, EventRow.anonymous_id.is_not(None))
            .distinct()
        )
        # A visitor no call has named as userId yet is anonymous themself.
        own = "user" if self._is_known(session, customer_id) else "anonymous"
        found = [Identity(id=customer_id, kind=own)]
        found += [Identity(id=alias, kind="merged") for alias in ids[1:]]
        seen = set(ids)
        others = {a for a in anonymous if a is not None} - seen
        # An id with a profile of its own that is not merged here (its join was refused
        # or undone) is someone else's, though this customer's calls named it.
        others -= set(session.scalars(select(CustomerRow.id).where(CustomerRow.id.in_(others))))
        found += [Identity(id=a, kind="anonymous") for a in sorted(others)]
        return found

    def _lifetime(
        self, session: Session, row: CustomerRow, ids: list[str], value: CustomerValue
    ) -> Lifetime:
        """Activity over the whole history; orders and revenue are the lifetime value
        figures' (deduplicated by order id: engine.store.customer_value)."""
        events = session.execute(
            select(
                func.count(),
                func.min(EventRow.timestamp),
                func.max(EventRow.timestamp),
                func.count().filter(EventRow.call_type.in_(("page", "screen"))),
            ).where(EventRow.customer_id == row.id)
        ).one()
        sent = session.scalar(
            select(func.count()).where(MessageRow.customer_id.in_(ids), MessageRow.status == "sent")
        )
        first_seen = min(t for t in (row.created_at, events[1]) if t is not None)
        return Lifetime(
            first_seen=first_seen,
            last_seen=events[2],
            events=events[0],
            page_views=events[3],
            orders=value.orders,
            revenue=value.revenue,
            messages_sent=sent or 0,
        )

    def _is_known(self, session: Session, customer_id: str) -> bool:
        """A visitor is anonymous while their calls name them only as anonymousId."""
        named = session.execute(
            select(
                exists().where(EventRow.user_id == customer_id),
                exists().where(EventRow.anonymous_id == customer_id),
            )
        ).one()
        return bool(named[0]) or not named[1]

    def merges_of(
        self,
        session: Session,
        ids: list[str],
        limit: int = 100,
        at_or_before: datetime | None = None,
    ) -> list[MergeRecord]:
        """Merges and refusals naming any of ``ids``, newest first."""
        statement = select(CustomerMergeRow).where(
            or_(CustomerMergeRow.from_id.in_(ids), CustomerMergeRow.into_id.in_(ids))
        )
        if at_or_before is not None:
            statement = statement.where(CustomerMergeRow.at <= at_or_before)
        rows = session.scalars(
            statement.order_by(CustomerMergeRow.at.desc(), CustomerMergeRow.id.desc()).limit(limit)
        )
        return [MergeRecord.model_validate(r, from_attributes=True) for r in rows]

    # --- search and export ------------------------------------------------------------------

    def search(self, query: str, limit: int = 20, offset: int = 0) -> list[CustomerMatch]:
        """Customers whose id is or starts with ``query`` (one known only from its calls,
        with no profile row yet: by its exact id), whose email or name contains it, or
        who go by it (an id merged into them, an anonymous id of their calls);
        ``trait=value`` matches one trait exactly. ``offset`` skips that many (pages)."""
        _check_limit(limit)
        if offset < 0:
            raise StoreError(f"offset {offset} is negative: start at 0", code="offset_invalid")
        query = query.strip()
        if not query:
            raise StoreError(
                "say what to look for: an id, an email, or trait=value", code="query_missing"
            )
        statement = select(CustomerRow).where(CustomerRow.merged_into.is_(None))
        name, equals, value = query.partition("=")
        by_trait = bool(equals and name.strip())
        if by_trait:
            statement = statement.where(
                CustomerRow.traits[name.strip()].as_string() == value.strip()
            )
        else:
            pattern = _like(query)
            contains = f"%{pattern.lower()}%"
            merged = select(CustomerRow.merged_into).where(CustomerRow.id == query)
            anonymous = select(EventRow.customer_id).where(EventRow.anonymous_id == query)
            statement = statement.where(
                or_(
                    CustomerRow.id == query,
                    CustomerRow.id.like(f"{pattern}%", escape="\\"),
                    *(
                        func.lower(CustomerRow.traits[trait].as_string()).like(
                            contains, escape="\\"
                        )
                        for trait in ("email", *_NAME_TRAITS)
                    ),
                    CustomerRow.id.in_(merged),
                    CustomerRow.id.in_(anonymous),
                )
            )
        statement = (
            statement.order_by(CustomerRow.updated_at.desc(), CustomerRow.id)
            .offset(offset)
            .limit(limit)
        )
        with self._db.reads.begin() as session:
            found = [_match(row) for row in session.scalars(statement)]
            if not by_trait and offset == 0 and all(match.id != query for match in found):
                # Known only from track calls (no profile row yet): found by its exact id.
                last = session.scalar(
                    select(func.max(EventRow.received_at)).where(EventRow.customer_id == query)
                )
                if last is not None and session.get(CustomerRow, query) is None:
                    found.append(CustomerMatch(id=query, email=None, name=None, updated_at=last))
                    found.sort(key=lambda match: match.updated_at, reverse=True)
        return found[:limit]

    def recent(self, limit: int = 25, offset: int = 0) -> list[CustomerMatch]:
        """Customers with a profile, the most recently updated first (a list to browse)."""
        _check_limit(limit)
        statement = (
            select(CustomerRow)
            .where(CustomerRow.merged_into.is_(None))
            .order_by(CustomerRow.updated_at.desc(), CustomerRow.id)
            .offset(max(offset, 0))
            .limit(limit)
        )
        with self._db.reads.begin() as session:
            return [_match(row) for row in session.scalars(statement)]

    def activity(self, customer_ids: list[str]) -> dict[str, tuple[datetime | None, CustomerValue]]:
        """Per customer: their last event's time and their lifetime value figures, in two
        queries (a page of search results shows both)."""
        if not customer_ids:
            return {}
        with self._db.reads.begin() as session:
            statement = (
                select(EventRow.customer_id, func.max(EventRow.timestamp))
                .where(EventRow.customer_id.in_(customer_ids))
                .group_by(EventRow.customer_id)
            )
            last: dict[str, datetime] = {row[0]: row[1] for row in session.execute(statement)}
            values = values_of(session, customer_ids)
        return {i: (last.get(i), values.get(i, CustomerValue())) for i in customer_ids}

    def export(self, customer_id: str) -> dict[str, Any] | None:
        """Everything held about the customer, as JSON-ready data (GDPR art. 15)."""
        profile = self.profile(customer_id, runs=10_000)
        if profile is None:
            return None
        with self._db.reads.begin() as session:
            ids = self.ids(session, profile.id)
            events = session.scalars(
                select(EventRow).where(EventRow.customer_id.in_(ids)).order_by(EventRow.id)
            )
            messages = session.scalars(
                select(MessageRow)
                .where(MessageRow.customer_id.in_(ids))
                .order_by(MessageRow.created_at)
            )
            segment_changes = session.scalars(
                select(SegmentChangeRow)
                .where(SegmentChangeRow.customer_id.in_(ids))
                .order_by(SegmentChangeRow.id)
            )
            consent_changes = session.scalars(
                select(ConsentChangeRow)
                .where(ConsentChangeRow.customer_id.in_(ids))
                .order_by(ConsentChangeRow.id)
            )
            return {
                "format": "cxflow-customer-export/1",
                "profile": profile.model_dump(mode="json"),
                "events": [_exported(e, _EVENT_FIELDS) for e in events],
                "messages": [_exported(m, _MESSAGE_FIELDS) for m in messages],
                "segment_changes": [
                    _exported(c, ("segment", "change", "at")) for c in segment_changes
                ],
                "consent_changes": [
                    _exported(c, ("channel", "subscribed", "source", "at")) for c in consent_changes
                ],
            }


_EVENT_FIELDS = (
    "message_id",
    "call_type",
    "name",
    "properties",
    "timestamp",
    "received_at",
    "user_id",
    "anonymous_id",
    "context",
    "integrations",
    "sent_at",
    "original_timestamp",
)
_MESSAGE_FIELDS = (
    "key",
    "workflow_id",
    "step_id",
    "channel",
    "status",
    "detail",
    "created_at",
    "completed_at",
)


def _exported(row: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    values = {name: getattr(row, name) for name in fields}
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def _run(row: RunRow) -> JourneyRun:
    return JourneyRun(
        journey_id=row.journey_id,
        workflow_id=row.workflow_id,
        status=row.status,
        current_step=row.current_step,
        variant=row.variant,
        started_at=row.started_at,
        ended_at=row.ended_at,
        exit_reason=row.exit_reason,
    )


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _survey(row: EventRow) -> SurveyAnswer:
    properties = row.properties
    return SurveyAnswer(
        at=row.timestamp,
        survey=_text(properties.get("survey")),
        score=_number(properties.get("score")),
        comment=_text(properties.get("comment")),
    )


def _match(row: CustomerRow) -> CustomerMatch:
    return CustomerMatch(
        id=row.id,
        email=_text(row.traits.get("email")),
        name=_name(row.traits),
        updated_at=row.updated_at,
    )


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


_NAME_TRAITS = ("name", "first_name", "last_name", "firstName", "lastName")


def _name(traits: dict[str, Any]) -> str | None:
    if isinstance(traits.get("name"), str):
        return str(traits["name"])
    parts = [traits.get(k) for k in ("first_name", "last_name", "firstName", "lastName")]
    words = [p for p in parts if isinstance(p, str) and p]
    return " ".join(words) or None
