"""The segments pages: the deployed definitions, one segment's size over time, its value
figures and members, and the members as CSV.

What `cxflow segments list|show|value` show (:mod:`engine.store.segments`,
:mod:`engine.analytics.segment_value`); the size per day is worked back from the logged
entries and exits (``Segments.sizes``).
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from dsl.segment_models import CompiledSegment, match_yaml
from engine.analytics.segment_value import segment_value_report
from engine.console.charts import lines
from engine.console.context import ContextDep
from engine.console.period import PeriodDep
from engine.console.routes.customers import customer_url
from engine.console.security import ViewerDep
from engine.console.templating import render
from engine.errors import ConsoleError
from engine.segments.records import SegmentSummaryRecord
from engine.store import Store

router = APIRouter()

PAGE = 50
EXPORT_PAGE = 1000
DEFAULT_DAYS = 30
MAX_POINTS = 366
# A spreadsheet runs a cell that starts so as a formula (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str) -> str:
    """The value as a spreadsheet shows it, never as a formula it would run."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def depends_on(segment: CompiledSegment) -> str:
    needs = segment.depends_on
    parts = [f"events {', '.join(needs.events)}"] if needs.events else []
    if needs.traits:
        parts.append("traits")
    if needs.time:
        parts.append("time (refreshed on a schedule)")
    return "; ".join(parts) or "nothing (constant)"


def _summary(store: Store, segment_id: str) -> SegmentSummaryRecord:
    summaries = store.segment_summaries()
    found = next((s for s in summaries if s.segment.id == segment_id), None)
    if found is None:
        raise ConsoleError(
            f"no segment {segment_id!r} is deployed: deploy it with "
            "`cxflow segments deploy segments/`, or pick one on the Segments page",
            code="segment_not_deployed",
            status=404,
        )
    return found


def _days(since: datetime | None, until: datetime | None) -> list[date]:
    """The days of the period (the last 30 by default), at most the last 366 of them."""
    last = (until - timedelta(days=1)).date() if until else datetime.now(UTC).date()
    first = since.date() if since else last - timedelta(days=DEFAULT_DAYS - 1)
    first = max(first, last - timedelta(days=MAX_POINTS - 1))
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@router.get("/segments")
async def segments(request: Request, context: ContextDep, viewer: ViewerDep) -> Response:
    store = context.store
    summaries, changes = await asyncio.gather(
        asyncio.to_thread(store.segment_summaries),
        asyncio.to_thread(store.segment_changes, None, None, 1000),
    )
    last_change: dict[str, datetime] = {}
    for change in changes:  # newest first
        last_change.setdefault(change.segment, change.at)
    return render(
        request,
        "segments/index.html",
        title="Segments",
        summaries=summaries,
        last_change=last_change,
        depends_on=depends_on,
        definition_yaml=match_yaml,
    )


@router.get("/segments/{segment_id}")
async def segment(
    request: Request,
    context: ContextDep,
    viewer: ViewerDep,
    segment_id: str,
    span: PeriodDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    store = context.store
    summary = await asyncio.to_thread(_summary, store, segment_id)
    days = _days(span.since, span.until)
    sizes, members, value, changes = await asyncio.gather(
        asyncio.to_thread(store.segments.sizes, segment_id, days),
        asyncio.to_thread(store.segments.member_page, segment_id, PAGE + 1, (page - 1) * PAGE),
        asyncio.to_thread(segment_value_report, store, segment_id),
        asyncio.to_thread(store.segment_changes, segment_id, None, 10),
    )
    chart = lines(
        "Members at the end of each day",
        [d.isoformat() for d in days],
        {"Members": [float(n) for n in sizes]},
        formatter="{:,.0f}",
    )
    return render(
        request,
        "segments/show.html",
        title=f"Segment {summary.segment.name}",
        summary=summary,
        segment=summary.segment,
        yaml=match_yaml(summary.segment),
        depends=depends_on(summary.segment),
        span=span,
        chart=chart,
        members=members[:PAGE],
        more=len(members) > PAGE,
        page=page,
        value=value.segments[0] if value.segments else None,
        changes=changes,
        customer_url=customer_url,
    )


@router.get("/segments/{segment_id}/members.csv")
async def members_csv(context: ContextDep, viewer: ViewerDep, segment_id: str) -> Response:
    """Every member as CSV, read a page at a time while it is sent; personal data leaving
    the console, so the audit log records who took it."""
    store = context.store
    await asyncio.to_thread(_summary, store, segment_id)
    await asyncio.to_thread(
        store.users.audit, viewer.user.email, "segment.export", segment_id, {"format": "csv"}
    )

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)

        def flushed() -> str:
            text = buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            return text

        writer.writerow(["customer_id", "email", "name", "entered_at"])
        yield flushed()
        after: str | None = None
        while True:
            page = store.segments.member_page(segment_id, EXPORT_PAGE, after=after)
            for m in page:
                writer.writerow(
                    [
                        csv_cell(m.customer_id),
                        csv_cell(m.email or ""),
                        csv_cell(m.name or ""),
                        m.entered_at.astimezone(UTC).isoformat(),
                    ]
                )
            yield flushed()
            if len(page) < EXPORT_PAGE:
                return
            after = page[-1].customer_id

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="segment-{segment_id}-members.csv"'},
    )
