"""The `cxflow` command line: validate, explain and run journeys.

Every command reports bad input as a message that says where and what to do,
and exits non-zero; no Python traceback reaches the user (set CXFLOW_DEBUG=1
to see one when reporting a bug).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from connectors.errors import ConnectorError
from dsl.diagnostics import Diagnostic, Severity
from dsl.errors import CxflowError
from dsl.loader import LoadResult, load_file
from dsl.mermaid import to_mermaid
from dsl.schema import journey_json_schema_text
from engine.cli.runtime import RuntimeProblemError
from engine.store import StoreError

app = typer.Typer(
    name="cxflow",
    help="Customer journeys as code: YAML journeys compiled to durable Temporal workflows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# Piped output (CI logs, scripts) gets wide tables instead of rich's 80 columns.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(
    stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else 200
)

JOURNEY_SUFFIXES = (".yaml", ".yml")
NOT_JOURNEY_FOLDERS = {"templates", "segments"}


class UsageError(Exception):
    """Bad command-line input; the message says what to do."""


def journey_files(paths: Iterable[Path]) -> list[Path]:
    """Files named on the command line, with folders expanded to the journeys inside."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in JOURNEY_SUFFIXES
                and p.is_file()
                and not NOT_JOURNEY_FOLDERS.intersection(p.relative_to(path).parts[:-1])
            )
            if not found:
                raise UsageError(f"{path} holds no .yaml journey files")
            files += found
        else:
            files.append(path)
    return files


def _excerpt(diagnostic: Diagnostic) -> str:
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


def print_diagnostics(result: LoadResult) -> None:
    for diagnostic in result.diagnostics:
        colour = "red" if diagnostic.severity is Severity.ERROR else "yellow"
        err.print(f"[{colour}]{escape(diagnostic.render())}[/]")
        excerpt = _excerpt(diagnostic)
        if excerpt:
            err.print(excerpt)


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Journey files or folders of journeys.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
    templates: Annotated[
        bool, typer.Option(help="Check the templates that send steps name.")
    ] = True,
    strict_connectors: Annotated[
        bool,
        typer.Option(help="Channels and actions no installed connector provides are errors."),
    ] = False,
    deployed: Annotated[
        bool,
        typer.Option(
            "--deployed",
            help="Also compare with the active versions in the store (CXFLOW_DATABASE_URL): "
            "warns where a running experiment's split would change.",
        ),
    ] = False,
) -> None:
    """Check journey files and report every problem with its line and column."""
    from connectors.registry import default_registry

    severity = Severity.ERROR if strict_connectors else Severity.WARNING
    catalog = default_registry()
    results = [
        load_file(path, templates=templates, catalog=catalog, missing_connectors=severity)
        for path in journey_files(paths)
    ]
    if deployed:
        from engine.cli.runtime import add_experiment_warnings, open_store
        from engine.settings import Settings

        store = open_store(Settings.from_env())
        try:
            add_experiment_warnings(results, store)
        finally:
            store.dispose()
    if as_json:
        report = [
            {
                "file": r.file,
                "ok": r.ok,
                "journey": r.compiled.id if r.compiled else None,
                "version": r.compiled.version if r.compiled else None,
                "diagnostics": [d.model_dump(mode="json") for d in r.diagnostics],
            }
            for r in results
        ]
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        for result in results:
            print_diagnostics(result)
            if result.compiled:
                out.print(
                    f"[green]ok[/] {escape(result.file)}: journey {result.compiled.id} "
                    f"{result.compiled.version} ({len(result.compiled.steps)} steps)"
                )
        failed = [r for r in results if not r.ok]
        errors = sum(len(r.errors) for r in results)
        warnings = sum(len(r.warnings) for r in results)
        summary = f"{len(results)} journey file(s): {len(results) - len(failed)} valid"
        if failed:
            summary += f", {len(failed)} with errors ({errors} errors)"
        if warnings:
            summary += f", {warnings} warning(s)"
        (err if failed else out).print(summary)
    if any(not r.ok for r in results):
        raise typer.Exit(1)


def _compiled_or_exit(file: Path) -> LoadResult:
    result = load_file(file)
    if result.compiled is None:
        print_diagnostics(result)
        err.print(f"[red]{escape(str(file))} has errors: nothing was compiled[/]")
        raise typer.Exit(1)
    return result


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write {output}: {error.strerror or error}") from None
    err.print(f"wrote {escape(str(output))}")


OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
]


@app.command("compile")
def compile_command(
    file: Annotated[Path, typer.Argument(help="The journey file.")],
    output: OutputOption = None,
) -> None:
    """Print the compiled journey (the JSON the runtime runs)."""
    compiled = _compiled_or_exit(file).compiled
    assert compiled is not None
    _write(compiled.model_dump_json(indent=2) + "\n", output)


@app.command()
def graph(
    file: Annotated[Path, typer.Argument(help="The journey file.")],
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Wrap in a ```mermaid block for Markdown.")
    ] = False,
    output: OutputOption = None,
) -> None:
    """Print the journey as a Mermaid flowchart."""
    compiled = _compiled_or_exit(file).compiled
    assert compiled is not None
    text = to_mermaid(compiled)
    _write(f"```mermaid\n{text}```\n" if markdown else text, output)


@app.command()
def schema(output: OutputOption = None) -> None:
    """Print the JSON Schema of journey files (for editors' YAML language server)."""
    _write(journey_json_schema_text(), output)


@app.command()
def dev(
    journeys: Annotated[Path, typer.Option(help="Folder of journeys to deploy.")] = Path(
        "journeys"
    ),
    data_dir: Annotated[
        Path, typer.Option(help="Where the embedded default keeps its state.")
    ] = Path(".cxflow"),
    port: Annotated[int, typer.Option(help="Temporal gRPC port.")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal UI port (0 disables the UI).")] = 8233,
    api_port: Annotated[
        int, typer.Option(help="Event API port on 127.0.0.1 (0 runs without the API).")
    ] = 8000,
    run_for: Annotated[
        float | None,
        typer.Option(help="Stop after this many seconds (for smoke tests); default: until Ctrl-C."),
    ] = None,
) -> None:
    """Run the embedded default: Temporal dev server and UI, SQLite store, worker, event API,
    journeys."""
    from engine.cli.dev import run_dev

    files = journey_files([journeys]) if journeys.exists() else []
    asyncio.run(
        run_dev(
            files,
            data_dir,
            port,
            ui_port or None,
            api_port or None,
            run_for,
            out.print,
            print_diagnostics,
        )
    )


def _register_runtime_commands() -> None:
    from engine.cli.consent import customers_consent
    from engine.cli.runtime import (
        api,
        connectors_app,
        customers_app,
        deploy,
        journeys_app,
        keys_app,
        report,
        runs_app,
        send_event,
        start,
    )
    from engine.cli.segments import segments_app

    app.command()(deploy)
    app.command()(start)
    app.command()(report)
    app.command("send-event")(send_event)
    app.command()(api)
    app.add_typer(journeys_app, name="journeys")
    app.add_typer(runs_app, name="runs")
    app.add_typer(connectors_app, name="connectors")
    app.add_typer(keys_app, name="keys")
    app.add_typer(segments_app, name="segments")
    customers_app.command("consent")(customers_consent)
    app.add_typer(customers_app, name="customers")


_register_runtime_commands()


def main() -> None:
    """Entry point: run the app and turn every failure into a message, never a traceback.

    Then leave at once: the Temporal client's Rust threads can crash CPython's
    finalisation ("PyGILState_Release ... finalizing", temporalio/sdk-python#300),
    which would turn a finished command into an abort. Commands close what they
    opened themselves; output and logs are flushed here.
    """
    code = _run()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _run() -> int:
    try:
        app()
    except SystemExit as leaving:
        if leaving.code is None or isinstance(leaving.code, int):
            return leaving.code or 0
        err.print(f"[red]cxflow: {escape(str(leaving.code))}[/]")
        return 1
    except (CxflowError, RuntimeProblemError, StoreError, ConnectorError) as problem:
        err.print(f"[red]cxflow: {escape(str(problem))}[/]")
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # last line of defence: keep tracebacks away from users
        if os.environ.get("CXFLOW_DEBUG"):
            raise
        err.print(
            f"[red]cxflow: internal error ({type(error).__name__}: {escape(str(error))}). "
            "This is a bug in cxflow: rerun with CXFLOW_DEBUG=1 and report the traceback.[/]"
        )
        return 3
    return 0


if __name__ == "__main__":
    main()
