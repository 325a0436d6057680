"""The JSON Schema editors use: checked in, current, and agreeing with the validator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from dsl.schema import journey_json_schema
from dsl.source import parse_yaml
from tests.conftest import JOURNEYS, REPO

SCHEMA_FILE = REPO / "schemas" / "journey.schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def load(path: Path) -> Any:
    return parse_yaml(path.read_text(), str(path)).data


def test_checked_in_schema_is_current() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == journey_json_schema(), (
        "run `cxflow schema -o schemas/journey.schema.json`"
    )


@pytest.mark.parametrize("path", sorted(JOURNEYS.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_journeys_match_the_schema(
    validator: jsonschema.protocols.Validator, path: Path
) -> None:
    assert list(validator.iter_errors(load(path))) == []


@pytest.mark.parametrize(
    ("change", "expected_path"),
    [
        (lambda j: j["steps"][0].update(wiat="1h"), ["steps", 0]),
        (lambda j: j["steps"][0].update(wait="1 hour"), ["steps", 0]),
        (lambda j: j["trigger"].update(evnt="x"), ["trigger"]),
        (lambda j: j.update(journey="Not A Slug"), ["journey"]),
        (lambda j: j["settings"]["quiet_hours"].update(start="9pm"), ["settings", "quiet_hours"]),
    ],
)
def test_schema_flags_what_an_editor_should_underline(
    validator: jsonschema.protocols.Validator, change: Any, expected_path: list[Any]
) -> None:
    journey = load(JOURNEYS / "abandoned-cart.yaml")
    change(journey)
    errors = list(validator.iter_errors(journey))
    assert errors
    assert any(list(e.absolute_path)[: len(expected_path)] == expected_path for e in errors)


def test_schema_describes_every_step_kind_for_autocompletion() -> None:
    schema = journey_json_schema()
    step_refs = schema["properties"]["steps"]["items"]["oneOf"]
    names = {ref["$ref"].rsplit("/", 1)[1] for ref in step_refs}
    assert names == {
        "SendStep", "CallStep", "WaitStep", "WaitForStep", "BranchStep", "SplitStep",
        "UpdateProfileStep", "ExitStep",
    }  # fmt: skip
    for name in names:
        definition = schema["$defs"][name]
        assert definition["additionalProperties"] is False
        assert all("description" in p for p in definition["properties"].values())
