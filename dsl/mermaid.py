"""A Mermaid flowchart of a compiled journey, for docs, reviews and pull requests."""

from __future__ import annotations

from datetime import timedelta

from dsl.compiled import (
    ApiTriggerSpec,
    BranchNode,
    CallNode,
    CompiledJourney,
    EventTriggerSpec,
    ExitNode,
    ScheduleTriggerSpec,
    SegmentTriggerSpec,
    SendNode,
    SplitNode,
    UpdateProfileNode,
    WaitForNode,
    WaitNode,
)
from dsl.durations import format_duration
from dsl.models import WEEKDAYS
from dsl.routes import routes


def _text(value: str) -> str:
    """Quote a label for Mermaid: it must not break out of its double quotes."""
    return value.replace('"', "#quot;").replace("\n", " ")


def _duration(seconds: int) -> str:
    return format_duration(timedelta(seconds=seconds))


def _trigger_label(journey: CompiledJourney) -> str:
    trigger = journey.trigger
    if isinstance(trigger, EventTriggerSpec):
        label = f"on {trigger.event}"
        return f"{label} when {trigger.when}" if trigger.when else label
    if isinstance(trigger, SegmentTriggerSpec):
        return f"enters segment {trigger.segment}"
    if isinstance(trigger, ScheduleTriggerSpec):
        return f"{trigger.cron} ({trigger.timezone}) for segment {trigger.segment}"
    assert isinstance(trigger, ApiTriggerSpec)
    return "API call"


def _node(node_id: str, journey: CompiledJourney) -> str:
    node = journey.steps[node_id]
    title = node.name or node.id
    if isinstance(node, SendNode):
        what = node.template or "inline message"
        channels = " or ".join([node.channel, *(node.fallback or [])])
        return f'["{_text(f"{title}: send {channels} · {what}")}"]'
    if isinstance(node, CallNode):
        saved = f" → {node.save_as}" if node.save_as else ""
        return f'["{_text(f"{title}: call {node.connector}.{node.action}{saved}")}"]'
    if isinstance(node, WaitNode):
        if node.seconds is not None:
            return f'(["{_text(f"{title}: wait {_duration(node.seconds)}")}"])'
        assert node.until is not None
        hours, minutes = divmod(node.until.minute_of_day, 60)
        days = (
            " on " + ",".join(WEEKDAYS[d] for d in node.until.weekdays)
            if node.until.weekdays
            else ""
        )
        return f'(["{_text(f"{title}: wait until {hours:02d}:{minutes:02d}{days}")}"])'
    if isinstance(node, WaitForNode):
        label = f"{title}: wait for {node.event} (up to {_duration(node.timeout_seconds)})"
        return f'(["{_text(label)}"])'
    if isinstance(node, BranchNode):
        return f'{{"{_text(f"{title}: branch")}"}}'
    if isinstance(node, SplitNode):
        return f'{{{{"{_text(f"{title}: split {node.experiment}")}"}}}}'
    if isinstance(node, UpdateProfileNode):
        return f'[["{_text(f"{title}: update profile")}"]]'
    assert isinstance(node, ExitNode)
    return f'(("{_text(f"{title}: exit")}"))'


def to_mermaid(journey: CompiledJourney) -> str:
    """The journey as a ``flowchart TD``; step ids become s0, s1... so any id is safe."""
    ids = {step_id: f"s{index}" for index, step_id in enumerate(journey.steps)}
    lines = ["flowchart TD", f'    trigger(["{_text(_trigger_label(journey))}"])']
    lines += [f"    {ids[step_id]}{_node(step_id, journey)}" for step_id in journey.steps]
    lines.append(f"    trigger --> {ids[journey.start]}")
    uses_end = False

    def edge(source: str, target: str | None, label: str = "") -> None:
        nonlocal uses_end
        if target is None:
            uses_end = True
        destination = ids[target] if target is not None else "finish"
        arrow = f'-->|"{_text(label)}"|' if label else "-->"
        lines.append(f"    {ids[source]} {arrow} {destination}")

    for route in routes(journey):
        edge(route.source, route.target, route.label)
    if uses_end:
        lines.insert(2, '    finish(("end"))')
    return "\n".join(lines) + "\n"
