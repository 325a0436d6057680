"""What a new version of a journey changes for experiments already running.

Assignments are sticky (stored once per experiment and customer), so editing a
split's weights does not move customers already assigned; but customers
assigned from now on split by the new weights, and the hash ranges of the
variants move, so the experiment mixes two populations and its comparison is
biased. Marketers should hear that before they deploy, with the way out: a new
experiment key starts a clean comparison.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from dsl.codes import DiagnosticCode
from dsl.compiled import CompiledJourney, SplitNode
from dsl.diagnostics import Diagnostic, Severity
from dsl.source import SourceError, parse_yaml


class ExperimentChange(BaseModel):
    """One running experiment that the new version changes, in words."""

    model_config = ConfigDict(frozen=True)

    experiment: str
    step_id: str
    message: str


def _weights(node: SplitNode) -> str:
    return " / ".join(
        f"{v.name} {v.weight:g}%" + (" (holdout)" if v.holdout else "") for v in node.variants
    )


def experiment_changes(deployed: CompiledJourney, new: CompiledJourney) -> list[ExperimentChange]:
    """Experiments whose variants, weights or holdout differ between the two versions."""
    before = {n.experiment: n for n in deployed.steps.values() if isinstance(n, SplitNode)}
    changes = []
    for node in new.steps.values():
        if not isinstance(node, SplitNode) or node.experiment not in before:
            continue
        old = before[node.experiment]
        old_split = [(v.name, v.weight, v.holdout) for v in old.variants]
        new_split = [(v.name, v.weight, v.holdout) for v in node.variants]
        if old_split == new_split:
            continue
        changes.append(
            ExperimentChange(
                experiment=node.experiment,
                step_id=node.id,
                message=(
                    f"experiment {node.experiment} is running with {_weights(old)} "
                    f"(version {deployed.version}); this version splits {_weights(node)}. "
                    "Customers already assigned keep their variant, but new customers land "
                    "in different variants, so the results mix two splits. To compare "
                    "cleanly, give the split a new `experiment` key"
                ),
            )
        )
    return changes


def experiment_change_diagnostics(
    deployed: CompiledJourney, new: CompiledJourney, text: str, file: str
) -> list[Diagnostic]:
    """The changes as warnings pointing at each changed split's `variants`."""
    changes = experiment_changes(deployed, new)
    if not changes:
        return []
    try:
        document = parse_yaml(text, file)
    except SourceError:
        return []
    steps = document.data.get("steps") if isinstance(document.data, dict) else None
    order = {
        step.get("id"): index
        for index, step in enumerate(steps if isinstance(steps, list) else [])
        if isinstance(step, dict)
    }
    diagnostics = []
    for change in changes:
        location: list[str | int] = ["steps", order.get(change.step_id, 0), "split", "variants"]
        diagnostic = document.diagnostic(
            location,
            change.message,
            code=DiagnosticCode.EXPERIMENT_SPLIT_CHANGED,
            context={"experiment": change.experiment, "step": change.step_id},
            key=True,
        )
        diagnostics.append(diagnostic.model_copy(update={"severity": Severity.WARNING}))
    return diagnostics
