"""`cxflow runs list|show`: journey runs, one per customer and journey."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, cast

import typer
from rich.table import Table

from dsl.durations import format_duration
from engine.cli.context import open_store
from engine.cli.output import out
from engine.errors import CommandError, TemporalRequestError
from engine.runtime.temporal import connect
from engine.settings import Settings
from workflows.models import SKIP_SIGNAL, RunStatus

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
        out.print(waiting_line(workflow_id, live, datetime.now(UTC)))


def waiting_line(workflow_id: str, status: RunStatus, now: datetime) -> str:
    """What a running run waits for, until when, and (in cxflow dev) how to end it now."""
    where = f"at step {status.step}"
    if status.waiting is None:
        return f"{where}: working (not waiting)"
    what = {
        "timer": "a timer (wait)",
        "quiet_hours": "the end of the journey's quiet hours (in the customer's time zone, "
        "or the journey's default_timezone when the customer has none)",
        "event": f"the event {status.waiting_for}, or its timeout",
        "resume": "the journey to be resumed (it is paused: `cxflow journeys resume`)",
    }[status.waiting]
    line = f"{where}: waiting for {what}"
    if status.waiting_until is not None:
        left = status.waiting_until - now
        line += f" until {status.waiting_until:%Y-%m-%d %H:%M} UTC (in {_left(left)})"
    if status.dev and status.waiting != "resume":
        line += f"\n  end the wait now: cxflow runs skip {workflow_id}"
    return line


def _left(left: timedelta) -> str:
    minutes = max(0, round(left.total_seconds() / 60))
    return format_duration(timedelta(minutes=minutes)) if minutes else "under a minute"


@runs_app.command("skip")
def runs_skip(
    workflow_id: Annotated[str, typer.Argument(help="journey:<journey>:<customer>")],
) -> None:
    """End the wait a run of `cxflow dev` is in (a timer, quiet hours, a wait_for's timeout)
    now, to watch a journey act without its real hours. Refused for any other run."""
    settings = Settings.from_env()
    status = asyncio.run(_skip(settings, workflow_id))
    out.print(waiting_line(workflow_id, status, datetime.now(UTC)))


async def _skip(settings: Settings, workflow_id: str) -> RunStatus:
    before = await _query_status(settings, workflow_id)
    if not before.dev:
        raise CommandError(
            f"{workflow_id} was not started by `cxflow dev`: runs elsewhere wait their real "
            "time (test a journey's waits with `cxflow test`, in seconds)",
            code="run_not_skippable",
        )
    if before.waiting is None or before.waiting == "resume":
        raise CommandError(
            f"{workflow_id} is not waiting for a timer, quiet hours or an event now "
            f"(at step {before.step}): nothing to skip",
            code="run_not_waiting",
        )
    client = await connect(settings)
    handle = client.get_workflow_handle(workflow_id)
    try:
        await handle.signal(SKIP_SIGNAL)
    except Exception as error:  # any RPC failure becomes one message
        raise TemporalRequestError(f"cannot signal {workflow_id}: {error}") from None
    # The run moves on in its own time: show where it is once it waits again (or ended).
    was = (before.step, before.waiting, before.waiting_until)
    after = before
    for _ in range(100):
        await asyncio.sleep(0.1)
        try:
            description = await handle.describe()
            after = cast(RunStatus, await handle.query("status", result_type=RunStatus))
        except Exception:  # any RPC failure: show the last answer
            break
        if description.status is not None and description.status.name != "RUNNING":
            return after.model_copy(update={"waiting": None})
        if after.waiting is not None and (after.step, after.waiting, after.waiting_until) != was:
            break
    return after


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
