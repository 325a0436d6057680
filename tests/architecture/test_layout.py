"""The code's shape: no import cycles, small modules, layers that only point one way.

The import graph is built from the source with ``ast``, counting imports inside
functions and under ``TYPE_CHECKING`` too: a cycle hidden behind a deferred import
is still a cycle a reader has to untangle.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("dsl", "engine", "connectors", "workflows")
MAX_ENGINE_MODULE_LINES = 600


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    modules = {module_name(REPO / "worker.py"): REPO / "worker.py"}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            modules[module_name(path)] = path
    return modules


def imported(path: Path, name: str, modules: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """The project modules ``path`` imports (anywhere in it), with the line."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from engine.api.routes import events` imports the submodule `events`;
            # `from engine.store import Store` imports `engine.store` itself.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        for target in dict.fromkeys(targets):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target, node.lineno


def graph() -> dict[str, dict[str, int]]:
    modules = project_modules()
    edges: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        edges[name] = {}
        for target, line in imported(path, name, modules):
            edges[name].setdefault(target, line)
    return edges


def find_cycle(edges: dict[str, dict[str, int]]) -> list[str] | None:
    """One import cycle, as the list of modules around it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges.get(node, {})):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_and_reports_its_modules() -> None:
    edges = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}
    assert find_cycle(edges) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": 1}, "b": {}}) is None


def test_function_level_imports_count_as_edges(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from engine.store import Store\n", encoding="utf-8")
    modules = {"m": source, "engine.store": REPO / "engine" / "store" / "__init__.py"}
    assert list(imported(source, "m", modules)) == [("engine.store", 2)]


def test_no_import_cycle_among_project_modules() -> None:
    edges = graph()
    cycle = find_cycle(edges)
    where = (
        [f"{a} imports {b} (line {edges[a][b]})" for a, b in itertools.pairwise(cycle)]
        if cycle
        else []
    )
    assert cycle is None, "import cycle:\n  " + "\n  ".join(where)


@pytest.mark.parametrize(
    ("package", "must_not_import"),
    [
        ("dsl", ("engine", "connectors", "workflows", "worker")),
        ("workflows", ("engine", "connectors", "worker")),
        ("connectors", ("engine", "workflows", "worker")),
        ("engine", ("worker",)),
    ],
)
def test_layers_point_one_way(package: str, must_not_import: tuple[str, ...]) -> None:
    wrong = [
        f"{name} imports {target} (line {line})"
        for name, targets in graph().items()
        if name == package or name.startswith(f"{package}.")
        for target, line in targets.items()
        if target.split(".")[0] in must_not_import
    ]
    assert wrong == []


def test_no_engine_module_is_over_600_lines() -> None:
    long = {
        str(path.relative_to(REPO)): lines
        for path in (REPO / "engine").rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_ENGINE_MODULE_LINES
    }
    assert long == {}


def test_connectors_serve_their_own_routes() -> None:
    """Shopify's webhooks and the survey pages belong to their connectors, not to engine/."""
    engine_paths = [
        str(path.relative_to(REPO))
        for path in (REPO / "engine").rglob("*.py")
        if any(
            marker in path.read_text(encoding="utf-8")
            for marker in ('"/v1/webhooks/shopify"', '"/v1/surveys/{token}"')
        )
    ]
    assert engine_paths == []
