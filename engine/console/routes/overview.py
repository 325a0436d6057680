"""The overview: the workspace's KPIs over a period, as tiles and charts.

Its figures are those of `cxflow report overview` (:mod:`engine.analytics.overview`) and
the survey report (:mod:`engine.analytics.voc`), so the console and the terminal agree.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from engine.analytics.overview import OverviewReport, overview_report
from engine.analytics.voc import VocReport, voc_report
from engine.console.charts import STATUS_COLOURS, Chart, bars, lines
from engine.console.context import ContextDep
from engine.console.period import PeriodDep
from engine.console.security import ViewerDep
from engine.console.templating import render

router = APIRouter()

STATUSES = ("sent", "skipped", "failed")


def overview_charts(report: OverviewReport, voc: VocReport) -> list[Chart]:
    """The overview's charts, for the figures that have data in the period."""
    charts: list[Chart] = []
    weeks = [w.week for w in report.weeks]
    if weeks:
        charts.append(
            bars(
                "Entries and conversions per week",
                weeks,
                {
                    "Entries": [w.entries for w in report.weeks],
                    "Conversions": [w.conversions for w in report.weeks],
                },
            )
        )
        currencies = sorted({c for w in report.weeks for c in w.revenue})
        if currencies:
            charts.append(
                bars(
                    "Revenue per week",
                    weeks,
                    {
                        c or "(no currency)": [w.revenue.get(c, 0.0) for w in report.weeks]
                        for c in currencies
                    },
                    unit="revenue",
                    formatter="{:,.2f}",
                )
            )
    for title, names, horizontal in (
        ("Messages by channel", [c for c in sorted(report.messages) if not is_call(c)], False),
        ("Connector calls", [c for c in sorted(report.messages) if is_call(c)], True),
    ):
        if names:
            by_status = {
                s.capitalize(): [report.messages[c].get(s, 0) for c in names] for s in STATUSES
            }
            charts.append(
                bars(
                    title,
                    names,
                    by_status,
                    stacked=True,
                    horizontal=horizontal,
                    colours=STATUS_COLOURS,
                )
            )
    rates = [c for c in report.channels if c.sent]
    if rates:
        charts.append(
            bars(
                "Delivery and engagement by channel (%)",
                [c.channel for c in rates],
                {
                    "Delivered": [_pct(c.delivered_rate) for c in rates],
                    "Opened": [_pct(c.open_rate) for c in rates],
                    "Clicked": [_pct(c.click_rate) for c in rates],
                    "Bounced": [_pct(c.bounce_rate) for c in rates],
                },
                unit="%",
                formatter="{:.1f}%",
            )
        )
    voc_weeks = [b.key for b in voc.by_week]
    if voc_weeks:
        for kind, title, scale in (
            ("nps", "NPS per week", (-100.0, 100.0)),
            ("csat", "CSAT per week (% satisfied)", (0.0, 100.0)),
            ("ces", "CES per week (1 to 7, lower is easier)", (1.0, 7.0)),
        ):
            values = [_kind_score(b.scores, kind) for b in voc.by_week]
            if any(v is not None for v in values):
                charts.append(lines(title, voc_weeks, {kind.upper(): values}, range_=scale))
    return charts


def is_call(channel: str) -> bool:
    """The message log keeps a journey's calls (``shop.create_discount``) beside its sends."""
    return "." in channel


def _pct(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


def _kind_score(scores: list, kind: str) -> float | None:  # type: ignore[type-arg]
    for score in scores:
        if score.kind == kind:
            value: float | None = score.score
            return value
    return None


@router.get("/")
async def overview(
    request: Request, context: ContextDep, viewer: ViewerDep, span: PeriodDep
) -> Response:
    settings = context.settings
    report, voc = await asyncio.gather(
        asyncio.to_thread(
            overview_report, context.store, span.since, span.until, settings.global_control_percent
        ),
        asyncio.to_thread(voc_report, context.store, span.since, span.until),
    )
    sent = sum(
        statuses.get("sent", 0)
        for channel, statuses in report.messages.items()
        if not is_call(channel)
    )
    return render(
        request,
        "overview.html",
        title="Overview",
        report=report,
        voc=voc,
        sent=sent,
        span=span,
        charts=overview_charts(report, voc),
    )
