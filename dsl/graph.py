"""The step graph of a journey: where each step can go, what is reachable, which loops exist."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dsl.models import (
    AnyStep,
    BranchCase,
    BranchElse,
    BranchStep,
    CallStep,
    ExitStep,
    Journey,
    SendStep,
    SplitStep,
    WaitForStep,
    WaitStep,
)


@dataclass(frozen=True)
class Transition:
    """An edge from a step: the target step id (None = the run ends) and where it is written.

    ``where`` is the location of the key that names the target, relative to the step, or
    ``None`` when the target is implicit (the following step). ``on_error`` marks the edge
    a send or call step takes when it fails for good: it comes after the step's others.
    """

    target: str | None
    where: tuple[str | int, ...] | None
    label: str = ""
    on_error: bool = False


ON_ERROR_LABEL = "on error"


def transitions(step: AnyStep, following: str | None) -> list[Transition]:
    """Every way out of ``step``; ``following`` is the id of the step written after it."""
    implicit = Transition(following, None)
    explicit = Transition(step.next, ("next",)) if step.next else implicit
    if isinstance(step, ExitStep):
        return []
    if isinstance(step, BranchStep):
        edges: list[Transition] = []
        for index, item in enumerate(step.branch):
            if isinstance(item, BranchCase):
                edges.append(Transition(item.next, ("branch", index, "next"), item.when))
            elif isinstance(item, BranchElse):
                edges.append(Transition(item.else_, ("branch", index, "else"), "else"))
        return edges
    if isinstance(step, SplitStep):
        return [
            Transition(
                variant.next or following,
                ("split", "variants", index, "next") if variant.next else None,
                f"{variant.name} {variant.weight:g}%",
            )
            for index, variant in enumerate(step.split.variants)
        ]
    if isinstance(step, WaitForStep):
        received = Transition(explicit.target, explicit.where, step.wait_for.event)
        if step.on_timeout:
            timeout = Transition(step.on_timeout, ("on_timeout",), "timeout")
        else:
            timeout = Transition(explicit.target, explicit.where, "timeout")
        return [received, timeout]
    if isinstance(step, SendStep | CallStep) and step.on_error:
        return [explicit, Transition(step.on_error, ("on_error",), ON_ERROR_LABEL, on_error=True)]
    return [explicit]


def step_edges(journey: Journey) -> dict[str, list[Transition]]:
    """Transitions of every step by id (the first step with an id wins on duplicates)."""
    edges: dict[str, list[Transition]] = {}
    for index, step in enumerate(journey.steps):
        following = journey.steps[index + 1].id if index + 1 < len(journey.steps) else None
        edges.setdefault(step.id, transitions(step, following))
    return edges


def reachable(start: str, edges: dict[str, list[Transition]]) -> set[str]:
    """Step ids a run can reach from ``start``."""
    seen = {start}
    stack = [start]
    while stack:
        for edge in edges.get(stack.pop(), []):
            if edge.target is not None and edge.target in edges and edge.target not in seen:
                seen.add(edge.target)
                stack.append(edge.target)
    return seen


def strongly_connected(nodes: Iterable[str], edges: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative, so that journeys of thousands of steps are fine."""
    index_of: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index_of:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index_of[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            targets = edges.get(node, [])
            if child < len(targets):
                work.append((node, child + 1))
                target = targets[child]
                if target not in index_of:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index_of[target])
                continue
            if low[node] == index_of[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def loops_without_wait(journey: Journey, edges: dict[str, list[Transition]]) -> list[list[str]]:
    """Cycles of steps none of which waits: a run would spin through them forever."""
    waiting = {s.id for s in journey.steps if isinstance(s, WaitStep | WaitForStep)}
    simple = {
        step_id: [e.target for e in out if e.target in edges and e.target not in waiting]
        for step_id, out in edges.items()
        if step_id not in waiting
    }
    order = [s.id for s in journey.steps]
    loops = []
    for component in strongly_connected([n for n in simple if n in simple], simple):
        if len(component) > 1 or component[0] in simple.get(component[0], []):
            loops.append(sorted(component, key=order.index))
    return sorted(loops, key=lambda c: order.index(c[0]))
