"""docs/testing-journeys.md's story runs as written: the broken journey fails as shown,
the fixed one (examples/testing-journeys) passes."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "testing-journeys" / "journeys"
DOC = REPO / "docs" / "testing-journeys.md"

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_the_fixed_example_passes(cxflow_test: Run) -> None:
    result = cxflow_test(str(EXAMPLE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 case(s) in 1 file(s): 2 passed" in result.stdout


def test_the_journey_before_its_fix_fails_as_the_doc_shows(
    cxflow_test: Run, tmp_path: Path
) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(EXAMPLE, journeys)
    journey = journeys / "review-request.yaml"
    fixed = journey.read_text()
    assert fixed.count("    next: done\n") == 1
    journey.write_text(fixed.replace("    next: done\n", ""))
    result = cxflow_test(str(journeys))
    assert result.returncode == 1
    doc = DOC.read_text()
    shown = doc.split("  ✗ a customer who reviews is not reminded\n", 1)[1].split("\n", 1)[0]
    assert f"  ✗ a customer who reviews is not reminded\n{shown}\n" in result.stdout
    assert "1 passed, 1 failed" in result.stderr
