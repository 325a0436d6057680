"""JSON Schema of journey files, for editors (YAML language server) and other tools."""

from __future__ import annotations

import json
from typing import Any

from dsl.models import Journey

SCHEMA_ID = "https://cxflow.dev/schemas/journey.schema.json"


def journey_json_schema() -> dict[str, Any]:
    """The schema the `# yaml-language-server: $schema=...` line of a journey points at."""
    schema = Journey.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "cxflow journey",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def journey_json_schema_text() -> str:
    return json.dumps(journey_json_schema(), indent=2, sort_keys=False) + "\n"
