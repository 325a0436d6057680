"""From a journey test file to its cases and the journey they test, with every problem
at its line and column.

Test files live in a ``tests/`` folder beside the journeys (``journeys/tests/
abandoned-cart.yaml``) and name their journey by id; the journey is the file
``<id>.yaml`` in the folder above, loaded and checked as `cxflow validate` does.
Names a case uses (steps, templates, experiments, variants, actions) must be the
journey's, so a renamed step fails the test file at once, not a run later. The
YAML reading, positions and messages are the journey validator's.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from dsl.case_models import (
    TIMELINE_KINDS,
    Case,
    Failure,
    JourneyTestFile,
    TimelineEvent,
    TimelineItem,
    TimelineSchedule,
    TimelineSegment,
    TimelineStart,
)
from dsl.codes import DiagnosticCode
from dsl.compiled import (
    ApiTriggerSpec,
    CallNode,
    CompiledJourney,
    EventTriggerSpec,
    ScheduleTriggerSpec,
    SegmentTriggerSpec,
    SendNode,
    SplitNode,
)
from dsl.diagnostics import Diagnostic, Severity, has_errors, sort_key
from dsl.loader import LoadResult, load_file
from dsl.model_paths import strip_tags
from dsl.schema import _editor_friendly
from dsl.segment_loader import declared_segments, find_segment_folder
from dsl.segment_models import CompiledSegment
from dsl.shape_errors import _translate as translate
from dsl.shape_errors import _without_misspelt_missing as without_misspelt_missing
from dsl.shape_errors import describe
from dsl.source import SourceDocument, SourceError, format_path, parse_yaml

MAX_FILE_BYTES = 2_000_000
TESTS_FOLDER = "tests"
SCHEMA_ID = "https://cxflow.dev/schemas/journey-test.schema.json"

_C = DiagnosticCode


@dataclass
class CaseFileResult:
    """A loaded test file: its cases, the journey they test, and every problem found."""

    file: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    tests: JourneyTestFile | None = None
    journey: CompiledJourney | None = None
    journey_file: str | None = None
    document: SourceDocument | None = None
    # Segments to deploy with the journey instead of the folder's (`cxflow simulate`).
    segments: list[CompiledSegment] | None = None

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics) and self.tests is not None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]


def case_files(paths: Iterable[Path]) -> list[Path]:
    """The test files named: a file as is; a folder's ``tests/`` folder (or the folder
    itself, when it is one) expanded to the .yaml files in it."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            folder = path if path.name == TESTS_FOLDER else path / TESTS_FOLDER
            if folder.is_dir():
                files += sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml"))
        else:
            files.append(path)
    return files


def load_case_file(path: Path | str) -> CaseFileResult:
    """Read, validate and check a test file against its journey."""
    path = Path(path)
    file = str(path)
    result = CaseFileResult(file=file)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return _failed(result, "the file is larger than 2 MB", _C.FILE_TOO_LARGE)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _failed(result, "there is no such file: check the path", _C.FILE_NOT_FOUND)
    except IsADirectoryError:
        return _failed(result, "this is a folder: name the test .yaml files", _C.FILE_IS_FOLDER)
    except UnicodeDecodeError:
        return _failed(result, "the file is not UTF-8 text: save it as UTF-8", _C.FILE_NOT_UTF8)
    except OSError as error:
        return _failed(
            result, f"cannot read the file: {error.strerror or error}", _C.FILE_UNREADABLE
        )
    try:
        document = parse_yaml(text, file)
    except SourceError as error:
        result.diagnostics.append(error.diagnostic)
        return result
    result.document = document
    if not isinstance(document.data, dict):
        what = "empty" if document.data is None else describe(document.data)
        return _failed(
            result,
            f"the file is {what}: a journey test is a mapping with `journey` and `cases` "
            "(see docs/testing-journeys.md)",
            _C.FILE_NOT_MAPPING,
        )
    try:
        tests = JourneyTestFile.model_validate(document.data)
    except ValidationError as error:
        result.diagnostics.extend(_shape_diagnostics(error, document))
        result.diagnostics.sort(key=sort_key)
        return result
    result.tests = tests
    journey_path = path.resolve().parent.parent / f"{tests.journey}.yaml"
    if path.resolve().parent.name != TESTS_FOLDER:
        journey_path = path.resolve().parent / f"{tests.journey}.yaml"
    result.journey_file = str(journey_path)
    if journey_path == path.resolve():
        result.diagnostics.append(
            document.diagnostic(
                ("journey",),
                f"this test file is named after its journey and sits beside it: move it into "
                f"a `{TESTS_FOLDER}/` folder next to {journey_path.name}",
                code=_C.CASE_JOURNEY_NOT_FOUND,
                context={"journey": tests.journey},
            )
        )
        return result
    if not journey_path.is_file():
        result.diagnostics.append(
            document.diagnostic(
                ("journey",),
                f"there is no journey file {journey_path.name} in {journey_path.parent}: a test "
                "file names the journey by the id its file is named after",
                code=_C.CASE_JOURNEY_NOT_FOUND,
                context={"journey": tests.journey},
            )
        )
        return result
    loaded = load_file(journey_path)
    if loaded.compiled is None:
        result.diagnostics.extend(_journey_errors(loaded, document))
        return result
    result.journey = loaded.compiled
    result.diagnostics.extend(check_cases(tests, loaded.compiled, document, path))
    result.diagnostics.sort(key=sort_key)
    return result


def check_cases(
    tests: JourneyTestFile, journey: CompiledJourney, document: SourceDocument, path: Path
) -> list[Diagnostic]:
    """Names the cases use that the journey does not have, each with a did-you-mean."""
    names = _JourneyNames.of(journey, path)
    problems: list[Diagnostic] = []
    for action in tests.answers:
        problems += names.action(document, ("answers", action), action, key=True)
    seen: dict[str, int] = {}
    for number, case in enumerate(tests.cases):
        problems += _check_case(case, ("cases", number), names, document)
        if case.customer.id is not None:
            if case.customer.id in seen:
                problems.append(
                    document.diagnostic(
                        ("cases", number, "customer", "id"),
                        f"case {seen[case.customer.id] + 1} has the customer id "
                        f"{case.customer.id!r} too: cases run side by side, each on its own "
                        "customer; give this one another id, or leave `id` out",
                        code=_C.CUSTOMER_ID_REPEATED,
                    )
                )
            seen.setdefault(case.customer.id, number)
    return problems


@dataclass(frozen=True)
class _JourneyNames:
    """What a case may name: the journey's steps, templates, experiments and actions."""

    journey: CompiledJourney
    segments: frozenset[str] | None

    @classmethod
    def of(cls, journey: CompiledJourney, path: Path) -> _JourneyNames:
        folder = find_segment_folder(path.resolve().parent)
        segments = None if folder is None else frozenset(declared_segments(folder))
        return cls(journey, segments)

    def step(
        self, document: SourceDocument, loc: tuple[str | int, ...], name: str
    ) -> list[Diagnostic]:
        return self._known(document, loc, name, list(self.journey.steps), "step", _C.UNKNOWN_STEP)

    def template(
        self, document: SourceDocument, loc: tuple[str | int, ...], name: str
    ) -> list[Diagnostic]:
        used = sorted(
            {
                n.template
                for n in self.journey.steps.values()
                if isinstance(n, SendNode) and n.template
            }
        )
        return self._known(document, loc, name, used, "template", _C.TEMPLATE_MISSING)

    def action(
        self, document: SourceDocument, loc: tuple[str | int, ...], name: str, *, key: bool = False
    ) -> list[Diagnostic]:
        called = sorted(
            {
                f"{n.connector}.{n.action}"
                for n in self.journey.steps.values()
                if isinstance(n, CallNode)
            }
        )
        return self._known(document, loc, name, called, "action", _C.UNKNOWN_ACTION, key=key)

    def segment(
        self, document: SourceDocument, loc: tuple[str | int, ...], name: str
    ) -> list[Diagnostic]:
        if self.segments is None:
            return []
        return self._known(
            document, loc, name, sorted(self.segments), "segment", _C.UNKNOWN_SEGMENT
        )

    def variant(
        self, document: SourceDocument, loc: tuple[str | int, ...], experiment: str, variant: str
    ) -> list[Diagnostic]:
        splits = {
            n.experiment: [v.name for v in n.variants]
            for n in self.journey.steps.values()
            if isinstance(n, SplitNode)
        }
        if experiment not in splits:
            return self._known(
                document,
                loc,
                experiment,
                sorted(splits),
                "experiment",
                _C.UNKNOWN_EXPERIMENT,
                key=True,
            )
        return self._known(
            document,
            loc,
            variant,
            splits[experiment],
            f"variant of {experiment}",
            _C.UNKNOWN_VARIANT,
        )

    def starts_by(
        self, document: SourceDocument, loc: tuple[str | int, ...], item: TimelineItem
    ) -> list[Diagnostic]:
        """An API start or a schedule tick on a journey that does not start that way."""
        trigger = self.journey.trigger
        if isinstance(item, TimelineStart) and not isinstance(trigger, ApiTriggerSpec):
            key, how = "start", "`api: {}`"
        elif isinstance(item, TimelineSchedule) and not isinstance(trigger, ScheduleTriggerSpec):
            key, how = "scheduled", "`schedule:`"
        else:
            return []
        if isinstance(trigger, EventTriggerSpec):
            instead = f"send its trigger's event instead (`event: {trigger.event}`)"
        elif isinstance(trigger, SegmentTriggerSpec):
            instead = f"enter its segment instead (`enter_segment: {trigger.segment}`)"
        elif isinstance(trigger, ScheduleTriggerSpec):
            instead = "let its schedule fire instead (`scheduled: {}`)"
        else:
            instead = "start it through the API instead (`start: {}`)"
        return [
            document.diagnostic(
                (*loc, key),
                f"journey {self.journey.id}'s trigger is not {how}, so a `{key}` cannot "
                f"start it: {instead}",
                code=_C.TIMELINE_TRIGGER_MISMATCH,
                key=True,
            )
        ]

    def _known(
        self,
        document: SourceDocument,
        loc: tuple[str | int, ...],
        name: str,
        known: Sequence[str],
        kind: str,
        code: DiagnosticCode,
        *,
        key: bool = False,
    ) -> list[Diagnostic]:
        if name in known:
            return []
        journey = self.journey.id
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        if close:
            hint = f"did you mean {close[0]!r}?"
        elif known:
            hint = "the journey's: " + ", ".join(known)
        else:
            hint = f"the journey has no {kind.split()[0]}s"
        return [
            document.diagnostic(
                loc,
                f"journey {journey} has no {kind} {name!r}: {hint}",
                code=code,
                context={"name": name},
                key=key,
            )
        ]


def _check_case(
    case: Case, at: tuple[str | int, ...], names: _JourneyNames, document: SourceDocument
) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    for experiment, variant in case.variants.items():
        problems += names.variant(document, (*at, "variants", experiment), experiment, variant)
    for action in case.answers:
        problems += names.action(document, (*at, "answers", action), action, key=True)
    for number, segment in enumerate(case.customer.segments):
        problems += names.segment(document, (*at, "customer", "segments", number), segment)
    for number, item in enumerate(case.timeline):
        where = (*at, "timeline", number)
        if isinstance(item, TimelineSegment):
            problems += names.segment(document, (*where, "enter_segment"), item.enter_segment)
        problems += names.starts_by(document, where, item)
    expect = case.expect
    if expect.ends == "running" and case.until is None:
        problems.append(
            document.diagnostic(
                (*at, "expect", "ends"),
                "`ends: running` needs the case's `until` (how long to let the run go on): "
                "without it every run is let finish",
                code=_C.VALUE_INVALID,
            )
        )
    for key in ("steps", "not_steps"):
        for number, step in enumerate(getattr(expect, key) or []):
            problems += names.step(document, (*at, "expect", key, number), step)
    for number, message in enumerate(expect.messages or []):
        where = (*at, "expect", "messages", number)
        if message.step is not None:
            problems += names.step(document, (*where, "step"), message.step)
        if message.template is not None:
            problems += names.template(document, (*where, "template"), message.template)
    for number, call in enumerate(expect.calls or []):
        where = (*at, "expect", "calls", number)
        problems += names.action(document, (*where, "call"), call.call)
        if call.step is not None:
            problems += names.step(document, (*where, "step"), call.step)
    for number, wait in enumerate(expect.waiting):
        problems += names.step(document, (*at, "expect", "waiting", number, "step"), wait.step)
    return problems


def check_answers(result: CaseFileResult, outputs: Mapping[str, type[BaseModel]]) -> None:
    """Add a diagnostic for every answer that is not what its action returns.

    ``outputs`` are the installed actions' output models (``shop.create_discount``:
    ``Discount``); actions without one take any object.
    """
    tests, document = result.tests, result.document
    if tests is None or document is None:
        return
    places: list[tuple[tuple[str | int, ...], str, object]] = [
        (("answers", action), action, answer) for action, answer in tests.answers.items()
    ]
    for number, case in enumerate(tests.cases):
        places += [
            (("cases", number, "answers", action), action, answer)
            for action, answer in case.answers.items()
        ]
    for loc, action, answer in places:
        model = outputs.get(action)
        if model is None or isinstance(answer, Failure):
            continue
        try:
            model.model_validate(answer)
        except ValidationError as error:
            fields = ", ".join(model.model_fields)
            problems = "; ".join(
                f"`{format_path(tuple(e['loc']))}` {e['msg'].lower()}" for e in error.errors()
            )
            result.diagnostics.append(
                document.diagnostic(
                    loc,
                    f"the answer for {action} is not what it returns: {problems} (its output "
                    f"has {fields})",
                    code=_C.ANSWER_INVALID,
                    context={"action": action},
                )
            )
    result.diagnostics.sort(key=sort_key)


def _journey_errors(loaded: LoadResult, document: SourceDocument) -> list[Diagnostic]:
    """The tested journey's own errors, as they are (its file, its lines), after one that
    says why this test file cannot run."""
    first = document.diagnostic(
        ("journey",),
        f"the journey {Path(loaded.file).name} has errors (each shown with its line): fix "
        "them, then test it",
        code=_C.CASE_JOURNEY_NOT_FOUND,
    )
    return [first, *loaded.errors]


def _shape_diagnostics(error: ValidationError, document: SourceDocument) -> list[Diagnostic]:
    seen: set[tuple[int, int, str]] = set()
    unique = []
    for details in without_misspelt_missing(error.errors()):
        diagnostic = _case_message(details, document) or translate(
            details, document, JourneyTestFile
        )
        key = (diagnostic.line, diagnostic.column, diagnostic.message)
        if key not in seen:
            seen.add(key)
            unique.append(diagnostic)
    return unique


def _case_message(details: ErrorDetails, document: SourceDocument) -> Diagnostic | None:
    loc = strip_tags(details["loc"], JourneyTestFile)
    if details["type"] != "timeline_kind":
        return None
    value = details["input"]
    kinds = ", ".join(f"`{k}`" for k in TIMELINE_KINDS)
    where = f"`{format_path(loc)}`"
    if isinstance(value, dict):
        present = [k for k in TIMELINE_KINDS if k in value]
        if len(present) > 1:
            message = (
                f"{where} has {' and '.join(f'`{k}`' for k in present)}: one thing happens per "
                "item; give each its own item with its own `at`"
            )
        else:
            close = [
                match
                for key in value
                for match in difflib.get_close_matches(str(key), TIMELINE_KINDS, n=1, cutoff=0.6)
            ]
            message = (
                f"{where} says nothing happens: did you mean `{close[0]}`?"
                if close
                else f"{where} says nothing happens: give it one of {kinds}, e.g. "
                "`{at: 2h, event: order.completed}`"
            )
    else:
        message = (
            f"{where} must be a mapping such as `{{at: 0, event: cart.updated}}`, not "
            f"{describe(value)}"
        )
    return document.diagnostic(loc, message, code=_C.TIMELINE_KIND)


def trigger_example(journey_file: Path, event: str) -> dict[str, Any] | None:
    """The properties of an ``event`` that a case of the journey's test file sends first
    and expects to enter: a trigger that works, for hints such as `cxflow dev`'s."""
    path = journey_file.parent / TESTS_FOLDER / journey_file.name
    if not path.is_file():
        return None
    tests = load_case_file(path).tests
    for case in tests.cases if tests is not None else []:
        first = case.timeline[0]
        if case.expect.entered and isinstance(first, TimelineEvent) and first.event == event:
            return dict(first.properties)
    return None


def case_json_schema() -> dict[str, Any]:
    """The schema the `# yaml-language-server: $schema=...` line of a test file points at."""
    raw = JourneyTestFile.model_json_schema(mode="validation", by_alias=True)
    schema = _editor_friendly(raw, raw.get("$defs", {}))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "cxflow journey test",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def case_json_schema_text() -> str:
    return json.dumps(case_json_schema(), indent=2) + "\n"


def _failed(result: CaseFileResult, message: str, code: DiagnosticCode) -> CaseFileResult:
    result.diagnostics.append(
        Diagnostic(file=result.file, line=1, column=1, path="", message=message, code=code)
    )
    return result
