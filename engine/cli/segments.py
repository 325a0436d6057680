"""`cxflow segments ...`: validate, deploy, list, show and refresh segments."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from dsl.diagnostics import Severity
from dsl.segment_loader import (
    SegmentLoadResult,
    is_segment_path,
    load_segment_file,
    segment_files,
    segment_json_schema_text,
)
from dsl.segment_models import (
    CONDITION_KINDS,
    CompiledSegment,
    aggregate_of,
    dump_segment,
    walk,
)
from engine.cli.runtime import RuntimeProblemError, _client, err, open_store, out
from engine.settings import Settings
from engine.store import Store

segments_app = typer.Typer(
    help="Segments: who is in them, recomputed as customers change.", no_args_is_help=True
)

PathsArgument = Annotated[
    list[Path], typer.Argument(help="Segment files, or segments/ folders of them.")
]


def print_segment_diagnostics(result: SegmentLoadResult) -> None:
    from engine.cli.main import _excerpt

    for diagnostic in result.diagnostics:
        colour = "red" if diagnostic.severity is Severity.ERROR else "yellow"
        err.print(f"[{colour}]{escape(diagnostic.render())}[/]")
        excerpt = _excerpt(diagnostic)
        if excerpt:
            err.print(excerpt)


def load_segments(paths: list[Path]) -> list[SegmentLoadResult]:
    """Every segment file named (folders expanded), loaded; duplicates of an id are errors."""
    files = segment_files(paths)
    if not files:
        raise RuntimeProblemError(
            f"{', '.join(str(p) for p in paths)} holds no .yaml segment files"
        )
    return [load_segment_file(path) for path in files]


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
        for result in results:
            print_segment_diagnostics(result)
            if result.compiled:
                compiled = result.compiled
                out.print(
                    f"[green]ok[/] {escape(result.file)}: segment {compiled.id} "
                    f"{compiled.version} (depends on {describe_dependencies(compiled)})"
                )
        failed = [r for r in results if not r.ok]
        summary = f"{len(results)} segment file(s): {len(results) - len(failed)} valid"
        if failed:
            summary += f", {len(failed)} with errors ({sum(len(r.errors) for r in failed)} errors)"
        (err if failed else out).print(summary)
    if any(not r.ok for r in results):
        raise typer.Exit(1)


def checked_segments(paths: list[Path]) -> list[tuple[CompiledSegment, str]]:
    """The compiled segments of ``paths``, or exit 1 after printing every problem."""
    results = load_segments(paths)
    for result in results:
        print_segment_diagnostics(result)
    failed = [r for r in results if r.compiled is None]
    if failed:
        err.print(f"[red]{len(failed)} segment file(s) have errors: nothing was deployed[/]")
        raise typer.Exit(1)
    return [(r.compiled, r.file) for r in results if r.compiled is not None]


def deploy_checked(store: Store, segments: list[tuple[CompiledSegment, str]]) -> None:
    """Store the segments and print what changed."""
    for compiled, source in segments:
        changed = store.deploy_segment(compiled, source=source)
        out.print(
            f"{'deployed' if changed else 'unchanged'} segment {compiled.id} {compiled.version}"
        )


def sync_refresh(settings: Settings, store: Store) -> None:
    """Create, update or delete the refresh Schedule for the deployed segments."""
    schedule = asyncio.run(_sync_refresh(settings, store.active_segments()))
    if schedule:
        every = timedelta(seconds=settings.segment_refresh_seconds)
        out.print(f"scheduled {schedule} every {every}")


async def _sync_refresh(settings: Settings, segments: list[CompiledSegment]) -> str | None:
    from engine.segments.refresh import sync_segment_refresh

    try:
        client = await _client(settings)
    except RuntimeProblemError:
        raise RuntimeProblemError(
            f"the segments are deployed, but their refresh schedule is not: Temporal at "
            f"{settings.temporal_address} is not reachable. Run `cxflow segments deploy` "
            "again once it is"
        ) from None
    every = timedelta(seconds=settings.segment_refresh_seconds)
    return await sync_segment_refresh(client, segments, settings.task_queue, every)


@segments_app.command("deploy")
def deploy(paths: PathsArgument) -> None:
    """Validate segments and deploy them; nothing is deployed if any file has an error.

    Every process that routes events picks the new definitions up at its next event.
    Segments that depend on time get the refresh Schedule `segments:refresh`.
    """
    settings = Settings.from_env()
    segments = checked_segments(paths)
    store = open_store(settings)
    try:
        deploy_checked(store, segments)
        sync_refresh(settings, store)
    finally:
        store.dispose()


def split_segment_paths(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """(segment paths, other paths): `cxflow deploy journeys/ segments/` takes both."""
    return [p for p in paths if is_segment_path(p)], [p for p in paths if not is_segment_path(p)]


@segments_app.command("list")
def list_segments() -> None:
    """Every deployed segment: version, members now, what it depends on."""
    store = open_store(Settings.from_env())
    try:
        summaries = store.segment_summaries()
    finally:
        store.dispose()
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
    store = open_store(Settings.from_env())
    try:
        summary = next((s for s in store.segment_summaries() if s.segment.id == segment_id), None)
        if summary is None:
            known = ", ".join(s.segment.id for s in store.segment_summaries()) or "none"
            raise RuntimeProblemError(
                f"no segment {segment_id!r} is deployed (deployed: {known}): deploy it with "
                "`cxflow segments deploy segments/`"
            )
        segment = summary.segment
        ids = store.segment_members(segment_id)
        changes = store.segment_changes(segment=segment_id, limit=10)
        values = _customer_values(store, segment, customer) if customer else None
    finally:
        store.dispose()
    out.print(f"[bold]{escape(segment.id)}[/] {segment.version}: {escape(segment.name)}")
    if segment.description:
        out.print(escape(segment.description))
    out.print(f"deployed {summary.deployed_at:%Y-%m-%d %H:%M} from {summary.source or '?'}")
    out.print(f"depends on {describe_dependencies(segment)}")
    out.print("match:")
    out.print(escape(_yaml(dump_segment(segment)["match"])))
    shown = ", ".join(ids[:members]) + (
        f" ... ({len(ids) - members} more)" if len(ids) > members else ""
    )
    out.print(f"members: {len(ids)}" + (f" ({escape(shown)})" if ids else ""))
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
    from engine.segments.evaluation import evaluate

    record = store.get_customer(customer)
    traits: dict[str, Any] = record.traits if record else {}
    specs = segment.aggregates()
    values = store.event_aggregates(customer, specs)
    lines = []
    for node in walk(segment.match):
        spec = aggregate_of(node)
        if spec is not None:
            window = f" in the last {node.within}" if node.within else ""
            what = spec.event if spec.property is None else f"{spec.property} of {spec.event}"
            lines.append(f"{spec.function} {what}{window}: {values.get(spec)}")
    from datetime import UTC, datetime

    inside = evaluate(segment.match, traits, values, datetime.now(UTC))
    stored = record is not None and segment.id in record.segments
    lines.append(f"matches now: {'yes' if inside else 'no'}; member: {'yes' if stored else 'no'}")
    return lines


def _ordered(value: Any) -> Any:
    """The condition's kind first, then what it is of, then its test: as an author writes it."""
    if isinstance(value, list):
        return [_ordered(item) for item in value]
    if not isinstance(value, dict):
        return value
    first = [k for k in (*CONDITION_KINDS, "of", "within") if k in value]
    return {k: _ordered(value[k]) for k in [*first, *(k for k in value if k not in first)]}


def _yaml(value: Any) -> str:
    from io import StringIO

    from ruamel.yaml import YAML

    dumper = YAML(typ="rt", pure=True)
    dumper.default_flow_style = False
    stream = StringIO()
    dumper.dump(_ordered(value), stream)
    return "\n".join("  " + line for line in stream.getvalue().rstrip().splitlines())


@segments_app.command("refresh")
def refresh() -> None:
    """Recompute the time-dependent segments for every customer now (the Schedule's job)."""
    settings = Settings.from_env()
    store = open_store(settings)
    try:
        done = asyncio.run(_refresh(settings, store))
    finally:
        store.dispose()
    out.print(
        f"refreshed {done.customers} customer(s): {done.entered} entered, {done.left} left, "
        f"{len(done.started)} journey run(s) started"
    )


async def _refresh(settings: Settings, store: Store) -> Any:
    from engine.composition import Runtime
    from engine.segments.evaluation import refresh_segments

    client = await _client(settings)
    runtime = Runtime(settings, store, client)
    return await refresh_segments(runtime.router.segments, runtime.router.segments_entered)


@segments_app.command("schema")
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of segment files (for editors' YAML language server)."""
    text = segment_json_schema_text()
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    err.print(f"wrote {escape(str(output))}")
