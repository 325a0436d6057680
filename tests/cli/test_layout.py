"""engine/cli's shape: the app registers the area modules, which never import it, and no
command hides an import of a project module inside a function (a deferred import keeps
an import cycle alive where no reader sees it)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

CLI = Path(__file__).resolve().parents[2] / "engine" / "cli"
MODULES = sorted(CLI.glob("*.py"))
PROJECT_PACKAGES = {"dsl", "engine", "connectors", "workflows", "worker"}


def module_name(path: Path) -> str:
    return "engine.cli" if path.stem == "__init__" else f"engine.cli.{path.stem}"


def imported_modules(node: ast.AST) -> list[tuple[str, int]]:
    """Every module ``node`` imports (``from x import y``: x and x.y), with the line."""
    found: list[tuple[str, int]] = []
    for child in ast.walk(node):
        if isinstance(child, ast.Import):
            found += [(alias.name, child.lineno) for alias in child.names]
        elif isinstance(child, ast.ImportFrom):
            base = child.module or ""
            assert child.level == 0, f"relative import at line {child.lineno}"
            found += [(base, child.lineno)]
            found += [(f"{base}.{alias.name}", child.lineno) for alias in child.names]
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_every_cli_module_imports(path: Path) -> None:
    importlib.import_module(module_name(path))


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_no_area_module_imports_the_app(path: Path) -> None:
    if path.stem == "main":
        return
    tree = ast.parse(path.read_text(encoding="utf-8"))
    wrong = [line for name, line in imported_modules(tree) if name == "engine.cli.main"]
    assert wrong == [], f"{path.name} imports engine.cli.main (lines {wrong})"


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_no_function_imports_a_project_module(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    wrong = [
        f"{function.name} imports {name} (line {line})"
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        for name, line in imported_modules(function)
        if name.split(".")[0] in PROJECT_PACKAGES
    ]
    assert wrong == []


def test_the_checks_see_a_function_level_import() -> None:
    tree = ast.parse("def f():\n    from engine.cli.main import app\n")
    [function] = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    assert ("engine.cli.main", 2) in imported_modules(function)
