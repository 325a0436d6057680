"""`cxflow runs list|show`: journey runs, one per customer and journey."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table

from engine.cli.context import open_store
from engine.cli.output import out
from engine.errors import CommandError, TemporalRequestError
from engine.runtime.temporal import connect
from engine.settings import Settings
from workflows.models import RunStatus

runs_app = typer.Typer(help="Journey runs (one per customer and journey).", no_args_is_help=True)


@runs_app.command("list")
def runs_list(
    journey: Annotated[str | None, typer.Option(help="Only runs of this journey.")] = None,
    customer: Annotated[str | None, typer.Option(help="Only runs of this customer.")] = None,
    status: Annotated[str | None, typer.Option(help="running, completed, exited, failed.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
) -> None:
    """Runs recorded in the store, newest first."""
    with open_store(Settings.from_env()) as store:
        runs = store.get_runs(journey_id=journey, customer_id=customer, status=status, limit=limit)
    table = Table("workflow id", "status", "step", "variant", "started", "reason")
    for run in runs:
        table.add_row(
            run.workflow_id,
            run.status,
            run.current_step or "",
            run.variant or "",
            run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            run.exit_reason or "",
        )
    out.print(table)


@runs_app.command("show")
def runs_show(
    workflow_id: Annotated[str, typer.Argument(help="journey:<journey>:<customer>")],
) -> None:
    """One run: its record, its messages, and what Temporal says it is doing now."""
    settings = Settings.from_env()
    with open_store(settings) as store:
        runs = [r for r in store.get_runs(limit=1000) if r.workflow_id == workflow_id]
        if not runs:
            raise CommandError(
                f"no run {workflow_id!r} in the store: list runs with `cxflow runs list`",
                code="run_not_found",
            )
        messages = store.messages_for(workflow_id=workflow_id)
    run = runs[0]
    out.print_json(run.model_dump_json())
    for message in messages:
        out.print(f"  {message.step_id}: {message.channel} {message.status} {message.key}")
    if run.status == "running":
        live = asyncio.run(_query_status(settings, workflow_id))
        out.print_json(live.model_dump_json())


async def _query_status(settings: Settings, workflow_id: str) -> RunStatus:
    client = await connect(settings)
    try:
        handle = client.get_workflow_handle(workflow_id)
        status: RunStatus = await handle.query("status", result_type=RunStatus)
    except Exception as error:  # any RPC failure becomes one message
        raise TemporalRequestError(
            f"cannot ask Temporal at {settings.temporal_address} about {workflow_id}: {error}"
        ) from None
    return status
