"""Journey commands: `validate`, `compile`, `graph`, `schema`, `deploy`, `start`,
`send-event` and `journeys list|pause|resume|stop`."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from connectors.registry import default_registry
from dsl.case_loader import case_json_schema_text
from dsl.diagnostics import Severity
from dsl.loader import LoadResult, load_file
from dsl.mermaid import to_mermaid
from dsl.schema import journey_json_schema_text
from engine.cli.context import engine_runtime, open_store
from engine.cli.inputs import journey_files, json_object, segment_paths, split_segment_paths
from engine.cli.output import (
    OutputOption,
    err,
    out,
    print_checked,
    print_diagnostics,
    print_schedules,
    print_stored,
    write_output,
)
from engine.ingest.intake import StartOutcome
from engine.ingest.router import RouteResult
from engine.runtime import deployment
from engine.runtime.controls import Action, ControlResult, JourneyControls, since
from engine.settings import Settings
from workflows.models import CustomerEvent

journeys_app = typer.Typer(help="Deployed journeys.", no_args_is_help=True)


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
    severity = Severity.ERROR if strict_connectors else Severity.WARNING
    catalog = default_registry()
    results = [
        load_file(path, templates=templates, catalog=catalog, missing_connectors=severity)
        for path in journey_files(paths)
    ]
    if deployed:
        with open_store(Settings.from_env()) as store:
            deployment.add_experiment_warnings(results, store)
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
        print_checked(
            "journey",
            results,
            [
                f"journey {r.compiled.id} {r.compiled.version} ({len(r.compiled.steps)} steps)"
                if r.compiled
                else None
                for r in results
            ],
        )
    if any(not r.ok for r in results):
        raise typer.Exit(1)


def _compiled_or_exit(file: Path) -> LoadResult:
    result = load_file(file)
    if result.compiled is None:
        print_diagnostics(result.diagnostics)
        err.print(f"[red]{escape(str(file))} has errors: nothing was compiled[/]")
        raise typer.Exit(1)
    return result


def compile_command(
    file: Annotated[Path, typer.Argument(help="The journey file.")],
    output: OutputOption = None,
) -> None:
    """Print the compiled journey (the JSON the runtime runs)."""
    compiled = _compiled_or_exit(file).compiled
    assert compiled is not None
    write_output(compiled.model_dump_json(indent=2) + "\n", output)


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
    write_output(f"```mermaid\n{text}```\n" if markdown else text, output)


def schema(
    output: OutputOption = None,
    tests: Annotated[
        bool, typer.Option("--tests", help="The schema of journey test files instead.")
    ] = False,
) -> None:
    """Print the JSON Schema of journey files (for editors' YAML language server)."""
    write_output(case_json_schema_text() if tests else journey_json_schema_text(), output)


def deploy(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Journey files or folders to deploy, and segments/ folders or files."),
    ],
) -> None:
    """Validate journeys (and segments) and make them the active versions; nothing invalid is
    deployed."""
    settings = Settings.from_env()
    segments, journeys = split_segment_paths(paths)
    checked = deployment.check(journey_files(journeys), segment_paths(segments) if segments else [])
    deployment.refuse_invalid(checked, print_diagnostics)
    with open_store(settings) as store:
        done = deployment.deploy(store, checked, print_diagnostics)
        print_stored(done)
        schedules = asyncio.run(deployment.sync_deployed(settings, store, segments=bool(segments)))
    print_schedules(schedules)


def start(
    journey: Annotated[str, typer.Argument(help="The id of a journey with an `api: {}` trigger.")],
    customer: Annotated[str, typer.Option(help="The customer id.")],
    properties: Annotated[
        str, typer.Option(help="Inputs as a JSON object (event.properties).")
    ] = "{}",
    message_id: Annotated[
        str | None, typer.Option(help="Idempotency id; a new one when left out.")
    ] = None,
) -> None:
    """Start an API-triggered journey for one customer (as POST /v1/journeys/ID/start).

    The start is stored first: the same --message-id twice starts it once, and a start
    made while Temporal is down happens when it is back.
    """
    values = json_object(properties)
    settings = Settings.from_env()
    outcome = asyncio.run(
        _start_api(settings, journey, customer, values, message_id or str(uuid.uuid4()))
    )
    said = {
        "started": f"started {outcome.workflow_id}",
        "running": f"{customer} is in {journey} already ({outcome.workflow_id})",
        "refused": f"{customer} did not enter {journey}: {outcome.reason or 'entry rules'}",
        "duplicate": f"message id {outcome.message_id} was used before: nothing done",
        "queued": f"stored; {journey} starts for {customer} when Temporal is reachable",
    }
    out.print(escape(said[outcome.status]))


async def _start_api(
    settings: Settings, journey: str, customer: str, values: dict[str, Any], message_id: str
) -> StartOutcome:
    async with engine_runtime(settings) as runtime:
        return await runtime.intake.start(journey, customer, values, message_id)


def send_event(
    customer: Annotated[str, typer.Option(help="The customer id (userId).")],
    event: Annotated[str, typer.Option(help="The event name, e.g. cart.updated.")],
    properties: Annotated[str, typer.Option(help="Event properties as a JSON object.")] = "{}",
    message_id: Annotated[
        str | None, typer.Option(help="Idempotency id; a new one when left out.")
    ] = None,
) -> None:
    """Send a customer event to the engine, as an emitting system would."""
    values = json_object(properties)
    payload = CustomerEvent(
        message_id=message_id or str(uuid.uuid4()),
        customer_id=customer,
        name=event,
        properties=values,
        timestamp=datetime.now(UTC),
    )
    result = asyncio.run(_send(Settings.from_env(), payload))
    if not result.stored:
        out.print(f"duplicate message id {payload.message_id}: already accepted, nothing done")
        return
    out.print(f"accepted {payload.message_id}")
    for workflow_id in result.started:
        out.print(f"  started {escape(workflow_id)}")
    for workflow_id in result.signalled:
        out.print(f"  delivered to {escape(workflow_id)}")
    for journey_id, reason in result.skipped.items():
        out.print(f"  {journey_id}: not entered ({reason})")


async def _send(settings: Settings, event: CustomerEvent) -> RouteResult:
    async with engine_runtime(settings) as runtime:
        return await runtime.intake.send(event)


@journeys_app.command("list")
def journeys_list() -> None:
    """The active version of every deployed journey, and whether it is paused or stopped."""
    with open_store(Settings.from_env()) as store:
        journeys = store.active_journeys()
        controls = store.journeys.controls()
    table = Table("journey", "version", "trigger", "steps", "status")
    for journey in journeys:
        control = controls.get(journey.id)
        status = since(control) if control is not None else ""
        table.add_row(
            journey.id,
            journey.version,
            journey.trigger.kind,
            str(len(journey.steps)),
            escape(status or "active"),
        )
    out.print(table)


# The actor the audit log names for these commands (the console names its user's email).
ACTOR = "cli"
JourneyName = Annotated[str, typer.Argument(help="The journey id (`cxflow journeys list`).")]


@journeys_app.command("pause")
def journeys_pause(journey: JourneyName) -> None:
    """Refuse new entries; runs in flight go on but hold before their next send."""
    _control(journey, "pause")


@journeys_app.command("resume")
def journeys_resume(journey: JourneyName) -> None:
    """Let entries in again; held runs send and go on."""
    _control(journey, "resume")


@journeys_app.command("stop")
def journeys_stop(journey: JourneyName) -> None:
    """End the runs in flight (reason `stopped`) and refuse new entries until resumed."""
    _control(journey, "stop")


def _control(journey: str, action: Action) -> None:
    result = asyncio.run(_apply_control(Settings.from_env(), journey, action))
    said = {
        "pause": "paused: new entries are refused; runs in flight hold before their next send",
        "resume": "active: entries are let in; held runs send and go on",
        "stop": "stopped: runs in flight end (reason `stopped`); new entries are refused "
        "until `cxflow journeys resume`",
    }
    unchanged = "" if result.changed else f" (it was {result.previous} already)"
    out.print(f"{escape(journey)} {said[action]}{unchanged}")
    out.print(
        f"  {result.runs_in_flight} runs in flight, {result.runs_signalled} signalled"
        if action != "pause"
        else f"  {result.runs_in_flight} runs in flight"
    )


async def _apply_control(settings: Settings, journey: str, action: Action) -> ControlResult:
    async with engine_runtime(settings) as runtime:
        controls = JourneyControls(runtime.store, runtime.client)
        if action == "pause":
            return await controls.pause(journey, ACTOR)
        if action == "resume":
            return await controls.resume(journey, ACTOR)
        return await controls.stop(journey, ACTOR)
