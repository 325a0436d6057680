"""`cxflow deploy`, `journeys`, `runs` and `send-event`: operating journeys on a running engine."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from connectors.registry import default_registry
from dsl.compiled import CompiledJourney, ScheduleTriggerSpec
from dsl.loader import LoadResult, load_file
from engine.errors import TemporalUnavailableError
from engine.settings import Settings
from engine.store import KeyScope, Store
from workflows.models import CustomerEvent, RunStatus

# Piped output (CI logs, scripts) gets wide tables instead of rich's 80 columns.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(
    stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else 200
)

journeys_app = typer.Typer(help="Deployed journeys.", no_args_is_help=True)
connectors_app = typer.Typer(help="Installed connector plugins.", no_args_is_help=True)
runs_app = typer.Typer(help="Journey runs (one per customer and journey).", no_args_is_help=True)
keys_app = typer.Typer(
    help="Write keys of the event API, one or more per source.", no_args_is_help=True
)
customers_app = typer.Typer(help="Customers: their data and privacy.", no_args_is_help=True)


class RuntimeProblemError(Exception):
    """The engine is not reachable or refused a request; the message says what to do."""


def open_store(settings: Settings) -> Store:
    return Store.open(settings.database_url)


def add_experiment_warnings(results: list[LoadResult], store: Store) -> None:
    """Warn where a journey changes the split of an experiment its active version runs."""
    from dsl.changes import experiment_change_diagnostics

    for result in results:
        new = result.compiled
        deployed = store.get_journey(new.id) if new is not None else None
        if new is None or deployed is None or deployed.version == new.version:
            continue
        text = Path(result.file).read_text(encoding="utf-8")
        result.diagnostics.extend(experiment_change_diagnostics(deployed, new, text, result.file))


def deploy(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Journey files or folders to deploy, and segments/ folders or files."),
    ],
) -> None:
    """Validate journeys (and segments) and make them the active versions; nothing invalid is
    deployed."""
    from engine.cli.main import journey_files, print_diagnostics
    from engine.cli.segments import (
        checked_segments,
        deploy_checked,
        split_segment_paths,
        sync_refresh,
    )

    settings = Settings.from_env()
    segment_paths, paths = split_segment_paths(paths)
    segments = checked_segments(segment_paths) if segment_paths else []
    catalog = default_registry()
    results = [load_file(path, catalog=catalog) for path in journey_files(paths)]
    failed = [r for r in results if r.compiled is None]
    if failed:
        for result in results:
            print_diagnostics(result)
        err.print(f"[red]{len(failed)} journey file(s) have errors: nothing was deployed[/]")
        raise typer.Exit(1)
    store = open_store(settings)
    try:
        add_experiment_warnings(results, store)
        for result in results:
            print_diagnostics(result)
        deploy_checked(store, segments)
        for result in results:
            compiled = result.compiled
            assert compiled is not None
            changed = store.deploy_journey(compiled, source=result.file)
            state = "deployed" if changed else "unchanged"
            out.print(f"{state} {compiled.id} {compiled.version}")
        active = store.active_journeys()
        if any(isinstance(j.trigger, ScheduleTriggerSpec) for j in active):
            synced = asyncio.run(_sync(settings, active))
            for schedule_id in synced:
                out.print(f"scheduled {schedule_id}")
        if segments:
            sync_refresh(settings, store)
    finally:
        store.dispose()


async def _sync(settings: Settings, journeys: list[CompiledJourney]) -> list[str]:
    from engine.runtime.schedules import sync_schedules
    from engine.runtime.temporal import connect

    try:
        client = await connect(settings)
    except TemporalUnavailableError as error:
        raise RuntimeProblemError(
            f"the journeys are deployed, but their schedules are not: Temporal at "
            f"{settings.temporal_address} is not reachable ({error}). Run `cxflow deploy` "
            "again once it is"
        ) from None
    return await sync_schedules(client, journeys, settings.task_queue)


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
    """Start an API-triggered journey for one customer."""
    values = _json_object(properties)
    settings = Settings.from_env()
    started = asyncio.run(
        _start_api(settings, journey, customer, values, message_id or str(uuid.uuid4()))
    )
    if started:
        out.print(f"started {started}")
    else:
        out.print(f"{journey}: {customer} did not enter (running already, or entry rules)")


async def _start_api(
    settings: Settings, journey: str, customer: str, values: dict[str, Any], message_id: str
) -> str | None:
    from engine.composition import Runtime
    from engine.errors import RoutingError

    async with Runtime.open(settings) as runtime:
        try:
            return await runtime.router.start_by_api(journey, customer, values, message_id)
        except RoutingError as error:
            raise RuntimeProblemError(str(error)) from None


async def _client(settings: Settings) -> Any:
    from engine.runtime.temporal import connect

    return await connect(settings)


def _json_object(text: str) -> dict[str, Any]:
    try:
        values: Any = json.loads(text)
    except json.JSONDecodeError as error:
        raise RuntimeProblemError(
            f"--properties is not JSON ({error.msg} at column {error.colno}): write an "
            """object such as '{"item_count": 2}'"""
        ) from None
    if not isinstance(values, dict):
        raise RuntimeProblemError("--properties must be a JSON object, e.g. '{\"total\": 30}'")
    return values


@journeys_app.command("list")
def journeys_list() -> None:
    """The active version of every deployed journey."""
    store = open_store(Settings.from_env())
    try:
        table = Table("journey", "version", "trigger", "steps")
        for journey in store.active_journeys():
            table.add_row(
                journey.id, journey.version, journey.trigger.kind, str(len(journey.steps))
            )
        out.print(table)
    finally:
        store.dispose()


@runs_app.command("list")
def runs_list(
    journey: Annotated[str | None, typer.Option(help="Only runs of this journey.")] = None,
    customer: Annotated[str | None, typer.Option(help="Only runs of this customer.")] = None,
    status: Annotated[str | None, typer.Option(help="running, completed, exited, failed.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
) -> None:
    """Runs recorded in the store, newest first."""
    store = open_store(Settings.from_env())
    try:
        table = Table("workflow id", "status", "step", "variant", "started", "reason")
        for run in store.get_runs(
            journey_id=journey, customer_id=customer, status=status, limit=limit
        ):
            table.add_row(
                run.workflow_id,
                run.status,
                run.current_step or "",
                run.variant or "",
                run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                run.exit_reason or "",
            )
        out.print(table)
    finally:
        store.dispose()


@runs_app.command("show")
def runs_show(
    workflow_id: Annotated[str, typer.Argument(help="journey:<journey>:<customer>")],
) -> None:
    """One run: its record, its messages, and what Temporal says it is doing now."""
    settings = Settings.from_env()
    store = open_store(settings)
    try:
        runs = [r for r in store.get_runs(limit=1000) if r.workflow_id == workflow_id]
        if not runs:
            raise RuntimeProblemError(
                f"no run {workflow_id!r} in the store: list runs with `cxflow runs list`"
            )
        run = runs[0]
        out.print_json(run.model_dump_json())
        for message in store.messages_for(workflow_id=workflow_id):
            out.print(f"  {message.step_id}: {message.channel} {message.status} {message.key}")
        if run.status == "running":
            live = asyncio.run(_query_status(settings, workflow_id))
            out.print_json(live.model_dump_json())
    finally:
        store.dispose()


async def _query_status(settings: Settings, workflow_id: str) -> RunStatus:
    from engine.runtime.temporal import connect

    try:
        client = await connect(settings)
        handle = client.get_workflow_handle(workflow_id)
        status: RunStatus = await handle.query("status", result_type=RunStatus)
    except Exception as error:  # any RPC or connection failure becomes one message
        raise RuntimeProblemError(
            f"cannot ask Temporal at {settings.temporal_address} about {workflow_id}: {error}"
        ) from None
    return status


def send_event(
    customer: Annotated[str, typer.Option(help="The customer id (userId).")],
    event: Annotated[str, typer.Option(help="The event name, e.g. cart.updated.")],
    properties: Annotated[str, typer.Option(help="Event properties as a JSON object.")] = "{}",
    message_id: Annotated[
        str | None, typer.Option(help="Idempotency id; a new one when left out.")
    ] = None,
) -> None:
    """Send a customer event to the engine, as an emitting system would."""
    values = _json_object(properties)
    payload = CustomerEvent(
        message_id=message_id or str(uuid.uuid4()),
        customer_id=customer,
        name=event,
        properties=values,
        timestamp=datetime.now(UTC),
    )
    result = asyncio.run(_route(Settings.from_env(), payload))
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


async def _route(settings: Settings, event: CustomerEvent) -> Any:
    from engine.composition import Runtime

    async with Runtime.open(settings) as runtime:
        return await runtime.intake.send(event)


@connectors_app.command("list")
def connectors_list() -> None:
    """Installed connectors: their channels, actions and missing settings."""
    table = Table("connector", "channels", "actions", "configured")
    for info in default_registry().infos():
        missing = ", ".join(info.missing_settings)
        table.add_row(
            info.name,
            ", ".join(info.channels),
            ", ".join(info.actions),
            "yes" if info.configured else f"no: set {missing}",
        )
    out.print(table)


def report(
    journey: Annotated[str, typer.Argument(help="The journey id.")],
    html_file: Annotated[
        Path | None, typer.Option("--html", help="Also write a self-contained HTML page.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the numbers as JSON.")] = False,
) -> None:
    """Runs, conversions and experiment results of a deployed journey."""
    from engine.analytics.report import build_report, print_report, render_html

    store = open_store(Settings.from_env())
    try:
        compiled = store.get_journey(journey)
        if compiled is None:
            raise RuntimeProblemError(
                f"journey {journey!r} is not deployed: see `cxflow journeys list`"
            )
        result = build_report(store, compiled)
    finally:
        store.dispose()
    if as_json:
        out.print_json(result.model_dump_json())
    else:
        print_report(result, out)
    if html_file is not None:
        html_file.write_text(render_html(result), encoding="utf-8")
        err.print(f"wrote {escape(str(html_file))}")


def api(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Serve the event API (Segment-style /v1/track, /v1/identify, /v1/batch)."""
    asyncio.run(_serve_api(Settings.from_env(), host, port))


async def _serve_api(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from engine.composition import Runtime

    async with Runtime.open(settings) as runtime:
        config = uvicorn.Config(
            runtime.api(), host=host, port=port, log_level="info", access_log=False
        )
        server = uvicorn.Server(config)
        await server.serve()
    if not server.started:
        raise RuntimeProblemError(
            f"the event API could not listen on {host}:{port} (see the error above): "
            "choose another --port"
        )


@keys_app.command("create")
def keys_create(
    source: Annotated[str, typer.Option(help="The emitting system, e.g. web-shop.")],
    scope: Annotated[
        KeyScope,
        typer.Option(help="write: send events; read: read reports (/v1/journeys/ID/report)."),
    ] = "write",
) -> None:
    """Create an API key for a source; it is printed once and stored only hashed."""
    store = open_store(Settings.from_env())
    try:
        key = store.create_write_key(source, scope)
    finally:
        store.dispose()
    err.print(f"{scope} key for {escape(source)} (shown once: keep it in your secret store):")
    sys.stdout.write(key + "\n")


@keys_app.command("list")
def keys_list() -> None:
    """The API keys' sources, scopes, prefixes and creation times (never the keys)."""
    store = open_store(Settings.from_env())
    try:
        table = Table("source", "scope", "key starts with", "created")
        for record in store.write_keys():
            table.add_row(
                record.source,
                record.scope,
                record.key_prefix + "...",
                record.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            )
        out.print(table)
    finally:
        store.dispose()


@customers_app.command("erase")
def customers_erase(
    customer: Annotated[str, typer.Argument(help="The customer id (userId) to erase.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a customer's personal data everywhere, running journeys included.

    Running journeys are terminated and their Temporal histories deleted; the
    profile, events and segment memberships are deleted; journey and experiment
    figures keep the runs under a random pseudonym. It cannot be undone.
    """
    if not yes and not typer.confirm(
        f"Erase every trace of customer {customer!r}? This cannot be undone", err=True
    ):
        raise typer.Exit(1)
    report = asyncio.run(_erase(Settings.from_env(), customer))
    for workflow_id in report.terminated:
        out.print(f"terminated {escape(workflow_id)}")
    out.print(
        f"deleting {report.histories_deleted} workflow histories "
        "(Temporal finishes in the background, usually within a minute)"
    )
    for table, count in report.store.deleted.items():
        out.print(f"deleted {count} {table} row(s)")
    for table, count in report.store.pseudonymised.items():
        out.print(f"kept {count} {table} row(s) as {report.store.pseudonym}")
    out.print(f"erased {escape(customer)}")


async def _erase(settings: Settings, customer: str) -> Any:
    from engine.errors import ErasureError
    from engine.privacy.erasure import erase_customer

    store = open_store(settings)
    try:
        client = await _client(settings)
        try:
            return await erase_customer(client, store, customer)
        except ErasureError as error:
            raise RuntimeProblemError(str(error)) from None
    finally:
        store.dispose()
