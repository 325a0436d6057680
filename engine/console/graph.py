"""A journey's graph for the console: its steps and edges with live counts, as inline SVG.

The shape is the compiled journey's (every transition spelled out), laid out in layers by
grandalf's Sugiyama layout and drawn here as SVG the page inlines: no script, a title and
a description for screen readers, and the same figures as a table beside it.

Counts come from the store's run bookkeeping: a run's current step (where the runs in
flight wait, where the others ended) and the steps each run reached. Step visits keep no
order, so the edge a run took into a step is inferred: of the step's predecessors the run
reached, the last one in the graph's order. That is exact for journeys without loops; an
edge back into a loop is drawn without a count, since a first visit cannot tell a second.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from grandalf.graphs import Edge as LayoutEdge  # type: ignore[import-untyped]
from grandalf.graphs import Graph, Vertex
from grandalf.layouts import SugiyamaLayout  # type: ignore[import-untyped]
from markupsafe import Markup, escape

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

ENTRY = "(entry)"  # the id of the trigger's box; step ids are slugs, so never this
NODE_WIDTH = 220
NODE_HEIGHT = 74
END_SIZE = 26
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
_CHAR = 6.6  # average width of a 12px character, to shorten text that would overflow


def trigger_text(journey: CompiledJourney) -> str:
    """What starts a run, in words: ``on cart.updated when …``, ``enters segment vip``."""
    trigger = journey.trigger
    if isinstance(trigger, EventTriggerSpec):
        label = f"on event {trigger.event}"
        return f"{label} when {trigger.when}" if trigger.when else label
    if isinstance(trigger, SegmentTriggerSpec):
        return f"on entering segment {trigger.segment}"
    if isinstance(trigger, ScheduleTriggerSpec):
        return f"schedule {trigger.cron} ({trigger.timezone}) for segment {trigger.segment}"
    assert isinstance(trigger, ApiTriggerSpec)
    return "started through the API"


def _duration(seconds: int) -> str:
    return format_duration(timedelta(seconds=seconds))


def step_text(journey: CompiledJourney, step_id: str) -> str:
    """The step's kind and what it does, in a few words (template, duration, condition)."""
    node = journey.steps[step_id]
    if isinstance(node, SendNode):
        channels = " or ".join([node.channel, *(node.fallback or [])])
        return f"send {channels} · {node.template or 'inline message'}"
    if isinstance(node, CallNode):
        saved = f" → {node.save_as}" if node.save_as else ""
        return f"call {node.connector}.{node.action}{saved}"
    if isinstance(node, WaitNode):
        if node.seconds is not None:
            return f"wait {_duration(node.seconds)}"
        assert node.until is not None
        hours, minutes = divmod(node.until.minute_of_day, 60)
        days = " on " + ",".join(WEEKDAYS[d] for d in node.until.weekdays or [])
        return f"wait until {hours:02d}:{minutes:02d}{days if node.until.weekdays else ''}"
    if isinstance(node, WaitForNode):
        return f"wait for {node.event}, up to {_duration(node.timeout_seconds)}"
    if isinstance(node, BranchNode):
        return f"branch: {len(node.cases)} case{'s' if len(node.cases) != 1 else ''} and else"
    if isinstance(node, SplitNode):
        return f"split {node.experiment}"
    if isinstance(node, UpdateProfileNode):
        keys = [*node.set, *node.unset]
        return "update profile: " + ", ".join(keys) if keys else "update profile"
    assert isinstance(node, ExitNode)
    return f"exit: {node.reason}" if node.reason else "exit"


@dataclass(frozen=True)
class GraphEdge:
    """A way from one step to another (``target`` None: the run ends there)."""

    source: str
    target: str | None
    label: str
    runs: int | None = None  # runs that took it; None where it cannot be told (a loop back)


@dataclass(frozen=True)
class GraphStep:
    id: str
    kind: str
    name: str | None
    text: str
    in_flight: int  # runs at this step now (waiting, or running it)
    reached: int  # runs that reached it
    ended: dict[str, int] = field(default_factory=dict)  # completed/exited/failed here


@dataclass(frozen=True)
class JourneyGraph:
    """The journey's steps and edges with their counts, and the drawing of them."""

    steps: list[GraphStep]
    edges: list[GraphEdge]
    entries: int  # runs that entered (reached the first step)
    elsewhere: dict[str, int]  # runs in flight at steps this version does not have
    svg: Markup


def edges_of(journey: CompiledJourney) -> list[GraphEdge]:
    """Every edge of the compiled journey, the same ones ``cxflow journeys graph`` draws;
    two ways to the same step are one edge with both labels."""
    found: dict[tuple[str, str | None], list[str]] = {}
    for route in routes(journey):
        labels = found.setdefault((route.source, route.target), [])
        if route.label:
            labels.append(route.label)
    return [GraphEdge(s, t, " / ".join(labels)) for (s, t), labels in found.items()]


def _order(journey: CompiledJourney, edges: list[GraphEdge]) -> dict[str, int]:
    """Steps in reverse post-order of a depth-first walk from the start: every edge that
    does not close a loop goes from a lower index to a higher one."""
    out: dict[str, list[str]] = {step: [] for step in journey.steps}
    for e in edges:
        if e.target is not None:
            out[e.source].append(e.target)
    seen: set[str] = set()
    post: list[str] = []
    roots = [journey.start, *(s for s in journey.steps if s != journey.start)]
    for root in roots:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(out[root]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                post.append(node)
                stack.pop()
            elif child not in seen:
                seen.add(child)
                stack.append((child, iter(out[child])))
    return {step: index for index, step in enumerate(reversed(post))}


def count_edges(
    journey: CompiledJourney,
    reached: Mapping[frozenset[str], int],
    at_steps: Mapping[tuple[str, str], int],
) -> list[GraphEdge]:
    """The journey's edges with the runs that took each (see the module's docstring).

    ``reached``: runs by the set of steps they reached; ``at_steps``: runs by (current
    step, status). A run that completed at a step whose way on is the end took that edge.
    """
    edges = edges_of(journey)
    order = _order(journey, edges)
    forward = [e for e in edges if e.target is not None and order[e.target] > order[e.source]]
    into: dict[str, list[str]] = {}
    for e in forward:
        assert e.target is not None
        into.setdefault(e.target, []).append(e.source)
    taken: dict[tuple[str, str | None], int] = {}
    for steps, count in reached.items():
        for step in steps:
            sources = [s for s in into.get(step, []) if s in steps]
            if sources:
                source = max(sources, key=order.__getitem__)
                taken[(source, step)] = taken.get((source, step), 0) + count
    counted = []
    for e in edges:
        if e.target is None:
            runs: int | None = at_steps.get((e.source, "completed"), 0)
        elif order[e.target] > order[e.source]:
            runs = taken.get((e.source, e.target), 0)
        else:
            runs = None
        counted.append(GraphEdge(e.source, e.target, e.label, runs))
    return counted


def journey_graph(
    journey: CompiledJourney,
    reached: Mapping[frozenset[str], int],
    at_steps: Mapping[tuple[str, str], int],
) -> JourneyGraph:
    """The graph of ``journey`` with the counts of the store (all versions' runs)."""
    edges = count_edges(journey, reached, at_steps)
    steps = [
        GraphStep(
            id=step_id,
            kind=node.kind,
            name=node.name,
            text=step_text(journey, step_id),
            in_flight=at_steps.get((step_id, "running"), 0),
            reached=sum(runs for steps, runs in reached.items() if step_id in steps),
            ended={
                status: at_steps[(step_id, status)]
                for status in ("completed", "exited", "failed")
                if at_steps.get((step_id, status))
            },
        )
        for step_id, node in journey.steps.items()
    ]
    elsewhere = {
        step: count
        for (step, status), count in sorted(at_steps.items())
        if status == "running" and step not in journey.steps
    }
    entries = sum(runs for steps, runs in reached.items() if journey.start in steps)
    graph = JourneyGraph(steps, edges, entries, elsewhere, Markup(""))
    return JourneyGraph(steps, edges, entries, elsewhere, draw(journey, graph))


# --- drawing ------------------------------------------------------------------------------------


class _Box:
    """What grandalf reads and writes of a vertex: its size, then its centre."""

    def __init__(self, w: float, h: float) -> None:
        self.w = w
        self.h = h
        self.xy: tuple[float, float] = (0.0, 0.0)


class _Path:
    """What grandalf writes of an edge: the points it passes (through dummy vertices)."""

    def __init__(self) -> None:
        self.points: list[tuple[float, float]] = []

    def setpath(self, points: list[tuple[float, float]]) -> None:
        self.points = list(points)


def _fit(text: str, width: float) -> str:
    most = max(4, int(width / _CHAR))
    return text if len(text) <= most else text[: most - 1] + "…"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _layout(
    ids: list[str], sizes: dict[str, tuple[float, float]], links: list[tuple[str, str]]
) -> tuple[dict[str, tuple[float, float]], dict[tuple[str, str], list[tuple[float, float]]]]:
    vertices = {key: Vertex(key) for key in ids}
    for key, vertex in vertices.items():
        vertex.view = _Box(*sizes[key])
    layout_edges = {}
    for source, target in links:
        e = LayoutEdge(vertices[source], vertices[target])
        e.view = _Path()
        layout_edges[(source, target)] = e
    graph = Graph(list(vertices.values()), list(layout_edges.values()))
    offset = 0.0
    centres: dict[str, tuple[float, float]] = {}
    for core in graph.C:
        sugiyama = SugiyamaLayout(core)
        sugiyama.xspace, sugiyama.yspace = 36, 54
        roots = [v for v in core.sV if v.data == ENTRY] or None
        sugiyama.init_all(roots=roots)
        sugiyama.draw()
        xs = [v.view.xy[0] - v.view.w / 2 for v in core.sV]
        left = min(xs)
        right = max(v.view.xy[0] + v.view.w / 2 for v in core.sV)
        for v in core.sV:
            centres[v.data] = (v.view.xy[0] - left + offset, v.view.xy[1])
        for e in core.sE:
            e.view.points = [(x - left + offset, y) for x, y in e.view.points]
        offset += right - left + 60
    paths = {key: e.view.points for key, e in layout_edges.items()}
    return centres, paths


def draw(journey: CompiledJourney, graph: JourneyGraph) -> Markup:
    """The graph as an ``<svg>``: a box per step (id, what it does, its counts), an arrow
    per edge with its label and the runs that took it, the entry on top."""
    ids = [ENTRY, *journey.steps]
    sizes = {key: (float(NODE_WIDTH), float(NODE_HEIGHT)) for key in ids}
    wide = len(trigger_text(journey)) * _CHAR + 24  # the trigger's words, whole if they fit
    sizes[ENTRY] = (min(max(float(NODE_WIDTH), wide), 2.0 * NODE_WIDTH), 48.0)
    links = [(ENTRY, journey.start)]
    ends: dict[tuple[str, str | None], str] = {}
    for e in graph.edges:
        target = e.target
        if target is None:
            target = f"(end {e.source})"
            ids.append(target)
            sizes[target] = (float(END_SIZE), float(END_SIZE))
        ends[(e.source, e.target)] = target
        if e.source != target:
            links.append((e.source, target))
    centres, paths = _layout(ids, sizes, links)
    xs = [centres[k][0] + sign * sizes[k][0] / 2 for k in ids for sign in (-1, 1)]
    ys = [centres[k][1] + sign * sizes[k][1] / 2 for k in ids for sign in (-1, 1)]
    for points in paths.values():  # long edges pass outside the boxes
        xs += [x for x, _ in points]
        ys += [y for _, y in points]
    pad, side = 24.0, 90.0  # edge labels sit on the lines, and may stick out of the boxes
    left, top = min(xs) - side, min(ys) - pad
    width, height = max(xs) - left + side, max(ys) - top + pad

    def at(point: tuple[float, float]) -> tuple[float, float]:
        return (round(point[0] - left, 1), round(point[1] - top, 1))

    steps = {s.id: s for s in graph.steps}
    parts: list[str] = []
    waiting = sum(s.in_flight for s in graph.steps)
    description = (
        f"{len(graph.steps)} steps and {len(graph.edges)} edges; "
        f"{_plural(graph.entries, 'run')} entered, {_plural(waiting, 'run')} in flight. "
        "The table after the drawing has the same figures."
    )
    parts.append(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" role="img" '
        'aria-labelledby="journey-graph-title journey-graph-desc" '
        f'font-family="{escape(FONT)}" font-size="12">'
        f'<title id="journey-graph-title">Steps of {escape(journey.name)}</title>'
        f'<desc id="journey-graph-desc">{escape(description)}</desc>'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#52606d"/></marker></defs>'
    )
    # Edges first, under the boxes.
    for e in graph.edges:
        target = ends[(e.source, e.target)]
        parts.append(_edge(e, target, centres, sizes, paths, at))
    for key in ids:
        x, y = at(centres[key])
        w, h = sizes[key]
        if key == ENTRY:
            parts.append(_entry(journey, graph.entries, x, y, w, h))
        elif key in steps:
            parts.append(_step(steps[key], x, y, w, h))
        else:
            parts.append(
                f'<g class="end"><title>the run ends</title><circle cx="{x}" cy="{y}" '
                f'r="{END_SIZE / 2}" fill="#fff" stroke="#52606d" stroke-width="2"/>'
                f'<circle cx="{x}" cy="{y}" r="{END_SIZE / 2 - 6}" fill="#52606d"/></g>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _entry(journey: CompiledJourney, entries: int, x: float, y: float, w: float, h: float) -> str:
    trigger = trigger_text(journey)
    return (
        f'<g class="entry"><title>{escape(trigger)}: {escape(_plural(entries, "run"))} '
        f'entered</title><rect x="{x - w / 2}" y="{y - h / 2}" width="{w}" height="{h}" '
        f'rx="{h / 2}" fill="#eef2fa" stroke="#2456a6"/>'
        f'<text x="{x}" y="{y - 4}" text-anchor="middle" font-weight="600">'
        f"{escape(_fit(trigger, w - 16))}</text>"
        f'<text x="{x}" y="{y + 12}" text-anchor="middle" fill="#52606d">'
        f"{escape(_plural(entries, 'run'))} entered</text></g>"
    )


def _step(step: GraphStep, x: float, y: float, w: float, h: float) -> str:
    ended = ", ".join(f"{count:,} {status}" for status, count in step.ended.items())
    counts = f"{step.in_flight:,} here now · {step.reached:,} reached"
    full = f"{step.id} ({step.kind}): {step.text}; {counts}" + (
        f"; ended here: {ended}" if ended else ""
    )
    stroke, fill = ("#8a5a00", "#fff8e6") if step.in_flight else ("#8792a2", "#ffffff")
    left, top = x - w / 2, y - h / 2
    title = step.id if not step.name else f"{step.id} · {step.name}"
    lines = [
        f'<g class="step" data-step="{escape(step.id)}" data-in-flight="{step.in_flight}" '
        f'data-reached="{step.reached}"><title>{escape(full)}</title>',
        f'<rect x="{left}" y="{top}" width="{w}" height="{h}" rx="6" fill="{fill}" '
        f'stroke="{stroke}" stroke-width="{2 if step.in_flight else 1}"/>',
        f'<text x="{left + 10}" y="{top + 18}" font-weight="600">{escape(_fit(title, w - 20))}'
        "</text>",
        f'<text x="{left + 10}" y="{top + 36}" fill="#52606d">'
        f"{escape(_fit(step.text, w - 20))}</text>",
        f'<text x="{left + 10}" y="{top + 56}" font-weight="{600 if step.in_flight else 400}">'
        f"{escape(_fit(counts, w - 20))}</text>",
    ]
    lines.append("</g>")
    return "".join(lines)


def _edge(
    e: GraphEdge,
    target: str,
    centres: dict[str, tuple[float, float]],
    sizes: dict[str, tuple[float, float]],
    paths: dict[tuple[str, str], list[tuple[float, float]]],
    shift: Callable[[tuple[float, float]], tuple[float, float]],
) -> str:
    count = "not counted (a loop back)" if e.runs is None else _plural(e.runs, "run")
    name = e.target or "the end"
    title = f"{e.source} → {name}" + (f" ({e.label})" if e.label else "") + f": {count}"
    if e.source == target:  # a step that goes back to itself: a small loop at its side
        x, y = shift(centres[e.source])
        w = sizes[e.source][0]
        r = x + w / 2
        d = f"M{r},{y - 10} C{r + 40},{y - 30} {r + 40},{y + 30} {r},{y + 10}"
        lx, ly = r + 34, y
    else:
        points = [shift(p) for p in paths.get((e.source, target), [])]
        start, end = shift(centres[e.source]), shift(centres[target])
        if not points:
            points = [start, end]
        if _distance(points[0], start) > _distance(points[-1], start):
            points.reverse()
        points[0] = _border(points[0], points[1], sizes[e.source])
        points[-1] = _border(points[-1], points[-2], sizes[target])
        d = "M" + " L".join(f"{px},{py}" for px, py in points)
        middle = len(points) // 2
        if len(points) % 2:
            lx, ly = points[middle]
        else:
            (ax, ay), (bx, by) = points[middle - 1], points[middle]
            lx, ly = (ax + bx) / 2, (ay + by) / 2
    label = (e.label + " · " if e.label else "") + ("loop" if e.runs is None else f"{e.runs:,}")
    label = _fit(label, 180)
    dash = ' stroke-dasharray="4 3"' if e.runs is None else ""
    box = len(label) * _CHAR + 10
    return (
        f'<g class="edge" data-source="{escape(e.source)}" data-target="{escape(name)}" '
        f'data-runs="{"" if e.runs is None else e.runs}"><title>{escape(title)}</title>'
        f'<path d="{d}" fill="none" stroke="#52606d" stroke-width="1.4" '
        f'marker-end="url(#arrow)"{dash}/>'
        f'<rect x="{lx - box / 2:.1f}" y="{ly - 9:.1f}" width="{box:.1f}" height="18" rx="3" '
        'fill="#f4f6f9" stroke="#d9dee5"/>'
        f'<text x="{lx:.1f}" y="{ly + 4:.1f}" text-anchor="middle" font-size="11">'
        f"{escape(label)}</text></g>"
    )


def _distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5)


def _border(
    centre: tuple[float, float], toward: tuple[float, float], size: tuple[float, float]
) -> tuple[float, float]:
    """Where the line from a box's centre toward a point leaves the box."""
    (cx, cy), (tx, ty) = centre, toward
    dx, dy = tx - cx, ty - cy
    if dx == 0 and dy == 0:
        return centre
    w, h = size[0] / 2, size[1] / 2
    scale = min(w / abs(dx) if dx else float("inf"), h / abs(dy) if dy else float("inf"))
    scale = min(scale, 1.0)
    return (round(cx + dx * scale, 1), round(cy + dy * scale, 1))
