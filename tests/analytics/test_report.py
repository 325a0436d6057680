"""`cxflow report`: terminal, JSON and a self-contained HTML page from the store."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from engine.store import Store
from tests.analytics.test_experiment_results import simulate
from tests.cli.conftest import CXFLOW
from tests.runtime.conftest import compiled


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CXFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}"}
    return subprocess.run([str(CXFLOW), *args], capture_output=True, text=True, env=env, timeout=60)


def test_report_in_the_terminal_as_json_and_as_html(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'r.db'}")
    store.deploy_journey(compiled("abandoned-cart"))
    counts = simulate(store, 600)
    store.dispose()
    page = tmp_path / "report.html"
    shown = run(tmp_path, "report", "abandoned-cart", "--html", str(page))
    assert shown.returncode == 0, shown.stderr
    assert "experiment cart-offer-2026 (step offer-test)" in shown.stdout
    assert "holdout (holdout)" in shown.stdout
    assert "chi-square p =" in shown.stdout
    assert "funnel (runs that reached each step)" in shown.stdout and "offer-test" in shown.stdout
    text = page.read_text()
    assert text.startswith("<!doctype html>") and "<script" not in text and "http" not in text
    assert "<svg" in text and "Experiment cart-offer-2026" in text
    data = json.loads(run(tmp_path, "report", "abandoned-cart", "--json").stdout)
    exposures = {v["name"]: v["exposures"] for v in data["experiments"][0]["variants"]}
    assert exposures == {name: n for name, (n, _) in counts.items()}


def test_report_on_an_unknown_journey_says_what_to_do(tmp_path: Path) -> None:
    result = run(tmp_path, "report", "nope")
    assert result.returncode == 2
    assert "journey 'nope' is not deployed: see `cxflow journeys list`" in result.stderr
