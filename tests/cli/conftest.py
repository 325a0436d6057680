"""Fixtures for the command line: run `cxflow` as a user does, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

CXFLOW = Path(sys.executable).parent / "cxflow"


@pytest.fixture
def cxflow() -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CXFLOW), *args], capture_output=True, text=True, timeout=120, cwd=cwd
        )

    return run


def cxflow_on(
    database: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`cxflow ARGS` on the SQLite store in ``database``, with a wide terminal for tables
    (and ``stdin`` as its standard input: none by default)."""
    return subprocess.run(
        [str(CXFLOW), *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CXFLOW_DATABASE_URL": f"sqlite:///{database}", "COLUMNS": "200"},
    )
