"""Turning a checked journey into the explicit form the runtime runs."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from dsl.compiled import (
    SCHEMA_VERSION,
    ApiTriggerSpec,
    BranchCaseSpec,
    BranchNode,
    CallNode,
    CompiledJourney,
    DataDuration,
    DataTime,
    EntrySpec,
    EventMatch,
    EventTriggerSpec,
    ExitNode,
    FrequencyCapSpec,
    GoalSpec,
    LocalTime,
    MessageContent,
    QuietHoursSpec,
    ScheduleTriggerSpec,
    SegmentTriggerSpec,
    SendNode,
    SettingsSpec,
    SplitNode,
    TrackingSpec,
    UpdateProfileNode,
    VariantSpec,
    WaitForNode,
    WaitNode,
)
from dsl.durations import parse_duration, parse_time_of_day
from dsl.graph import transitions
from dsl.models import (
    WEEKDAYS,
    AnyStep,
    ApiTrigger,
    BranchCase,
    BranchElse,
    BranchStep,
    CallStep,
    EventTrigger,
    ExitStep,
    Goal,
    Journey,
    ReentryAfter,
    ScheduleTrigger,
    SegmentTrigger,
    SendStep,
    SplitStep,
    Tracking,
    UpdateProfileStep,
    WaitForData,
    WaitForStep,
    WaitStep,
    WaitUntilDate,
)
from dsl.templates import Template

UNIT_SECONDS = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 7 * 86400}


def seconds(duration: str) -> int:
    return int(parse_duration(duration).total_seconds())


def minute_of_day(text: str) -> int:
    hours, minutes = parse_time_of_day(text)
    return hours * 60 + minutes


def compile_journey(journey: Journey, templates: dict[str, Template]) -> CompiledJourney:
    """Compile a journey that passed every check; ``templates`` are those its sends name."""
    steps: dict[str, Any] = {}
    for index, step in enumerate(journey.steps):
        following = journey.steps[index + 1].id if index + 1 < len(journey.steps) else None
        steps[step.id] = _compile_step(step, following, templates, journey.tracking)
    listens = [c.event for c in journey.exit_when]
    if journey.goal:
        listens.append(journey.goal.event)
    listens += [s.wait_for.event for s in journey.steps if isinstance(s, WaitForStep)]
    body: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "id": journey.journey,
        "name": journey.name,
        "description": journey.description,
        "version": "",
        "trigger": _trigger(journey).model_dump(),
        "entry": _entry(journey).model_dump(),
        "exit_when": [
            EventMatch(event=c.event, when=c.when).model_dump() for c in journey.exit_when
        ],
        "goal": (_goal(journey.goal) if journey.goal else None),
        "settings": _settings(journey).model_dump(),
        "start": journey.steps[0].id,
        "steps": {k: v.model_dump() for k, v in steps.items()},
        "listens_to": sorted(set(listens)),
    }
    body["version"] = content_version(body)
    return CompiledJourney.model_validate(body)


def content_version(body: dict[str, Any]) -> str:
    """A short hash of everything that affects behaviour: it changes when the content does."""
    canonical = json.dumps({k: v for k, v in body.items() if k != "version"}, sort_keys=True)
    return "v" + hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _trigger(
    journey: Journey,
) -> EventTriggerSpec | SegmentTriggerSpec | ScheduleTriggerSpec | ApiTriggerSpec:
    trigger = journey.trigger
    if isinstance(trigger, EventTrigger):
        return EventTriggerSpec(event=trigger.event, when=trigger.when)
    if isinstance(trigger, ScheduleTrigger):
        return ScheduleTriggerSpec(
            cron=trigger.schedule, segment=trigger.segment, timezone=trigger.timezone
        )
    if isinstance(trigger, SegmentTrigger):
        return SegmentTriggerSpec(segment=trigger.segment)
    assert isinstance(trigger, ApiTrigger)
    return ApiTriggerSpec()


def _entry(journey: Journey) -> EntrySpec:
    reentry = journey.entry.reentry
    if isinstance(reentry, ReentryAfter):
        return EntrySpec(
            segment=journey.entry.segment,
            reentry="after",
            reentry_after_seconds=seconds(reentry.after),
        )
    return EntrySpec(segment=journey.entry.segment, reentry=reentry)


def _settings(journey: Journey) -> SettingsSpec:
    settings = journey.settings
    quiet = settings.quiet_hours
    cap = settings.frequency_cap
    return SettingsSpec(
        timezone=settings.timezone,
        default_timezone=settings.default_timezone,
        quiet_hours=(
            QuietHoursSpec(
                start_minute=minute_of_day(quiet.start), end_minute=minute_of_day(quiet.end)
            )
            if quiet
            else None
        ),
        frequency_cap=(
            FrequencyCapSpec(max=cap.max, per_seconds=seconds(cap.per), channels=cap.channels)
            if cap
            else None
        ),
    )


def _compile_step(
    step: AnyStep,
    following: str | None,
    templates: dict[str, Template],
    tracking: Tracking | None = None,
) -> Any:
    out = transitions(step, following)
    next_step = out[0].target if out else None
    on_error = next((edge.target for edge in out if edge.on_error), None)
    common = {"id": step.id, "name": step.name}
    if isinstance(step, SendStep):
        spec = step.send
        template = templates.get(spec.template) if spec.template else None
        base = template.parts() if template else {}
        content = MessageContent(
            subject=spec.subject if spec.subject is not None else base.get("subject"),
            body=spec.body if spec.body is not None else base.get("body"),
            html=base.get("html"),
        )
        return SendNode(
            **common,
            channel=spec.channels[0],
            fallback=spec.channels[1:] or None,
            template=spec.template,
            content=content,
            params=spec.params,
            next=next_step,
            on_error=on_error,
            tracking=_tracking(tracking, step.tracking),
        )
    if isinstance(step, CallStep):
        connector, action = step.call.split(".", 1)
        return CallNode(
            **common,
            connector=connector,
            action=action,
            inputs=step.with_,
            save_as=step.save_as,
            next=next_step,
            on_error=on_error,
        )
    if isinstance(step, WaitStep):
        if isinstance(step.wait, str):
            return WaitNode(**common, seconds=seconds(step.wait), next=next_step)
        if isinstance(step.wait, WaitForData):
            lasting = step.wait
            return WaitNode(
                **common,
                for_data=DataDuration(
                    expression=lasting.for_,
                    unit_seconds=UNIT_SECONDS[lasting.unit],
                    min_seconds=seconds(lasting.at_least) if lasting.at_least else 0,
                    max_seconds=seconds(lasting.at_most),
                ),
                next=next_step,
            )
        if isinstance(step.wait, WaitUntilDate):
            offset = step.wait.offset or ""
            signed = (
                -seconds(offset[1:]) if offset.startswith("-") else seconds(offset) if offset else 0
            )
            return WaitNode(
                **common,
                until_data=DataTime(
                    expression=step.wait.until,
                    offset_seconds=signed,
                    every_year=step.wait.every == "year",
                    minute_of_day=minute_of_day(step.wait.at or "09:00"),
                ),
                next=next_step,
            )
        days = step.wait.weekdays
        return WaitNode(
            **common,
            until=LocalTime(
                minute_of_day=minute_of_day(step.wait.until),
                weekdays=sorted({WEEKDAYS.index(d) for d in days}) if days else None,
            ),
            next=next_step,
        )
    if isinstance(step, WaitForStep):
        return WaitForNode(
            **common,
            event=step.wait_for.event,
            when=step.wait_for.when,
            timeout_seconds=seconds(step.wait_for.timeout),
            save_as=step.save_as,
            next=out[0].target,
            on_timeout=out[1].target,
        )
    if isinstance(step, BranchStep):
        cases = [
            BranchCaseSpec(when=c.when, next=c.next)
            for c in step.branch
            if isinstance(c, BranchCase)
        ]
        otherwise = next(c.else_ for c in step.branch if isinstance(c, BranchElse))
        return BranchNode(**common, cases=cases, otherwise=otherwise)
    if isinstance(step, SplitStep):
        variants = [
            VariantSpec(name=v.name, weight=v.weight, holdout=v.is_holdout, next=edge.target)
            for v, edge in zip(step.split.variants, out, strict=True)
        ]
        return SplitNode(**common, experiment=step.split.experiment, variants=variants)
    if isinstance(step, UpdateProfileStep):
        return UpdateProfileNode(
            **common, set=step.update_profile.set, unset=step.update_profile.unset, next=next_step
        )
    assert isinstance(step, ExitStep)
    return ExitNode(**common, reason=step.exit.reason)


def _goal(goal: Goal) -> dict[str, Any]:
    """The goal's compiled form; ``value`` and ``currency`` only when written, so journeys
    without them keep the versions they had before the keys existed."""
    spec = GoalSpec(
        event=goal.event,
        when=goal.when,
        within_seconds=seconds(goal.within),
        value=goal.value,
        currency=goal.currency,
    ).model_dump()
    return {k: v for k, v in spec.items() if v is not None or k not in ("value", "currency")}


def _tracking(journey: Tracking | None, step: Tracking | None) -> TrackingSpec | None:
    """A send's tracking: the step's keys over the journey's; None when neither writes a
    key, so journeys without ``tracking`` keep the versions they had before it existed."""
    written = [tracking for tracking in (step, journey) if tracking is not None]
    spec = TrackingSpec(
        clicks=next((t.clicks for t in written if t.clicks is not None), None),
        opens=next((t.opens for t in written if t.opens is not None), None),
    )
    return None if spec.clicks is None and spec.opens is None else spec
