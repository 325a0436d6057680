"""The results of a rehearsal as `cxflow test` prints them, and as JUnit XML for CI."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.rehearsal.runner import CaseRun
from engine.rehearsal.verdicts import Coverage


@dataclass(frozen=True)
class CaseResult:
    run: CaseRun
    failures: list[str]
    seconds: float

    @property
    def passed(self) -> bool:
        return not self.failures


def text_lines(results: Sequence[CaseResult]) -> list[tuple[str, str]]:
    """(style, line) pairs: per file its cases, a tick or a cross, then each failure."""
    lines: list[tuple[str, str]] = []
    current: str | None = None
    for result in results:
        if result.run.file.file != current:
            current = result.run.file.file
            lines.append(("bold", current))
        if result.passed:
            lines.append(("green", f"  ✓ {result.run.name}"))
        else:
            lines.append(("red", f"  ✗ {result.run.name}"))
            lines += [("red", f"      - {failure}") for failure in result.failures]
    return lines


def coverage_line(found: Coverage) -> str:
    line = f"coverage {found.journey}: {found.reached}/{found.steps} steps"
    if found.missed_steps:
        line += f"; no case reaches {', '.join(found.missed_steps)}"
    if found.missed_routes:
        line += f"; no case takes {', '.join(found.missed_routes)}"
    return line


def summary(results: Sequence[CaseResult], seconds: float) -> str:
    failed = sum(not r.passed for r in results)
    files = len({r.run.file.file for r in results})
    text = f"{len(results)} case(s) in {files} file(s): {len(results) - failed} passed"
    if failed:
        text += f", {failed} failed"
    return f"{text} ({seconds:.1f}s)"


def write_junit(results: Sequence[CaseResult], path: Path) -> None:
    """One <testsuite> per test file, one <testcase> per case, a <failure> per case failed."""
    suites = ET.Element("testsuites", name="cxflow test")
    by_file: dict[str, list[CaseResult]] = {}
    for result in results:
        by_file.setdefault(result.run.file.file, []).append(result)
    for file, cases in by_file.items():
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=file,
            tests=str(len(cases)),
            failures=str(sum(not c.passed for c in cases)),
            errors="0",
            time=f"{sum(c.seconds for c in cases):.3f}",
        )
        for case in cases:
            element = ET.SubElement(
                suite,
                "testcase",
                classname=Path(file).stem,
                name=case.run.name,
                file=file,
                time=f"{case.seconds:.3f}",
            )
            if not case.passed:
                failure = ET.SubElement(element, "failure", message=case.failures[0])
                failure.text = "\n".join(case.failures)
    ET.indent(suites)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
