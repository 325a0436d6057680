"""The journeys pages: what is deployed and how it does, one journey whole, and its controls.

The figures are those of `cxflow report overview` (entries, conversions) and `cxflow
report JOURNEY` (funnel, experiment, revenue, messages per send step), so the console and
the terminal agree; the graph's counts are the store's run bookkeeping
(:mod:`engine.console.graph`). Pause, resume and stop go through
:class:`engine.runtime.controls.JourneyControls`, as the CLI's do, which audits them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from dsl.compiled import CompiledJourney
from dsl.loader import load_file
from engine.analytics.overview import overview_report
from engine.analytics.report import JourneyReport, build_report
from engine.console.charts import Chart, bars
from engine.console.context import ConsoleContext, ContextDep
from engine.console.graph import JourneyGraph, journey_graph, trigger_text
from engine.console.period import PeriodDep
from engine.console.security import FormDep, Viewer, ViewerDep, require
from engine.console.templating import render
from engine.errors import CommandError, ConsoleError, TemporalRequestError
from engine.runtime.controls import JourneyControls, since
from engine.store import JourneyControlRecord, JourneyVersionRecord

router = APIRouter()

Operator = Annotated[Viewer, require("operator")]

Tab = Literal["graph", "funnel", "experiment", "revenue", "messages", "versions", "source"]
TABS: dict[str, str] = {
    "graph": "Graph",
    "funnel": "Funnel",
    "experiment": "Experiment",
    "revenue": "Revenue",
    "messages": "Engagement per send",
    "versions": "Versions",
    "source": "Source",
}
NOTICES = {
    "paused": "The journey is paused: new entries are refused, and runs in flight hold "
    "before their next send until you resume it.",
    "resumed": "The journey is active again: held runs send and go on, new entries start.",
    "stopped": "The journey is stopped: its runs in flight end, and new entries are refused "
    "until you resume it.",
}


@dataclass(frozen=True)
class JourneyRow:
    journey: CompiledJourney
    trigger: str
    status: JourneyControlRecord
    in_flight: int
    entries: int
    conversions: int
    conversion_rate: float | None
    deployed_at: datetime | None


def _rows(
    context: ConsoleContext, span_since: datetime | None, span_until: datetime | None
) -> list[JourneyRow]:
    store = context.store
    journeys = store.active_journeys()
    controls = store.journeys.controls()
    in_flight = store.runs.in_flight_counts()
    figures = {
        f.journey_id: f
        for f in overview_report(
            store, span_since, span_until, context.settings.global_control_percent
        ).journeys
    }
    rows = []
    for journey in journeys:
        versions = store.journeys.versions(journey.id)
        active = next((v for v in versions if v.active), None)
        f = figures.get(journey.id)
        rows.append(
            JourneyRow(
                journey=journey,
                trigger=trigger_text(journey),
                status=controls.get(journey.id) or JourneyControlRecord(journey_id=journey.id),
                in_flight=in_flight.get(journey.id, 0),
                entries=f.entries if f else 0,
                conversions=f.conversions if f else 0,
                conversion_rate=f.conversion_rate if f else None,
                deployed_at=active.deployed_at if active else None,
            )
        )
    return rows


@router.get("/journeys")
async def journeys(
    request: Request, context: ContextDep, viewer: ViewerDep, span: PeriodDep
) -> Response:
    rows = await asyncio.to_thread(_rows, context, span.since, span.until)
    return render(request, "journeys/list.html", title="Journeys", rows=rows, span=span)


@dataclass(frozen=True)
class Source:
    path: str | None
    text: str | None  # the file, when it still compiles to the deployed version
    note: str


def _source(context: ConsoleContext, journey: CompiledJourney) -> Source:
    """The YAML of the deployed version: the store keeps the file's path, and the file is
    shown when it still compiles to that version (else it was edited since)."""
    path = context.store.journeys.source(journey.id, journey.version)
    if path is None:
        return Source(None, None, "This version was deployed without a file (from code).")
    file = Path(path)
    if file.suffix not in (".yaml", ".yml") or not file.is_file():
        return Source(
            path,
            None,
            "The file is not where it was deployed from, seen from the API's "
            "machine: look for it in your journeys repository.",
        )
    loaded = load_file(file)
    if loaded.compiled is None or loaded.compiled.version != journey.version:
        return Source(
            path,
            None,
            "The file has changed since this version was deployed (it compiles "
            "to another version, or not at all): deploy it, or see the version in git.",
        )
    return Source(path, file.read_text(encoding="utf-8"), "The file as deployed.")


def _experiment_charts(report: JourneyReport) -> list[Chart]:
    charts = []
    for e in report.experiments:
        names = [v.name for v in e.variants]
        charts.append(
            bars(
                f"Conversion rate per variant of {e.experiment} (%)",
                names,
                {"Conversion rate": [round(v.rate * 100, 1) for v in e.variants]},
                unit="%",
                formatter="{:.1f}%",
            )
        )
    return charts


def _revenue_charts(report: JourneyReport) -> list[Chart]:
    charts = []
    for e in report.experiments:
        if any(v.revenue is not None for v in e.variants):
            charts.append(
                bars(
                    f"Revenue per exposure, {e.experiment}",
                    [v.name for v in e.variants],
                    {"Per exposure": [v.revenue_per_exposure for v in e.variants]},
                    unit=report.summary.currency or "goal value",
                    formatter="{:,.2f}",
                )
            )
    return charts


def _funnel_chart(report: JourneyReport) -> Chart | None:
    if not report.summary.runs:
        return None
    return bars(
        "Runs that reached each step",
        [s.step_id for s in report.funnel],
        {
            "Runs": [s.runs for s in report.funnel],
            "Converted": [s.converted for s in report.funnel],
        },
        horizontal=True,
    )


def _messages_chart(report: JourneyReport) -> Chart | None:
    sent = [m for m in report.messages if m.sent]
    if not sent:
        return None
    return bars(
        "Messages per send step",
        [m.step_id for m in sent],
        {
            "Sent": [m.sent for m in sent],
            "Delivered": [m.delivered for m in sent],
            "Opened": [m.opened for m in sent],
            "Clicked": [m.clicked for m in sent],
        },
    )


@dataclass(frozen=True)
class Page:
    journey: CompiledJourney
    status: JourneyControlRecord
    in_flight: int
    versions: list[JourneyVersionRecord]
    graph: JourneyGraph | None = None
    report: JourneyReport | None = None
    source: Source | None = None


def _page(context: ConsoleContext, journey_id: str, tab: str) -> Page:
    store = context.store
    journey = store.get_journey(journey_id)
    if journey is None:
        raise ConsoleError(
            f"no journey {journey_id!r} is deployed: the Journeys page lists those that are "
            "(deploy one with `cxflow deploy journeys/`)",
            code="journey_not_deployed",
            status=404,
        )
    status = store.journeys.control(journey_id)
    versions = store.journeys.versions(journey_id)
    in_flight = store.runs.in_flight_counts().get(journey_id, 0)
    page = Page(journey, status, in_flight, versions)
    if tab == "graph":
        graph = journey_graph(
            journey, store.runs.reached_sets(journey_id), store.runs.at_steps(journey_id)
        )
        return Page(journey, status, in_flight, versions, graph=graph)
    if tab in ("funnel", "experiment", "revenue", "messages"):
        return Page(journey, status, in_flight, versions, report=build_report(store, journey))
    if tab == "source":
        return Page(journey, status, in_flight, versions, source=_source(context, journey))
    return page


@router.get("/journeys/{journey_id}")
async def journey_page(
    request: Request,
    journey_id: str,
    context: ContextDep,
    viewer: ViewerDep,
    tab: Tab = "graph",
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    page = await asyncio.to_thread(_page, context, journey_id, tab)
    charts: list[Chart] = []
    if page.report is not None:
        report = page.report
        chart = {"funnel": _funnel_chart, "messages": _messages_chart}.get(tab)
        if chart is not None and (drawn := chart(report)) is not None:
            charts.append(drawn)
        if tab == "experiment":
            charts = _experiment_charts(report)
        elif tab == "revenue":
            charts = _revenue_charts(report)
    return render(
        request,
        "journeys/journey.html",
        title=page.journey.name,
        page=page,
        journey=page.journey,
        trigger=trigger_text(page.journey),
        status_note=since(page.status),
        tab=tab,
        tabs=TABS,
        charts=charts,
        notice=NOTICES.get(done),
    )


async def _control(
    action: Literal["pause", "resume", "stop"],
    journey_id: str,
    context: ConsoleContext,
    viewer: Viewer,
) -> Response:
    if context.client is None:
        raise ConsoleError(
            "Temporal is not connected to this API process, so runs cannot be told: start "
            "the API with CXFLOW_TEMPORAL_ADDRESS set, or run "
            f"`cxflow journeys {action} {journey_id}` where Temporal is reachable",
            code="temporal_not_connected",
            status=503,
        )
    controls = JourneyControls(context.store, context.client)
    try:
        if action == "pause":
            await controls.pause(journey_id, viewer.user.email)
        elif action == "resume":
            await controls.resume(journey_id, viewer.user.email)
        else:
            await controls.stop(journey_id, viewer.user.email)
    except CommandError as error:
        raise ConsoleError(error.message, code=error.code, status=404) from None
    except TemporalRequestError as error:
        raise ConsoleError(error.message, code=error.code, status=502) from None
    done = {"pause": "paused", "resume": "resumed", "stop": "stopped"}[action]
    return RedirectResponse(f"/console/journeys/{journey_id}?done={done}", status_code=303)


@router.post("/journeys/{journey_id}/pause")
async def pause(journey_id: str, context: ContextDep, viewer: Operator, form: FormDep) -> Response:
    return await _control("pause", journey_id, context, viewer)


@router.post("/journeys/{journey_id}/resume")
async def resume(journey_id: str, context: ContextDep, viewer: Operator, form: FormDep) -> Response:
    return await _control("resume", journey_id, context, viewer)


@router.post("/journeys/{journey_id}/stop")
async def stop(journey_id: str, context: ContextDep, viewer: Operator, form: FormDep) -> Response:
    return await _control("stop", journey_id, context, viewer)
