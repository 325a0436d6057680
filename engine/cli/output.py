"""What the command line prints: its two consoles, diagnostics with the source line, files.

Results go to ``out`` (stdout), diagnostics, progress and errors to ``err`` (stderr), so
`cxflow compile ... > journey.json` and `cxflow validate --json` stay machine-readable.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Protocol

import typer
from rich.console import Console
from rich.markup import escape

from dsl.diagnostics import Diagnostic, Severity
from engine.errors import UsageError
from engine.runtime.deployment import Deployment, Schedules

# Piped output (CI logs, scripts) gets wide tables instead of rich's 80 columns.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(
    stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else 200
)

OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
]


def excerpt(diagnostic: Diagnostic) -> str:
    """The source line with a caret under the column, as compilers show it."""
    try:
        lines = Path(diagnostic.file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    if not 0 < diagnostic.line <= len(lines):
        return ""
    line = lines[diagnostic.line - 1]
    caret = " " * (diagnostic.column - 1) + "^"
    return f"    {escape(line)}\n    [bold]{caret}[/]"


def print_diagnostics(diagnostics: Iterable[Diagnostic]) -> None:
    """Each diagnostic of a journey or segment file, errors red, warnings yellow, with its
    source line."""
    for diagnostic in diagnostics:
        colour = "red" if diagnostic.severity is Severity.ERROR else "yellow"
        err.print(f"[{colour}]{escape(diagnostic.render())}[/]")
        shown = excerpt(diagnostic)
        if shown:
            err.print(shown)


class CheckedFile(Protocol):
    """A journey or segment file as the loaders return it (LoadResult, SegmentLoadResult)."""

    @property
    def file(self) -> str: ...

    @property
    def ok(self) -> bool: ...

    @property
    def diagnostics(self) -> list[Diagnostic]: ...


def print_checked(
    kind: str, results: Sequence[CheckedFile], ok_lines: Sequence[str | None]
) -> None:
    """What `validate` prints: each file's problems, its ok line, and one summary.

    ``ok_lines[i]`` says what ``results[i]`` holds when it compiled (None when it did not).
    """
    for result, line in zip(results, ok_lines, strict=True):
        print_diagnostics(result.diagnostics)
        if line is not None:
            out.print(f"[green]ok[/] {escape(result.file)}: {line}")
    failed = [r for r in results if not r.ok]
    errors = sum(1 for r in results for d in r.diagnostics if d.severity is Severity.ERROR)
    warnings = sum(1 for r in results for d in r.diagnostics if d.severity is Severity.WARNING)
    summary = f"{len(results)} {kind} file(s): {len(results) - len(failed)} valid"
    if failed:
        summary += f", {len(failed)} with errors ({errors} errors)"
    if warnings:
        summary += f", {warnings} warning(s)"
    (err if failed else out).print(summary)


def write_output(text: str, output: Path | None) -> None:
    """``text`` on stdout, or into ``output`` (saying so on stderr).

    :raises UsageError: the file cannot be written.
    """
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write {output}: {error.strerror or error}") from None
    err.print(f"wrote {escape(str(output))}")


def print_stored(done: Deployment) -> None:
    """`deployed segment vip v1a2b`, `unchanged hello v3c4d`: one line per version stored."""
    for stored in done.stored:
        state = "deployed" if stored.changed else "unchanged"
        kind = "segment " if stored.kind == "segment" else ""
        out.print(f"{state} {kind}{stored.id} {stored.version}")


def print_schedules(schedules: Schedules) -> None:
    for schedule_id in schedules.journeys:
        out.print(f"scheduled {schedule_id}")
    if schedules.segment_refresh:
        out.print(f"scheduled {schedules.segment_refresh} every {schedules.every}")
