"""What deploying means: check journey and segment files, store what is valid, and make
Temporal's Schedules match.

`cxflow deploy` and `cxflow segments deploy` deploy all or nothing: one file with an error
and nothing is stored (:class:`~engine.errors.DeployRefusedError`). `cxflow dev` deploys
what it can and returns what it left out, naming the channels and actions no installed
connector provides when that is all that is wrong. Segments are stored before journeys
(a journey may be triggered by a segment). Diagnostics go to the caller's ``report``;
nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal

from temporalio.client import Client

from connectors.registry import default_registry
from dsl.catalog import ConnectorCatalog
from dsl.changes import experiment_change_diagnostics
from dsl.codes import DiagnosticCode
from dsl.compiled import CompiledJourney, ScheduleTriggerSpec
from dsl.diagnostics import Diagnostic
from dsl.loader import LoadResult, load_file
from dsl.segment_loader import (
    SegmentLoadResult,
    find_segment_folder,
    load_segment_file,
    segment_files,
)
from dsl.segment_models import CompiledSegment
from engine.errors import DeployRefusedError, TemporalUnavailableError
from engine.runtime.schedules import sync_schedules
from engine.runtime.temporal import connect
from engine.segments.refresh import sync_segment_refresh
from engine.settings import Settings
from engine.store import Store

Report = Callable[[Sequence[Diagnostic]], None]
"""Where a deploy sends a file's diagnostics (the command line prints them with excerpts)."""

Kind = Literal["journey", "segment"]


@dataclass(frozen=True)
class Stored:
    """A journey or segment version that is now the active one."""

    kind: Kind
    id: str
    version: str
    changed: bool  # False: that version was active already


@dataclass(frozen=True)
class Refused:
    """A file a partial deploy left out; its diagnostics were reported, unless ``needs``."""

    kind: Kind
    file: str
    needs: tuple[str, ...] = ()  # channels and actions no installed connector provides


@dataclass
class Checked:
    """Journey and segment files, loaded and checked: what a deploy would store."""

    journeys: list[LoadResult]
    segments: list[SegmentLoadResult]

    @property
    def failed_journeys(self) -> list[LoadResult]:
        return [r for r in self.journeys if r.compiled is None]

    @property
    def failed_segments(self) -> list[SegmentLoadResult]:
        return [r for r in self.segments if r.compiled is None]


@dataclass
class Deployment:
    """What one deploy stored and what it left out."""

    stored: list[Stored] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    journeys: list[CompiledJourney] = field(default_factory=list)
    segments: list[CompiledSegment] = field(default_factory=list)


@dataclass(frozen=True)
class Schedules:
    """The Schedules a sync created or updated."""

    journeys: list[str]
    segment_refresh: str | None
    every: timedelta  # how often the segment refresh runs


def segment_files_beside(journey_files: Sequence[Path]) -> list[Path]:
    """The files of the ``segments/`` folder beside the journeys (`cxflow dev` deploys it)."""
    folder = find_segment_folder(journey_files[0]) if journey_files else None
    return segment_files([folder]) if folder is not None else []


def check(
    journey_files: Sequence[Path],
    segment_files: Sequence[Path] = (),
    catalog: ConnectorCatalog | None = None,
) -> Checked:
    """Load every file; a journey's channels and actions are checked against ``catalog``
    (the installed connectors when left out)."""
    catalog = catalog if catalog is not None else default_registry()
    return Checked(
        journeys=[load_file(path, catalog=catalog) for path in journey_files],
        segments=[load_segment_file(path) for path in segment_files],
    )


def refuse_invalid(checked: Checked, report: Report) -> None:
    """Report every file's diagnostics and raise if any file has errors.

    :raises DeployRefusedError: counting the files with errors.
    """
    journeys, segments = checked.failed_journeys, checked.failed_segments
    if not journeys and not segments:
        return
    _report_all(checked, report)
    counts = [f"{len(segments)} segment file(s)"] if segments else []
    counts += [f"{len(journeys)} journey file(s)"] if journeys else []
    raise DeployRefusedError(f"{' and '.join(counts)} have errors: nothing was deployed")


def _report_all(checked: Checked, report: Report) -> None:
    for segment in checked.segments:
        report(segment.diagnostics)
    for journey in checked.journeys:
        report(journey.diagnostics)


def add_experiment_warnings(results: Sequence[LoadResult], store: Store) -> None:
    """Warn where a journey changes the split of an experiment its active version runs."""
    for result in results:
        new = result.compiled
        deployed = store.get_journey(new.id) if new is not None else None
        if new is None or deployed is None or deployed.version == new.version:
            continue
        text = Path(result.file).read_text(encoding="utf-8")
        result.diagnostics.extend(experiment_change_diagnostics(deployed, new, text, result.file))


def missing_connectors(result: LoadResult) -> tuple[str, ...]:
    """The channels and actions no installed connector provides, when that is all that is
    wrong with the journey; () when it has other errors (or none)."""
    errors = result.errors
    if not errors or any(d.code != DiagnosticCode.CONNECTOR_MISSING for d in errors):
        return ()
    return tuple(sorted({d.context["name"] for d in errors}))


def deploy(store: Store, checked: Checked, report: Report, *, partial: bool = False) -> Deployment:
    """Store the checked segments, then journeys, as the active versions.

    All or nothing unless ``partial``: the files' diagnostics are reported (warnings
    included, with those of changed experiment splits), or :class:`DeployRefusedError`
    is raised and nothing is stored. ``partial`` stores the valid files and returns the
    others as refused, reporting their diagnostics unless only connectors are missing.
    """
    done = Deployment()
    if not partial:
        refuse_invalid(checked, report)
        add_experiment_warnings(checked.journeys, store)
        _report_all(checked, report)
    for segment in checked.segments:
        if segment.compiled is None:
            report(segment.diagnostics)
            done.refused.append(Refused("segment", segment.file))
            continue
        changed = store.deploy_segment(segment.compiled, source=segment.file)
        done.stored.append(
            Stored("segment", segment.compiled.id, segment.compiled.version, changed)
        )
        done.segments.append(segment.compiled)
    for journey in checked.journeys:
        if journey.compiled is None:
            needs = missing_connectors(journey)
            if not needs:
                report(journey.diagnostics)
            done.refused.append(Refused("journey", journey.file, needs))
            continue
        changed = store.deploy_journey(journey.compiled, source=journey.file)
        done.stored.append(
            Stored("journey", journey.compiled.id, journey.compiled.version, changed)
        )
        done.journeys.append(journey.compiled)
    return done


async def sync(
    client: Client,
    settings: Settings,
    *,
    journeys: Sequence[CompiledJourney] | None = None,
    segments: Sequence[CompiledSegment] | None = None,
) -> Schedules:
    """Make Temporal's Schedules match: one per schedule-triggered journey of ``journeys``
    (others deleted), and the segment refresh for ``segments``; None leaves them alone."""
    every = timedelta(seconds=settings.segment_refresh_seconds)
    synced = (
        await sync_schedules(client, list(journeys), settings.task_queue)
        if journeys is not None
        else []
    )
    refresh = (
        await sync_segment_refresh(client, list(segments), settings.task_queue, every)
        if segments is not None
        else None
    )
    return Schedules(synced, refresh, every)


async def sync_deployed(
    settings: Settings, store: Store, *, journeys: bool = True, segments: bool
) -> Schedules:
    """After a deploy: with ``journeys``, the journey Schedules for the store's active
    journeys (when one of them is schedule-triggered); with ``segments``, the refresh
    Schedule for its segments. Connects only when there is a Schedule to keep.

    :raises TemporalUnavailableError: saying what is deployed and what is not.
    """
    active = store.active_journeys() if journeys else []
    scheduled = any(isinstance(j.trigger, ScheduleTriggerSpec) for j in active)
    if not scheduled and not segments:
        return Schedules([], None, timedelta(seconds=settings.segment_refresh_seconds))
    try:
        client = await connect(settings)
    except TemporalUnavailableError as error:
        if scheduled:
            message = (
                f"the journeys are deployed, but their schedules are not: Temporal at "
                f"{settings.temporal_address} is not reachable ({error}). Run `cxflow deploy` "
                "again once it is"
            )
        else:
            message = (
                f"the segments are deployed, but their refresh schedule is not: Temporal at "
                f"{settings.temporal_address} is not reachable. Run `cxflow segments deploy` "
                "again once it is"
            )
        raise TemporalUnavailableError(message) from None
    return await sync(
        client,
        settings,
        journeys=active if scheduled else None,
        segments=store.active_segments() if segments else None,
    )
