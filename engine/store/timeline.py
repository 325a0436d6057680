"""A customer's timeline: every kind of entry, from every table, in one stream.

Events (tracks, page views, identifies, groups, aliases, survey answers), messages,
journey entries, steps and exits, segment changes, consent changes and merges, newest
first. Each source is read newest first up to the page size, the sources are merged,
and the page ends with an opaque cursor: the time and key of its last entry.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, SQLColumnExpression, func, or_, select
from sqlalchemy.orm import Session

from engine.errors import StoreError
from engine.store.database import _check_limit
from engine.store.profiles import SURVEY_EVENT, Profiles
from engine.store.records import (
    TIMELINE_KINDS,
    MergeRecord,
    TimelineEntry,
    TimelineKind,
    TimelinePage,
)
from engine.store.tables import (
    ConsentChangeRow,
    EventRow,
    MessageRow,
    RunRow,
    SegmentChangeRow,
    StepVisitRow,
)

_CALL_KINDS: dict[str, TimelineKind] = {
    "track": "event",
    "page": "page",
    "screen": "page",
    "identify": "identify",
    "group": "group",
    "alias": "alias",
}
Before = tuple[datetime, str] | None
_Row = TypeVar("_Row")


class Timelines:
    """Reads a customer's timeline (the ids merged into them included)."""

    def __init__(self, profiles: Profiles) -> None:
        self._profiles = profiles
        self._db = profiles.database

    def timeline(
        self,
        customer_id: str,
        *,
        cursor: str | None = None,
        limit: int = 50,
        kinds: Iterable[str] | None = None,
        channel: str | None = None,
    ) -> TimelinePage | None:
        """One page of the customer's history, newest first; None for an unknown customer.

        ``kinds`` keeps only those kinds of entry (events, page views, messages, journey
        steps, segment changes, consent changes, survey answers, merges); ``channel``
        only messages and consent changes of that channel.
        """
        _check_limit(limit)
        wanted = set(kinds or TIMELINE_KINDS)
        unknown = wanted - set(TIMELINE_KINDS)
        if unknown:
            raise StoreError(
                f"unknown timeline kind {sorted(unknown)[0]!r}: use {', '.join(TIMELINE_KINDS)}",
                code="timeline_kind_invalid",
            )
        if channel is not None:
            wanted &= {"message", "consent"}
        before = _read_cursor(cursor) if cursor else None
        with self._db.reads.begin() as session:
            row = self._profiles.row(session, customer_id)
            if row is None:
                return None
            ids = self._profiles.ids(session, row.id)
            reads = limit + 1
            entries: list[TimelineEntry] = []
            if wanted & {"event", "page", "identify", "group", "alias", "survey"}:
                entries += self._events(session, row.id, wanted, before, reads)
            if "message" in wanted:
                entries += self._messages(session, ids, channel, before, reads)
            if "journey" in wanted:
                entries += self._journey_entries(session, ids, before, reads)
            if "segment" in wanted:
                entries += self._segment_entries(session, ids, before, reads)
            if "consent" in wanted:
                entries += self._consent_entries(session, ids, channel, before, reads)
            if "merge" in wanted:
                entries += [
                    _merge_entry(m)
                    for m in self._profiles.merges_of(
                        session, ids, reads, before[0] if before else None
                    )
                ]
        entries = sorted(
            (e for e in entries if before is None or _key(e) < before), key=_key, reverse=True
        )
        page = entries[:limit]
        more = len(entries) > limit
        return TimelinePage(
            customer_id=row.id,
            entries=page,
            next_cursor=_write_cursor(page[-1]) if more and page else None,
        )

    def _events(
        self,
        session: Session,
        customer_id: str,
        wanted: set[str],
        before: Before,
        reads: int,
    ) -> list[TimelineEntry]:
        statement = select(EventRow).where(EventRow.customer_id == customer_id)
        types = [t for t, kind in _CALL_KINDS.items() if kind in wanted]
        if "survey" in wanted:
            statement = statement.where(
                or_(EventRow.call_type.in_(types), EventRow.name == SURVEY_EVENT)
            )
        else:
            statement = statement.where(
                EventRow.call_type.in_(types), EventRow.name != SURVEY_EVENT
            )
        rows = _newest(session, statement, EventRow.timestamp, lambda e: e.timestamp, before, reads)
        return [_event_entry(e) for e in rows]

    def _messages(
        self,
        session: Session,
        ids: list[str],
        channel: str | None,
        before: Before,
        reads: int,
    ) -> list[TimelineEntry]:
        at = func.coalesce(MessageRow.completed_at, MessageRow.created_at)
        statement = select(MessageRow).where(MessageRow.customer_id.in_(ids))
        if channel is not None:
            statement = statement.where(MessageRow.channel == channel)
        rows = _newest(
            session, statement, at, lambda m: m.completed_at or m.created_at, before, reads
        )
        return [
            TimelineEntry(
                kind="message",
                at=m.completed_at or m.created_at,
                id=f"message:{m.key}",
                title=f"{m.channel} message {m.status} (step {m.step_id})",
                channel=m.channel,
                journey_id=m.workflow_id.split(":")[1] if m.workflow_id.count(":") >= 2 else None,
                data={
                    "status": m.status,
                    "step": m.step_id,
                    "workflow_id": m.workflow_id,
                    "detail": m.detail,
                },
            )
            for m in rows
        ]

    def _journey_entries(
        self, session: Session, ids: list[str], before: Before, reads: int
    ) -> list[TimelineEntry]:
        """Entries, steps and exits: three sources, since a run entered long ago may
        have ended or reached a step a moment ago."""
        entries: list[TimelineEntry] = []
        runs = select(RunRow).where(RunRow.customer_id.in_(ids))
        entered = _newest(session, runs, RunRow.started_at, lambda r: r.started_at, before, reads)
        for run in entered:
            entries.append(
                TimelineEntry(
                    kind="journey",
                    at=run.started_at,
                    id=f"run:{run.run_id}:entered",
                    title=f"entered journey {run.journey_id}",
                    journey_id=run.journey_id,
                    data=_run_data(run),
                )
            )
        ended = runs.where(RunRow.ended_at.is_not(None))
        for run in _newest(session, ended, RunRow.ended_at, lambda r: r.ended_at, before, reads):
            assert run.ended_at is not None
            entries.append(
                TimelineEntry(
                    kind="journey",
                    at=run.ended_at,
                    id=f"run:{run.run_id}:ended",
                    title=f"left journey {run.journey_id}: {run.status}"
                    + (f" ({run.exit_reason})" if run.exit_reason else ""),
                    journey_id=run.journey_id,
                    data={**_run_data(run), "status": run.status, "reason": run.exit_reason},
                )
            )
        visits = select(StepVisitRow).where(
            StepVisitRow.run_id.in_(select(RunRow.run_id).where(RunRow.customer_id.in_(ids)))
        )
        for visit in _newest(
            session, visits, StepVisitRow.first_at, lambda v: v.first_at, before, reads
        ):
            entries.append(
                TimelineEntry(
                    kind="journey",
                    at=visit.first_at,
                    id=f"run:{visit.run_id}:step:{visit.step_id}",
                    title=f"reached step {visit.step_id} of {visit.journey_id}",
                    journey_id=visit.journey_id,
                    data={"step": visit.step_id},
                )
            )
        return entries

    def _segment_entries(
        self, session: Session, ids: list[str], before: Before, reads: int
    ) -> list[TimelineEntry]:
        statement = select(SegmentChangeRow).where(SegmentChangeRow.customer_id.in_(ids))
        rows = _newest(session, statement, SegmentChangeRow.at, lambda c: c.at, before, reads)
        return [
            TimelineEntry(
                kind="segment",
                at=c.at,
                id=f"segment:{c.id}",
                title=f"{c.change} segment {c.segment}",
                data={"segment": c.segment, "change": c.change},
            )
            for c in rows
        ]

    def _consent_entries(
        self,
        session: Session,
        ids: list[str],
        channel: str | None,
        before: Before,
        reads: int,
    ) -> list[TimelineEntry]:
        statement = select(ConsentChangeRow).where(ConsentChangeRow.customer_id.in_(ids))
        if channel is not None:
            statement = statement.where(ConsentChangeRow.channel.in_((channel, "*")))
        rows = _newest(session, statement, ConsentChangeRow.at, lambda c: c.at, before, reads)
        return [
            TimelineEntry(
                kind="consent",
                at=c.at,
                id=f"consent:{c.id}",
                title=f"{'subscribed to' if c.subscribed else 'unsubscribed from'} "
                f"{'every channel' if c.channel == '*' else c.channel} ({c.source})",
                channel=c.channel,
                data={"subscribed": c.subscribed, "source": c.source},
            )
            for c in rows
        ]


def _newest(
    session: Session,
    statement: Select[_Row],
    at: SQLColumnExpression[Any],
    moment: Callable[[_Row], datetime | None],
    before: Before,
    reads: int,
) -> list[_Row]:
    """A source's rows for the page (in no order): every row at the cursor's time, the
    ``reads`` newest rows before it, and every row at the same time as the last of those.

    Rows of one instant (a batch's calls share their time) are ordered by the entries'
    keys, which SQL cannot sort by; reading the whole instant lets the page be cut by
    those keys, so no entry is skipped or shown twice.
    """
    rows: list[_Row] = []
    if before is not None:
        rows += session.scalars(statement.where(at == before[0]))
        statement = statement.where(at < before[0])
    older = list(session.scalars(statement.order_by(at.desc()).limit(reads)))
    if older and len(older) == reads:
        last = moment(older[-1])
        older = [row for row in older if moment(row) != last]
        older += session.scalars(statement.where(at == last))
    return rows + older


def _run_data(run: RunRow) -> dict[str, Any]:
    return {"workflow_id": run.workflow_id, "version": run.version, "variant": run.variant}


def _event_entry(row: EventRow) -> TimelineEntry:
    kind: TimelineKind = (
        "survey" if row.name == SURVEY_EVENT else _CALL_KINDS.get(row.call_type, "event")
    )
    title = row.name
    if kind == "page":
        where = (
            row.properties.get("name") or row.properties.get("path") or row.properties.get("url")
        )
        title = f"viewed {row.call_type} {where}" if where else f"viewed a {row.call_type}"
    elif kind == "identify":
        title = "profile updated: " + ", ".join(sorted(row.properties)[:5])
    elif kind == "group":
        title = f"joined group {row.properties.get('groupId')}"
    elif kind == "alias":
        title = f"alias of {row.properties.get('previousId')}"
    elif kind == "survey":
        title = f"answered survey {row.properties.get('survey', '')}".strip()
    return TimelineEntry(
        kind=kind,
        at=row.timestamp,
        id=f"event:{row.id:015d}",  # insertion order breaks ties of one timestamp
        title=title,
        data={"name": row.name, "properties": row.properties, "message_id": row.message_id},
    )


def _merge_entry(merge: MergeRecord) -> TimelineEntry:
    verb = {"merged": "joined", "reverted": "separated again", "refused": "not joined"}
    return TimelineEntry(
        kind="merge",
        at=merge.at,
        id=f"merge:{merge.id}",
        title=f"{merge.from_id} {verb[merge.status]} with {merge.into_id} ({merge.cause})",
        data={"merge_id": merge.id, "status": merge.status, "reason": merge.reason},
    )


def _key(entry: TimelineEntry) -> tuple[datetime, str]:
    return entry.at, entry.id


def _write_cursor(entry: TimelineEntry) -> str:
    raw = json.dumps([entry.at.isoformat(), entry.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, key = json.loads(base64.urlsafe_b64decode(padded))
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None or not isinstance(key, str):
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise StoreError(
            "the cursor is not one this API gave: pass next_cursor of the previous page as "
            "it is, or leave it out for the newest entries",
            code="cursor_invalid",
        ) from None
    return moment, key
