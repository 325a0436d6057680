"""`cxflow segments ...`: validate, deploy, list, show and refresh segments."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from dsl.segment_loader import SegmentLoadResult, load_segment_file, segment_json_schema_text
from dsl.segment_models import (
    CompiledSegment,
    aggregate_of,
    match_yaml,
    walk,
)
from engine.analytics.segment_value import (
    describe_segment_value,
    print_segment_value,
    segment_value_report,
)
from engine.cli.context import engine_runtime, open_store
from engine.cli.inputs import segment_paths
from engine.cli.output import (
    OutputOption,
    out,
    print_checked,
    print_diagnostics,
    print_schedules,
    print_stored,
    write_output,
)
from engine.errors import CommandError
from engine.runtime import deployment
from engine.segments.evaluation import RefreshProgress, evaluate, refresh_segments
from engine.settings import Settings
from engine.store import Store

segments_app = typer.Typer(
    help="Segments: who is in them, recomputed as customers change.", no_args_is_help=True
)

PathsArgument = Annotated[
    list[Path], typer.Argument(help="Segment files, or segments/ folders of them.")
]


def load_segments(paths: list[Path]) -> list[SegmentLoadResult]:
    """Every segment file named (folders expanded), loaded; duplicates of an id are errors."""
    return [load_segment_file(path) for path in segment_paths(paths)]


def describe_dependencies(segment: CompiledSegment) -> str:
    parts = [f"events {', '.join(segment.depends_on.events)}"] if segment.depends_on.events else []
    if segment.depends_on.traits:
        parts.append("traits")
    if segment.depends_on.time:
        parts.append("time (refreshed on a schedule)")
    return "; ".join(parts) or "nothing (constant)"


@segments_app.command("validate")
def validate(
    paths: PathsArgument,
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
) -> None:
    """Check segment files and report every problem with its line and column."""
    results = load_segments(paths)
    if as_json:
        report = [
            {
                "file": r.file,
                "ok": r.ok,
                "segment": r.compiled.id if r.compiled else None,
                "version": r.compiled.version if r.compiled else None,
                "depends_on": r.compiled.depends_on.model_dump() if r.compiled else None,
                "diagnostics": [d.model_dump(mode="json") for d in r.diagnostics],
            }
            for r in results
        ]
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        print_checked(
            "segment",
            results,
            [
                f"segment {r.compiled.id} {r.compiled.version} "
                f"(depends on {describe_dependencies(r.compiled)})"
                if r.compiled
                else None
                for r in results
            ],
        )
    if any(not r.ok for r in results):
        raise typer.Exit(1)


@segments_app.command("deploy")
def deploy(paths: PathsArgument) -> None:
    """Validate segments and deploy them; nothing is deployed if any file has an error.

    Every process that routes events picks the new definitions up at its next event.
    Segments that depend on time get the refresh Schedule `segments:refresh`.
    """
    settings = Settings.from_env()
    checked = deployment.check([], segment_paths(paths))
    deployment.refuse_invalid(checked, print_diagnostics)
    with open_store(settings) as store:
        print_stored(deployment.deploy(store, checked, print_diagnostics))
        schedules = asyncio.run(
            deployment.sync_deployed(settings, store, journeys=False, segments=True)
        )
    print_schedules(schedules)


@segments_app.command("list")
def list_segments() -> None:
    """Every deployed segment: version, members now, what it depends on."""
    with open_store(Settings.from_env()) as store:
        summaries = store.segment_summaries()
    if not summaries:
        out.print("no segments deployed: `cxflow segments deploy segments/`")
        return
    table = Table("segment", "version", "members", "depends on", "deployed")
    for summary in summaries:
        segment = summary.segment
        table.add_row(
            segment.id,
            segment.version,
            str(summary.members),
            describe_dependencies(segment),
            summary.deployed_at.strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)


@segments_app.command("show")
def show(
    segment_id: Annotated[str, typer.Argument(help="The segment id.")],
    customer: Annotated[
        str | None, typer.Option(help="Also show this customer's aggregates and membership.")
    ] = None,
    members: Annotated[int, typer.Option(help="How many member ids to list.")] = 20,
) -> None:
    """A deployed segment: its definition, members and latest entries and exits."""
    with open_store(Settings.from_env()) as store:
        summaries = store.segment_summaries()
        summary = next((s for s in summaries if s.segment.id == segment_id), None)
        if summary is None:
            known = ", ".join(s.segment.id for s in summaries) or "none"
            raise CommandError(
                f"no segment {segment_id!r} is deployed (deployed: {known}): deploy it with "
                "`cxflow segments deploy segments/`",
                code="segment_not_deployed",
            )
        segment = summary.segment
        ids = store.segment_members(segment_id)
        changes = store.segment_changes(segment=segment_id, limit=10)
        values = _customer_values(store, segment, customer) if customer else None
        worth = segment_value_report(store, segment_id).segments[0]
    out.print(f"[bold]{escape(segment.id)}[/] {segment.version}: {escape(segment.name)}")
    if segment.description:
        out.print(escape(segment.description))
    out.print(f"deployed {summary.deployed_at:%Y-%m-%d %H:%M} from {summary.source or '?'}")
    out.print(f"depends on {describe_dependencies(segment)}")
    out.print("match:")
    out.print(escape(_yaml(segment)))
    shown = ", ".join(ids[:members]) + (
        f" ... ({len(ids) - members} more)" if len(ids) > members else ""
    )
    out.print(f"members: {len(ids)}" + (f" ({escape(shown)})" if ids else ""))
    out.print(f"value: {escape(describe_segment_value(worth))}")
    if changes:
        out.print("latest changes:")
        for change in changes:
            out.print(
                f"  {change.at:%Y-%m-%d %H:%M:%S} {change.change:7} {escape(change.customer_id)}"
            )
    if values is not None:
        out.print(f"customer {escape(str(customer))}:")
        for line in values:
            out.print(f"  {escape(line)}")


def _customer_values(store: Store, segment: CompiledSegment, customer: str) -> list[str]:
    record = store.get_customer(customer)
    traits: dict[str, Any] = record.traits if record else {}
    specs = segment.aggregates()
    values = store.event_aggregates(customer, specs)
    lines = []
    for node in walk(segment.match):
        spec = aggregate_of(node)
        if spec is not None and spec.function == "value":
            lines.append(f"value {spec.property}: {values.get(spec)}")
        elif spec is not None:
            window = f" in the last {node.within}" if node.within else ""
            what = spec.event if spec.property is None else f"{spec.property} of {spec.event}"
            lines.append(f"{spec.function} {what}{window}: {values.get(spec)}")
    inside = evaluate(segment.match, traits, values, datetime.now(UTC))
    stored = record is not None and segment.id in record.segments
    lines.append(f"matches now: {'yes' if inside else 'no'}; member: {'yes' if stored else 'no'}")
    return lines


def _yaml(segment: CompiledSegment) -> str:
    return "\n".join("  " + line for line in match_yaml(segment).splitlines())


@segments_app.command("value")
def value(
    segment_id: Annotated[
        str | None, typer.Argument(help="Only this segment (every deployed one without).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """What each segment's members ordered: members, buyers, orders, revenue and AOV (per
    currency) and the repeat rate, from their lifetime value figures."""
    with open_store(Settings.from_env()) as store:
        report = segment_value_report(store, segment_id)
    if segment_id is not None and not report.segments:
        raise CommandError(
            f"no segment {segment_id!r} is deployed: see `cxflow segments list`",
            code="segment_not_deployed",
        )
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        return
    if not report.segments:
        out.print("no segments deployed: `cxflow segments deploy segments/`")
        return
    print_segment_value(report, out)


@segments_app.command("refresh")
def refresh() -> None:
    """Recompute the time-dependent segments for every customer now (the Schedule's job)."""
    done = asyncio.run(_refresh(Settings.from_env()))
    out.print(
        f"refreshed {done.customers} customer(s): {done.entered} entered, {done.left} left, "
        f"{len(done.started)} journey run(s) started"
    )


async def _refresh(settings: Settings) -> RefreshProgress:
    async with engine_runtime(settings) as runtime:
        return await refresh_segments(runtime.router.segments, runtime.router.segments_entered)


@segments_app.command("schema")
def schema(output: OutputOption = None) -> None:
    """Print the JSON Schema of segment files (for editors' YAML language server)."""
    write_output(segment_json_schema_text(), output)
