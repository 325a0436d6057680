"""The root of the error tree: dsl's errors are CxflowErrors with stable codes.

The tree drawn in dsl/errors.py's docstring is checked against the classes for the
part dsl defines, so the drawing cannot drift from the code.
"""

from __future__ import annotations

import importlib
import pickle
import re
from pathlib import Path

import pytest

import dsl.errors
from dsl.codes import DiagnosticCode
from dsl.diagnostics import JourneyInvalidError
from dsl.errors import ConfigurationError, CxflowError, InputError, UnavailableError
from dsl.expressions import ConditionError, compile_condition, evaluate_condition
from dsl.loader import compile_file
from dsl.segment_loader import SegmentInvalidError, compile_segment_file
from dsl.source import SourceError, parse_yaml

BROKEN = "journey: j\nname: J\ntrigger: {event: x}\nsteps:\n  - id: a\n    next: b\n    wait: 1\n"


def drawn_tree() -> list[tuple[int, str, str, str]]:
    """(depth, class, code, module) for each row of the drawing in dsl/errors.py."""
    doc = dsl.errors.__doc__ or ""
    rows: list[tuple[int, str, str, str]] = []
    for line in doc.splitlines():
        match = re.fullmatch(r"    ([│├└─ ]*)(\w+Error)\s+([a-z_]+)\s+([\w.]+)", line)
        if match:
            name, code, module = match.group(2, 3, 4)
            rows.append((len(match.group(1)) // 4, name, code, module))
    return rows


def with_parents() -> list[tuple[str, str, str, str | None]]:
    """(class, code, module, drawn parent class) for each row."""
    rows: list[tuple[str, str, str, str | None]] = []
    stack: list[str] = []
    for depth, name, code, module in drawn_tree():
        del stack[depth:]
        rows.append((name, code, module, stack[-1] if stack else None))
        stack.append(name)
    return rows


def test_the_drawing_has_the_whole_tree_with_unique_codes() -> None:
    rows = with_parents()
    names = [name for name, _, _, _ in rows]
    assert names[0] == "CxflowError"
    assert len(rows) == 41
    assert {"UsageError", "TemporalUnavailableError", "ConnectorNotFoundError"} <= set(names)
    parents = {name: parent for name, _, _, parent in rows}

    def inherited(name: str, module: str) -> bool:
        """It keeps a base class's code: a narrower class of the same problem."""
        return "code" not in vars(getattr(importlib.import_module(module), name))

    own_codes = [code for name, code, module, _ in rows if not inherited(name, module)]
    assert len(own_codes) == len(set(own_codes))
    assert parents["ConnectorPluginError"] == "PermanentConnectorError"
    assert parents["TemporalUnavailableError"] == "UnavailableError"
    assert parents["ConnectorError"] == "CxflowError"


DSL_ROWS = [row for row in with_parents() if row[2].startswith("dsl.")]


@pytest.mark.parametrize(
    ("name", "code", "module", "parent"), DSL_ROWS, ids=[r[0] for r in DSL_ROWS]
)
def test_the_drawing_matches_the_dsl_classes(
    name: str, code: str, module: str, parent: str | None
) -> None:
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, CxflowError)
    assert cls.code == code
    if parent is not None:
        assert cls.__bases__ == (getattr(dsl.errors, parent),)


OTHER_ROWS = [row for row in with_parents() if not row[2].startswith("dsl.")]


@pytest.mark.parametrize(
    ("name", "code", "module", "parent"), OTHER_ROWS, ids=[r[0] for r in OTHER_ROWS]
)
def test_the_drawing_matches_the_other_packages_classes(
    name: str, code: str, module: str, parent: str | None
) -> None:
    cls = getattr(importlib.import_module(module), name)
    classes = {row[0]: row[2] for row in with_parents()}
    assert parent is not None
    parent_cls = getattr(importlib.import_module(classes[parent]), parent)
    assert issubclass(cls, parent_cls) and issubclass(cls, CxflowError)
    assert cls.code == code


def test_every_dsl_error_is_drawn() -> None:
    assert {row[0] for row in DSL_ROWS} == {
        "CxflowError",
        "InputError",
        "ConfigurationError",
        "UnavailableError",
        "JourneyInvalidError",
        "SegmentInvalidError",
        "SourceError",
        "ConditionError",
    }


def test_an_error_has_a_message_and_a_code_a_raise_may_refine() -> None:
    error = UnavailableError("the store is down: start it")
    assert (str(error), error.message, error.code) == (
        "the store is down: start it",
        "the store is down: start it",
        "service_unavailable",
    )
    refined = ConfigurationError("CXFLOW_SECRET is not set", code="secret_missing")
    assert refined.code == "secret_missing"
    assert ConfigurationError.code == "configuration_invalid"
    assert ConfigurationError("x").code == "configuration_invalid"
    assert CxflowError("x").code == "cxflow_error"


def test_an_invalid_journey_file_raises_journey_invalid_with_its_diagnostics(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.yaml"
    path.write_text(BROKEN)
    with pytest.raises(InputError) as caught:
        compile_file(path)
    error = caught.value
    assert isinstance(error, JourneyInvalidError) and isinstance(error, CxflowError)
    assert error.code == "journey_invalid"
    assert [d.code for d in error.diagnostics] == [DiagnosticCode.WAIT_INVALID]
    assert str(error) == error.message
    assert error.message.startswith(f"{path}:7:11: error: `wait` in step 'a' must be")


def test_journey_invalid_counts_the_other_errors() -> None:
    from dsl.loader import load_text

    result = load_text(BROKEN.replace("wait: 1", "wait: 1h") + "  - id: a\n    exit: {}\n")
    error = JourneyInvalidError(result.diagnostics)
    assert [d.code.value for d in result.errors] == ["unknown_step", "duplicate_step_id"]
    assert error.message == f"{result.errors[0].render()} (and 1 more)"


def test_an_invalid_segment_file_raises_segment_invalid(tmp_path: Path) -> None:
    path = tmp_path / "vip.yaml"
    path.write_text("segment: vip\nmatch: { performed: x }\n")
    with pytest.raises(SegmentInvalidError) as caught:
        compile_segment_file(path)
    assert isinstance(caught.value, InputError)
    assert caught.value.code == "segment_invalid"
    assert [d.code for d in caught.value.diagnostics] == [DiagnosticCode.FIELD_REQUIRED]


def test_unreadable_yaml_raises_source_error_with_the_diagnostic() -> None:
    with pytest.raises(SourceError) as caught:
        parse_yaml("a: [1\n", "f.yaml")
    assert isinstance(caught.value, InputError)
    assert caught.value.code == "yaml_unreadable"
    assert caught.value.diagnostic.code is DiagnosticCode.YAML_SYNTAX
    assert str(caught.value) == caught.value.diagnostic.render()


def test_a_condition_that_fails_at_run_time_raises_condition_error() -> None:
    program = compile_condition("customer.traits.age > 18")
    with pytest.raises(ConditionError) as caught:
        evaluate_condition(program, {"customer": {"traits": {}}}, lambda _: False)
    assert isinstance(caught.value, InputError)
    assert caught.value.code == "condition_invalid"
    assert str(caught.value).startswith("condition `customer.traits.age > 18` failed")


def test_errors_survive_pickling_with_their_attributes(tmp_path: Path) -> None:
    path = tmp_path / "j.yaml"
    path.write_text(BROKEN)
    with pytest.raises(JourneyInvalidError) as caught:
        compile_file(path)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is JourneyInvalidError
    assert (str(copy), copy.code, copy.diagnostics) == (
        str(caught.value),
        "journey_invalid",
        caught.value.diagnostics,
    )
    refined = pickle.loads(pickle.dumps(InputError("bad flag", code="usage")))
    assert (str(refined), refined.code) == ("bad flag", "usage")


def _project_modules() -> list[str]:
    root = Path(__file__).resolve().parents[2]
    names = []
    for package in ("dsl", "engine", "connectors", "workflows"):
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(root).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_every_error_class_of_cxflow_is_drawn() -> None:
    """A new error class must be drawn in dsl/errors.py, with its code and module."""
    for module in _project_modules():
        importlib.import_module(module)
    defined: set[tuple[str, str]] = set()
    stack: list[type[CxflowError]] = [CxflowError]
    while stack:
        cls = stack.pop()
        if cls.__module__.split(".")[0] in ("dsl", "engine", "connectors", "workflows"):
            defined.add((cls.__name__, cls.__module__))
        stack.extend(cls.__subclasses__())
    drawn = {(name, module) for name, _, module, _ in with_parents()}
    assert defined - drawn == set()
