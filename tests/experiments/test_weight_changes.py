"""Changing a running experiment's split is reported before it is deployed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from dsl.changes import experiment_changes
from dsl.compiled import CompiledJourney
from dsl.loader import load_text
from tests.cli.conftest import CXFLOW
from tests.conftest import JOURNEYS

ORIGINAL = (JOURNEYS / "abandoned-cart.yaml").read_text()
OLD_WEIGHTS = """\
        - { name: reminder, weight: 45, next: plain-reminder }
        - { name: discount, weight: 45, next: make-coupon }"""
NEW_WEIGHTS = """\
        - { name: reminder, weight: 30, next: plain-reminder }
        - { name: discount, weight: 60, next: make-coupon }"""


def compile_text(text: str) -> CompiledJourney:
    result = load_text(text, templates=None)
    assert result.compiled is not None, [d.render() for d in result.diagnostics]
    return result.compiled


def test_new_weights_are_a_change_and_a_new_key_or_other_edits_are_not() -> None:
    assert OLD_WEIGHTS in ORIGINAL
    before = compile_text(ORIGINAL)
    reweighted = compile_text(ORIGINAL.replace(OLD_WEIGHTS, NEW_WEIGHTS))
    (change,) = experiment_changes(before, reweighted)
    assert (change.experiment, change.step_id) == ("cart-offer-2026", "offer-test")
    assert "reminder 45% / discount 45% / holdout 10% (holdout)" in change.message
    assert "reminder 30% / discount 60% / holdout 10% (holdout)" in change.message
    assert "new `experiment` key" in change.message

    new_key = compile_text(
        ORIGINAL.replace(OLD_WEIGHTS, NEW_WEIGHTS).replace("cart-offer-2026", "cart-offer-2027")
    )
    assert experiment_changes(before, new_key) == []
    retimed = compile_text(ORIGINAL.replace("wait: 1h", "wait: 2h"))
    assert experiment_changes(before, retimed) == []


def test_validate_deployed_and_deploy_warn_with_the_place_in_the_file(tmp_path: Path) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(JOURNEYS, journeys)
    env = {**os.environ, "CXFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'cxflow.db'}"}

    def cxflow(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CXFLOW), *args], capture_output=True, text=True, env=env, timeout=60
        )

    journey = journeys / "abandoned-cart.yaml"
    assert cxflow("deploy", str(journey)).returncode == 0
    journey.write_text(ORIGINAL.replace(OLD_WEIGHTS, NEW_WEIGHTS))
    line = ORIGINAL.splitlines().index("      variants:") + 1

    plain = cxflow("validate", str(journey))
    assert plain.returncode == 0 and "experiment cart-offer-2026" not in plain.stderr
    checked = cxflow("validate", "--deployed", str(journey))
    assert checked.returncode == 0, checked.stderr
    assert f"{journey}:{line}:7: warning: experiment cart-offer-2026 is running with" in (
        checked.stderr
    )
    deployed = cxflow("deploy", str(journey))
    assert deployed.returncode == 0, deployed.stderr
    assert "warning: experiment cart-offer-2026 is running with" in deployed.stderr
    assert deployed.stdout.startswith("deployed abandoned-cart v")
    again = cxflow("validate", "--deployed", str(journey))
    assert "experiment cart-offer-2026" not in again.stderr  # the new split is running now
