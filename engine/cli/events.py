"""`cxflow events failed|retry`: the events whose routing failed every attempt.

An event that cannot be routed (not because Temporal is down: then nothing is counted)
is retried with a doubling delay, then parked with its reason (engine.ingest.intake).
Parked events wait here for an operator: fix the cause (a journey, a segment, the
data), then put them back in line; the API's reroute picks them up within seconds.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from engine.cli.context import open_store
from engine.cli.output import out
from engine.errors import UsageError
from engine.settings import Settings

events_app = typer.Typer(
    help="Stored events: those whose routing failed, and putting them back in line.",
    no_args_is_help=True,
)


@events_app.command("failed")
def events_failed(
    limit: Annotated[int, typer.Option(help="At most this many, oldest failure first.")] = 100,
) -> None:
    """Events parked after every routing attempt failed, with the reason of the last one."""
    with open_store(Settings.from_env()) as store:
        counts = store.routing_counts()
        parked = store.failed_events(limit)
    table = Table("message id", "event", "attempts", "failed at", "reason")
    for event in parked:
        table.add_row(
            escape(event.message_id),
            escape(event.name),
            str(event.attempts),
            event.failed_at.strftime("%Y-%m-%d %H:%M:%S"),
            escape(event.error),
        )
    out.print(table)
    out.print(
        f"{counts.failed} parked, {counts.retrying} waiting to be retried, "
        f"{counts.pending} not routed yet in all"
    )


@events_app.command("retry")
def events_retry(
    message_ids: Annotated[
        list[str] | None, typer.Argument(help="Message ids of parked events.")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Every parked event.")] = False,
) -> None:
    """Put parked events back in line: they are routed again, with all their attempts."""
    if every == bool(message_ids):
        raise UsageError(
            "name the parked events to retry (their message ids, from `cxflow events "
            "failed`), or pass --all"
        )
    with open_store(Settings.from_env()) as store:
        retried = store.retry_failed_events(None if every else message_ids)
    out.print(f"{retried} event(s) back in line; the API routes them within seconds")
    if message_ids and retried < len(message_ids):
        out.print(
            f"{len(message_ids) - retried} of the ids named are not parked events "
            "(routed already, or unknown)"
        )
