"""`cxflow validate / compile / graph / schema` as a user runs them."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.conftest import JOURNEYS, REPO

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_validate_folder_of_shipped_journeys_succeeds(cxflow: Run) -> None:
    result = cxflow("validate", str(JOURNEYS))
    assert result.returncode == 0, result.stderr
    shipped = len(list(JOURNEYS.glob("*.yaml")))
    assert f"{shipped} journey file(s): {shipped} valid" in result.stdout
    assert "ok " in result.stdout and "abandoned-cart" in result.stdout


def test_validate_reports_errors_with_position_and_exits_1(
    cxflow: Run, write_journey: Callable[[str, str], Path]
) -> None:
    path = write_journey(
        "journey: j\nname: J\ntrigger: {event: e}\nsteps:\n  - id: a\n    wait: soon\n"
    )
    result = cxflow("validate", str(path))
    assert result.returncode == 1
    assert f"{path}:6:11: error: `wait` in step 'a': 'soon' is not a duration" in result.stderr
    assert "        wait: soon\n              ^" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_validate_json_is_machine_readable(
    cxflow: Run, write_journey: Callable[[str, str], Path]
) -> None:
    bad = write_journey("journey: j\nname: J\ntrigger: {event: e}\nsteps: []\n", "bad.yaml")
    result = cxflow("validate", "--json", str(JOURNEYS / "abandoned-cart.yaml"), str(bad))
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert [r["ok"] for r in report] == [True, False]
    assert report[0]["journey"] == "abandoned-cart" and report[0]["version"].startswith("v")
    assert report[1]["diagnostics"] == [
        {
            "file": str(bad),
            "line": 4,
            "column": 8,
            "path": "steps",
            "message": "the journey has no steps: add at least one, e.g. "
            "`steps: [ {id: done, exit: {}} ]`",
            "code": "list_too_short",
            "context": {},
            "severity": "error",
        }
    ]


def test_bad_paths_and_files_get_messages_not_tracebacks(cxflow: Run, tmp_path: Path) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00journey")
    empty_folder = tmp_path / "empty"
    empty_folder.mkdir()
    missing = cxflow("validate", str(tmp_path / "missing.yaml"))
    assert missing.returncode == 1 and "there is no such file: check the path" in missing.stderr
    undecodable = cxflow("validate", str(binary))
    assert undecodable.returncode == 1 and "not UTF-8 text" in undecodable.stderr
    folder = cxflow("validate", str(empty_folder))
    assert folder.returncode == 2 and "holds no .yaml journey files" in folder.stderr
    for result in (missing, undecodable, folder):
        assert "Traceback" not in result.stderr + result.stdout


def test_compile_prints_the_compiled_journey(cxflow: Run) -> None:
    result = cxflow("compile", str(JOURNEYS / "abandoned-cart.yaml"))
    assert result.returncode == 0, result.stderr
    compiled = json.loads(result.stdout)
    assert compiled["id"] == "abandoned-cart"
    assert compiled["steps"]["wait-order"]["on_timeout"] == "vip-check"
    assert compiled["steps"]["plain-reminder"]["content"]["subject"].startswith("{{ customer")


def test_compile_refuses_an_invalid_journey(
    cxflow: Run, write_journey: Callable[[str, str], Path]
) -> None:
    path = write_journey(
        "journey: j\nname: J\ntrigger: {event: e}\nsteps:\n  - id: a\n    next: b\n    wait: 1h\n"
    )
    result = cxflow("compile", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert "there is no step 'b'" in result.stderr and "nothing was compiled" in result.stderr


def test_graph_prints_mermaid(cxflow: Run) -> None:
    result = cxflow("graph", "--markdown", str(JOURNEYS / "abandoned-cart.yaml"))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.startswith("```mermaid\nflowchart TD\n")
    assert 's1 -->|"holdout 10%"| s8' in text
    assert 's5 -->|"timeout"| s6' in text
    assert "s6 -->|\"segment('vip')\"| s7" in text


def test_schema_command_prints_the_checked_in_schema(cxflow: Run) -> None:
    result = cxflow("schema")
    assert result.returncode == 0
    assert result.stdout == (REPO / "schemas" / "journey.schema.json").read_text()


def test_connectors_not_installed_warn_and_fail_only_when_strict(
    cxflow: Run, write_journey: Callable[[str, str], Path]
) -> None:
    path = write_journey(
        "journey: j\nname: J\ntrigger: {event: e}\nsteps:\n  - id: c\n    call: crm.add_note\n"
    )
    relaxed = cxflow("validate", str(path))
    assert relaxed.returncode == 0
    assert (
        f"{path}:6:11: warning: no installed connector provides the action 'crm.add_note'"
        in relaxed.stderr
    )
    strict = cxflow("validate", "--strict-connectors", str(path))
    assert strict.returncode == 1
    assert f"{path}:6:11: error: no installed connector provides the action" in strict.stderr
