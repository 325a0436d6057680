"""`cxflow simulate`: a journey (or a new version of it) run on the stored events of a period.

Every customer with events in the period becomes a case: their profile as stored
now (traits, time zone, consents, segments), their events at the times they
happened, as a timeline that starts on the same weekday and time of day, so quiet
hours and weekday waits fall as they did. The cases run as `cxflow test`'s do, in
throwaway stores with connectors that send nothing (actions answer with
placeholders of their output's shape), so nothing is sent, stored as a run, or
counted in reports. The deployed version and the new one run side by side on the
same events, and :func:`summarise` counts what each did.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dsl.case_loader import CaseFileResult
from dsl.case_models import (
    Case,
    CaseCustomer,
    Expectations,
    JourneyTestFile,
    TimelineEvent,
    TimelineItem,
    TimelineTraits,
)
from dsl.compiled import CompiledJourney
from dsl.durations import format_duration
from dsl.segment_models import IDENTIFY_EVENT
from engine.rehearsal.runner import CaseRun
from engine.store import EventRecord, Store

# Calls that become timeline items: events, and identifies (trait changes).
REPLAYED = ("track", "page", "screen", "identify")
CANDIDATE_SUFFIX = "--candidate"


@dataclass(frozen=True)
class Period:
    since: datetime
    until: datetime


def cases_from_store(
    store: Store, journey: CompiledJourney, period: Period, limit: int
) -> tuple[CaseFileResult, int]:
    """The period's customers as cases of ``journey``, and how many events they replay."""
    events = [
        e
        for e in store.events.between(period.since, period.until, limit)
        if e.call_type in REPLAYED
    ]
    by_customer: dict[str, list[EventRecord]] = {}
    for event in events:
        by_customer.setdefault(event.customer_id, []).append(event)
    cases = [
        _case(store, customer, history, period.since)
        for customer, history in sorted(by_customer.items())
    ]
    tests = JourneyTestFile.model_construct(journey=journey.id, answers={}, cases=cases)
    found = CaseFileResult(
        file=f"{journey.id} v{journey.version}",
        tests=tests,
        journey=journey,
        segments=store.active_segments(),
    )
    return found, len(events)


def candidate(journey: CompiledJourney) -> CompiledJourney:
    """The new version under an id of its own: its runs must not meet the deployed one's
    on the test server (one workflow id per journey and customer)."""
    return journey.model_copy(update={"id": journey.id + CANDIDATE_SUFFIX})


def _case(store: Store, customer_id: str, events: list[EventRecord], since: datetime) -> Case:
    found = store.customer_view(customer_id)
    record = found[0] if found is not None else None
    consents = {c.channel: c.subscribed for c in store.consents(customer_id)}
    timeline: list[TimelineItem] = [_item(event, event.timestamp - since) for event in events]
    customer = CaseCustomer.model_construct(
        id=customer_id,
        traits=dict(record.traits) if record else {},
        timezone=record.timezone if record else None,
        consent=consents,
        segments=list(record.segments) if record else [],
        history=[],
    )
    return Case.model_construct(
        name=customer_id,
        start="00:00",
        customer=customer,
        variants={},
        answers={},
        timeline=timeline,
        expect=Expectations(),
        until=None,
    )


def _item(event: EventRecord, after: timedelta) -> TimelineEvent | TimelineTraits:
    at = "0" if after < timedelta(seconds=1) else format_duration(after)
    if event.call_type == "identify" or event.name == IDENTIFY_EVENT:
        return TimelineTraits.model_construct(at=at, identify=dict(event.properties))
    return TimelineEvent.model_construct(at=at, event=event.name, properties=dict(event.properties))


# --- what each version did ------------------------------------------------------------------


@dataclass
class Figures:
    """What one version's runs did on the period's customers."""

    label: str
    customers: int = 0
    entered: int = 0
    endings: Counter[str] = field(default_factory=Counter)
    steps: Counter[str] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)
    converted: int = 0
    value: float = 0.0
    variants: Counter[str] = field(default_factory=Counter)
    variant_messages: Counter[str] = field(default_factory=Counter)
    variant_conversions: Counter[str] = field(default_factory=Counter)


def summarise(label: str, runs: Sequence[CaseRun]) -> Figures:
    figures = Figures(label=label, customers=len(runs))
    for run in runs:
        if not run.entered:
            continue
        figures.entered += 1
        if run.problem is not None:
            ending = "did not finish (failed or looped)"
        elif run.still_running is not None or run.outcome is None:
            ending = "still running"
        else:
            ending = run.outcome.status
        figures.endings[ending] += 1
        figures.steps.update({s.step for s in run.journal.steps})
        variant = run.journal.variant
        for message in run.journal.messages:
            key = f"{message.channel} {message.template or message.step} ({message.status})"
            figures.messages[key] += 1
            if variant and message.status == "sent":
                figures.variant_messages[variant] += 1
        figures.calls.update(c.action for c in run.journal.calls)
        if variant:
            figures.variants[variant] += 1
        if run.conversion is not None:
            figures.converted += 1
            figures.value += run.conversion.value or 0.0
            if variant:
                figures.variant_conversions[variant] += 1
    return figures


def rows(versions: Sequence[Figures], journey: CompiledJourney) -> list[list[str]]:
    """A table's rows: one per figure, one column per version (side by side)."""
    table: list[list[str]] = [
        ["customers with events", *(str(f.customers) for f in versions)],
        ["entered", *(str(f.entered) for f in versions)],
    ]
    for ending in sorted({e for f in versions for e in f.endings}):
        table.append([f"  ended {ending}", *(str(f.endings[ending]) for f in versions)])
    steps = list(journey.steps) + sorted(
        {s for f in versions for s in f.steps} - set(journey.steps)
    )
    for step in steps:
        table.append([f"reached {step}", *(str(f.steps[step]) for f in versions)])
    for key in sorted({m for f in versions for m in f.messages}):
        table.append([f"message {key}", *(str(f.messages[key]) for f in versions)])
    for key in sorted({c for f in versions for c in f.calls}):
        table.append([f"call {key}", *(str(f.calls[key]) for f in versions)])
    table.append(["converted", *(str(f.converted) for f in versions)])
    if any(f.value for f in versions):
        table.append(["goal value", *(f"{f.value:g}" for f in versions)])
    for variant in sorted({v for f in versions for v in f.variants}):
        table.append(
            [
                f"variant {variant}: entered / sent / converted",
                *(
                    f"{f.variants[variant]} / {f.variant_messages[variant]} / "
                    f"{f.variant_conversions[variant]}"
                    for f in versions
                ),
            ]
        )
    return table
