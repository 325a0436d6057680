"""Journeys against the segments they name: a name no segment file declares is reported.

A journey names segments in its trigger (``segment:``), in ``entry.segment`` and in
conditions (``segment('vip')``). A misspelt name would never match anyone, silently;
so, like channels no connector provides, it is a warning where journeys are only
checked and an error where they are deployed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import Any

from dsl.codes import DiagnosticCode
from dsl.diagnostics import Diagnostic, Severity
from dsl.source import SourceDocument

_SEGMENT_CALL = re.compile(r"""\bsegment\(\s*(?:'([^']*)'|"([^"]*)")\s*\)""")


def segment_references(data: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every segment a journey's data names, with where: keys ``segment`` and CEL calls."""
    yield from _walk(data, ())


def _walk(node: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            here = (*path, key)
            if key == "segment" and isinstance(value, str) and path in (("trigger",), ("entry",)):
                yield here, value
            elif key == "when" and isinstance(value, str):
                for match in _SEGMENT_CALL.finditer(value):
                    yield here, match.group(1) if match.group(1) is not None else match.group(2)
            else:
                yield from _walk(value, here)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _walk(item, (*path, index))


def check_segment_references(
    document: SourceDocument, declared: set[str], folder: str, severity: Severity
) -> list[Diagnostic]:
    """One diagnostic per reference to a segment ``declared`` does not hold."""
    found = []
    for path, name in segment_references(document.data):
        if name in declared:
            continue
        close = difflib.get_close_matches(name, sorted(declared), n=1)
        hint = (
            f"did you mean '{close[0]}'?"
            if close
            else f"add {folder}/{name}.yaml (see docs/segments.md)"
        )
        diagnostic = document.diagnostic(
            path,
            f"no segment file declares the segment '{name}' in {folder}/: {hint}",
            code=DiagnosticCode.UNKNOWN_SEGMENT,
            context={"segment": name},
        )
        found.append(diagnostic.model_copy(update={"severity": severity}))
    return found
