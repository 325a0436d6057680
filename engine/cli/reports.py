"""`cxflow report JOURNEY`: runs, conversions and experiment results of a deployed journey;
`cxflow report voc`: NPS, CSAT and CES of the workspace's survey answers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from dsl.durations import parse_duration
from engine.analytics.overview import overview_report, print_overview
from engine.analytics.report import build_report, print_report, render_html
from engine.analytics.voc import VocReport, print_voc, voc_report
from engine.cli.context import open_store
from engine.cli.output import err, out
from engine.errors import CommandError
from engine.settings import Settings

VOC, OVERVIEW = "voc", "overview"


def report(
    journey: Annotated[
        str,
        typer.Argument(help="The journey id; `voc` for survey scores, `overview` for all."),
    ],
    html_file: Annotated[
        Path | None, typer.Option("--html", help="Also write a self-contained HTML page.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the numbers as JSON.")] = False,
    since: Annotated[
        str | None,
        typer.Option(help="voc: only answers of the last duration, e.g. 90d (default: all)."),
    ] = None,
) -> None:
    """Runs, conversions, messages per send step and experiment results of a deployed
    journey; with `voc`, the NPS, CSAT and CES of every survey answer, by survey, journey,
    variant, segment, channel and week; with `overview`, the workspace's entries, messages,
    conversions, revenue and survey scores, by journey and week, engagement per channel and
    the global control group's lift (docs/analytics.md)."""
    if journey in (VOC, OVERVIEW):
        _workspace(journey, since, as_json)
        return
    with open_store(Settings.from_env()) as store:
        compiled = store.get_journey(journey)
        if compiled is None:
            raise CommandError(
                f"journey {journey!r} is not deployed: see `cxflow journeys list`",
                code="journey_not_deployed",
            )
        result = build_report(store, compiled)
    if as_json:
        out.print_json(result.model_dump_json())
    else:
        print_report(result, out)
    if html_file is not None:
        html_file.write_text(render_html(result), encoding="utf-8")
        err.print(f"wrote {escape(str(html_file))}")


def _workspace(kind: str, since: str | None, as_json: bool) -> None:
    start = None
    if since is not None:
        try:
            start = datetime.now(UTC) - parse_duration(since)
        except ValueError:
            raise CommandError(
                f"--since {since!r} is not a duration: write e.g. 30d, 12w or 1d12h",
                code="duration_invalid",
            ) from None
    settings = Settings.from_env()
    with open_store(settings) as store:
        result = (
            voc_report(store, start)
            if kind == VOC
            else overview_report(
                store, start, global_control_percent=settings.global_control_percent
            )
        )
    if as_json:
        out.print_json(result.model_dump_json())
    elif isinstance(result, VocReport):
        print_voc(result, out)
    else:
        print_overview(result, out)
