"""`cxflow test`: run the journeys' test cases on Temporal's time-skipping server."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from connectors.registry import default_registry
from dsl.case_loader import case_files, check_answers, load_case_file
from engine.cli.output import err, out, print_diagnostics
from engine.errors import UsageError
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
    files = case_files(paths or [Path("journeys")])
    if not files:
        raise UsageError(
            "no test files found: put them in journeys/tests/ (see docs/testing-journeys.md), "
            "or name them"
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
    # The runs' own warnings (a call failing on purpose, retries) are the results' to tell.
    for name in ("temporalio", "cxflow"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
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
