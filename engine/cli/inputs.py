"""What commands read from their arguments: journey and segment files, JSON options."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dsl.segment_loader import is_segment_path, segment_files
from engine.errors import UsageError

JOURNEY_SUFFIXES = (".yaml", ".yml")
# Beside the journeys: their templates, segments and test files (`cxflow test`).
NOT_JOURNEY_FOLDERS = {"templates", "segments", "tests"}


def journey_files(paths: Iterable[Path]) -> list[Path]:
    """Files named on the command line, with folders expanded to the journeys inside.

    :raises UsageError: a folder holds no journey files.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in JOURNEY_SUFFIXES
                and p.is_file()
                and not NOT_JOURNEY_FOLDERS.intersection(p.relative_to(path).parts[:-1])
            )
            if not found:
                raise UsageError(f"{path} holds no .yaml journey files")
            files += found
        else:
            files.append(path)
    return files


def segment_paths(paths: list[Path]) -> list[Path]:
    """Segment files named, with ``segments/`` folders expanded.

    :raises UsageError: there are none.
    """
    files = segment_files(paths)
    if not files:
        raise UsageError(f"{', '.join(str(p) for p in paths)} holds no .yaml segment files")
    return files


def split_segment_paths(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """(segment paths, other paths): `cxflow deploy journeys/ segments/` takes both."""
    return [p for p in paths if is_segment_path(p)], [p for p in paths if not is_segment_path(p)]


def json_object(text: str, option: str = "--properties") -> dict[str, Any]:
    """The JSON object an option holds.

    :raises UsageError: it is not JSON, or not an object.
    """
    try:
        values: Any = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(
            f"{option} is not JSON ({error.msg} at column {error.colno}): write an "
            """object such as '{"item_count": 2}'""",
            code="properties_invalid",
        ) from None
    if not isinstance(values, dict):
        raise UsageError(
            f"{option} must be a JSON object, e.g. '{{\"total\": 30}}'", code="properties_invalid"
        )
    return values
