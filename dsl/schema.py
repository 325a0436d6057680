"""JSON Schema of journey files, for editors (YAML language server) and other tools."""

from __future__ import annotations

import json
from typing import Any

from dsl.models import Journey

SCHEMA_ID = "https://cxflow.dev/schemas/journey.schema.json"


def _editor_friendly(node: Any, definitions: dict[str, Any]) -> Any:
    """Small changes that make editors complete keys well, without changing what is valid.

    - yaml-language-server inserts a bare key (``wait`` instead of ``wait: ``) for a
      property whose schema is a ``oneOf`` without a ``type``: add the options' types;
    - ``"default": null`` makes editors insert a selected ``null``: drop it.
    """
    if isinstance(node, list):
        return [_editor_friendly(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    fixed = {k: _editor_friendly(v, definitions) for k, v in node.items()}
    if fixed.get("default", ...) is None:
        del fixed["default"]
    if "oneOf" in fixed and "type" not in fixed:
        types: list[str] = []
        for option in fixed["oneOf"]:
            if "$ref" in option:
                target = definitions.get(option["$ref"].rsplit("/", 1)[-1], {})
                kind = target.get("type", "object")
            else:
                kind = option.get("type")
            for item in kind if isinstance(kind, list) else [kind]:
                if isinstance(item, str) and item not in types:
                    types.append(item)
        if types:
            fixed["type"] = types[0] if len(types) == 1 else types
    return fixed


def journey_json_schema() -> dict[str, Any]:
    """The schema the `# yaml-language-server: $schema=...` line of a journey points at."""
    raw = Journey.model_json_schema(mode="validation")
    schema = _editor_friendly(raw, raw.get("$defs", {}))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "cxflow journey",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def journey_json_schema_text() -> str:
    return json.dumps(journey_json_schema(), indent=2, sort_keys=False) + "\n"
