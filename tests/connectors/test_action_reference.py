"""docs/dsl-reference.md lists the built-in actions as the code declares them."""

from __future__ import annotations

from connectors.registry import ConnectorRegistry
from engine.runtime.action_reference import END, START, actions_markdown
from tests.conftest import REPO


def test_the_reference_lists_every_built_in_action_as_declared() -> None:
    registry = ConnectorRegistry(entry_points=False)
    doc = (REPO / "docs" / "dsl-reference.md").read_text()
    section = doc.split(START, 1)[1].split(END, 1)[0].strip()
    assert section == actions_markdown(registry).strip(), (
        "regenerate the section between the markers of docs/dsl-reference.md with the "
        "built-in connectors' actions (engine.runtime.action_reference.actions_markdown)"
    )
    for action in registry.actions():
        assert f"#### `{action}`" in section
    assert "| `percent` | yes | integer | Percent off every line item. |" in section
