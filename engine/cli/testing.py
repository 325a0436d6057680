"""`cxflow test` and `cxflow simulate`: journeys run on Temporal's time-skipping server,
against test cases or against the stored events of a period."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from connectors.registry import default_registry
from dsl.case_loader import case_files, check_answers, load_case_file
from dsl.durations import parse_duration
from dsl.loader import compile_file
from engine.cli.context import open_store
from engine.cli.output import err, out, print_diagnostics
from engine.errors import UsageError
from engine.rehearsal.backtest import Period, candidate, cases_from_store, rows, summarise
from engine.rehearsal.report import (
    CaseResult,
    coverage_line,
    summary,
    text_lines,
    write_junit,
)
from engine.rehearsal.runner import rehearse
from engine.rehearsal.verdicts import coverage, judge
from engine.settings import Settings

FAILED = 1


def run_tests(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Test files, or folders whose tests/ folder holds them."),
    ] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Also write the results as JUnit XML here.")
    ] = None,
) -> None:
    """Run journey test cases: days of a journey in seconds, nothing sent."""
    named = paths or [Path("journeys")]
    files = case_files(named)
    if not files:
        where = ", ".join(str(p) for p in named)
        raise UsageError(
            f"no test files in {where}: a folder's test files are in its tests/ folder "
            "(journeys/tests/<journey>.yaml, see docs/testing-journeys.md), or name them"
        )
    installed = default_registry()
    outputs = {
        f"{connector.name}.{name}": spec.output_model
        for connector in installed
        for name, spec in connector.actions.items()
        if spec.output_model is not None
    }
    loaded = [load_case_file(file) for file in files]
    for result in loaded:
        check_answers(result, outputs)
    for result in loaded:
        print_diagnostics(result.diagnostics)
    broken = [r for r in loaded if not r.ok]
    runnable = [r for r in loaded if r.ok]
    began = time.monotonic()
    _quiet_runs()
    runs = asyncio.run(rehearse(runnable, installed, Settings.from_env())) if runnable else []
    seconds = time.monotonic() - began
    each = seconds / len(runs) if runs else 0.0
    results = [CaseResult(run, judge(run), each) for run in runs]
    for style, line in text_lines(results):
        out.print(f"[{style}]{escape(line)}[/]")
    for result in runnable:
        assert result.journey is not None
        out.print(
            escape(coverage_line(coverage(result.journey, [r for r in runs if r.file is result])))
        )
    if junit is not None:
        write_junit(results, junit)
    line = summary(results, seconds) if results else "no case ran"
    if broken:
        line += f"; {len(broken)} test file(s) with errors (above): fix them first"
    failed = broken or any(not r.passed for r in results)
    (err if failed else out).print(f"[{'red' if failed else 'green'}]{escape(line)}[/]")
    if failed:
        raise typer.Exit(FAILED)


def _quiet_runs() -> None:
    """The rehearsed runs' own warnings (a call failing on purpose, retries) stay out of
    the output: the results tell what happened."""
    for name in ("temporalio", "cxflow"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def simulate(
    journey: Annotated[str, typer.Argument(help="The id of a deployed journey.")],
    version: Annotated[
        Path | None,
        typer.Option("--version", help="A journey file: run this version beside the deployed one."),
    ] = None,
    since: Annotated[
        str, typer.Option(help="How far back: the events of the last 30d, 2w, 12h...")
    ] = "30d",
    limit: Annotated[int, typer.Option(help="Replay at most this many events.")] = 50_000,
) -> None:
    """Backtest: run a journey on the stored events of a period, time skipped, nothing sent.

    Counts how many would enter, reach each step, get each message, per variant; with
    --version, the new version side by side with the deployed one. Nothing is sent,
    stored as a run or counted in reports.
    """
    settings = Settings.from_env()
    try:
        window = parse_duration(since)
    except ValueError as error:
        raise UsageError(f"--since: {error}") from None
    until = datetime.now(UTC)
    period = Period(since=until - window, until=until)
    with open_store(settings) as store:
        deployed = store.get_journey(journey)
        if deployed is None:
            raise UsageError(
                f"journey {journey!r} is not deployed: `cxflow journeys list` shows the ids"
            )
        versions = [deployed]
        if version is not None:
            new = compile_file(version)
            if new.id != journey:
                raise UsageError(
                    f"{version} is journey {new.id!r}, not {journey!r}: simulate a version of "
                    "the same journey"
                )
            versions.append(candidate(new))
        staged = [cases_from_store(store, v, period, limit) for v in versions]
    files = [file for file, _count in staged]
    events = staged[0][1]
    if not files[0].tests or not files[0].tests.cases:
        out.print(f"no events in the last {since}: nothing to simulate")
        return
    _quiet_runs()
    began = time.monotonic()
    runs = asyncio.run(
        rehearse(files, default_registry(), settings, align=period.since, dry_run=True)
    )
    seconds = time.monotonic() - began
    labels = [f"deployed {deployed.version}"] + (
        [f"{version.name} {versions[1].version}"] if version is not None else []
    )
    figures = [
        summarise(label, [r for r in runs if r.file is file])
        for label, file in zip(labels, files, strict=True)
    ]
    table = Table("", *labels, title=f"{journey}: the last {since} ({events} events)")
    for row in rows(figures, versions[-1]):
        table.add_row(*row)
    out.print(table)
    out.print(
        f"simulated {figures[0].customers} customer(s) in {seconds:.1f}s; nothing was sent "
        "or stored (actions answered with placeholders)"
    )
