"""Shared fixtures: paths of the repository and helpers to write journey files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
JOURNEYS = REPO / "journeys"


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def write_journey(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write YAML text to ``<tmp>/journeys/<name>`` and return its path."""

    def write(text: str, name: str = "journey.yaml") -> Path:
        folder = tmp_path / "journeys"
        folder.mkdir(exist_ok=True)
        path = folder / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
