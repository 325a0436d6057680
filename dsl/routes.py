"""The ways out of each step of a compiled journey, with the words that label them.

One enumeration for everything that draws a journey: the Mermaid graph
(:mod:`dsl.mermaid`, ``cxflow journeys graph``) and the console's journey graph
(:mod:`engine.console.graph`), so the two always show the same edges.
"""

from __future__ import annotations

from dataclasses import dataclass

from dsl.compiled import (
    BranchNode,
    CallNode,
    CompiledJourney,
    ExitNode,
    SendNode,
    SplitNode,
    WaitForNode,
)
from dsl.graph import ON_ERROR_LABEL


@dataclass(frozen=True)
class Route:
    """One way from ``source`` (``target`` None: the run ends there), and its label."""

    source: str
    target: str | None
    label: str = ""


def routes(journey: CompiledJourney) -> list[Route]:
    """Every way out of every step, in step order; a step may have two to one target."""
    found: list[Route] = []
    for step_id, node in journey.steps.items():
        if isinstance(node, BranchNode):
            found += [Route(step_id, case.next, case.when) for case in node.cases]
            found.append(Route(step_id, node.otherwise, "else"))
        elif isinstance(node, SplitNode):
            for variant in node.variants:
                holdout = " (holdout)" if variant.holdout and variant.name != "holdout" else ""
                label = f"{variant.name} {variant.weight:g}%{holdout}"
                found.append(Route(step_id, variant.next, label))
        elif isinstance(node, WaitForNode):
            if node.next == node.on_timeout:
                found.append(Route(step_id, node.next, f"{node.event} or timeout"))
            else:
                found.append(Route(step_id, node.next, node.event))
                found.append(Route(step_id, node.on_timeout, "timeout"))
        elif isinstance(node, SendNode | CallNode) and node.on_error is not None:
            if node.on_error == node.next:
                found.append(Route(step_id, node.next, f"also {ON_ERROR_LABEL}"))
            else:
                found.append(Route(step_id, node.next))
                found.append(Route(step_id, node.on_error, ON_ERROR_LABEL))
        elif not isinstance(node, ExitNode):
            found.append(Route(step_id, node.next))
    return found
