"""From a segment file to a compiled segment, with every problem at its line and column.

Segment files live in a ``segments/`` folder beside ``journeys/``, one segment
per file named ``<segment id>.yaml``; the name rule is what lets a journey be
checked against the segments it names without reading every segment file.
The YAML reading, positions and messages are the journey validator's.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from dsl.codes import DiagnosticCode
from dsl.diagnostics import Diagnostic, Severity, has_errors, sort_key
from dsl.errors import InputError
from dsl.model_paths import strip_tags
from dsl.schema import _editor_friendly
from dsl.segment_models import CONDITION_KINDS, CompiledSegment, Segment, compile_segment
from dsl.shape_errors import _translate as translate
from dsl.shape_errors import _without_misspelt_missing as without_misspelt_missing
from dsl.shape_errors import describe
from dsl.source import SourceDocument, SourceError, format_path, parse_yaml

MAX_FILE_BYTES = 1_000_000
SEGMENT_SUFFIXES = (".yaml", ".yml")
SEGMENTS_FOLDER = "segments"
SCHEMA_ID = "https://cxflow.dev/schemas/segment.schema.json"

EXAMPLES = {
    "segment": "segment: vip",
    "name": "name: VIP customers",
    "match": "match: { trait: plan, equals: pro }",
    "of": "of: order.completed",
    "trait": "trait: plan",
}


class SegmentInvalidError(InputError):
    """A segment file has errors; carries every diagnostic of the file."""

    code = "segment_invalid"

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        errors = [d for d in diagnostics if d.severity is Severity.ERROR]
        first = errors[0].render() if errors else "no errors"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first}{more}")


@dataclass
class SegmentLoadResult:
    """The outcome of loading one segment file."""

    file: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    compiled: CompiledSegment | None = None

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]


def load_segment_text(
    text: str, file: str = "<segment>", expected_id: str | None = None
) -> SegmentLoadResult:
    """Validate and compile segment YAML; ``expected_id`` is the id its file name gives."""
    result = SegmentLoadResult(file=file)
    try:
        document = parse_yaml(text, file)
    except SourceError as error:
        result.diagnostics.append(error.diagnostic)
        return result
    data = document.data
    if not isinstance(data, dict):
        what = "empty" if data is None else describe(data)
        result.diagnostics.append(
            Diagnostic(
                file=file,
                line=1,
                column=1,
                path="",
                message=f"the file is {what}: a segment is a mapping with `segment`, `name` "
                "and `match` (see docs/segments.md)",
                code=DiagnosticCode.FILE_NOT_MAPPING,
            )
        )
        return result
    try:
        segment = Segment.model_validate(data)
    except ValidationError as error:
        result.diagnostics.extend(_diagnostics(error, document))
        result.diagnostics.sort(key=sort_key)
        return result
    if expected_id is not None and segment.segment != expected_id:
        result.diagnostics.append(
            document.diagnostic(
                ("segment",),
                f"the file is named {expected_id}.yaml but declares segment "
                f"'{segment.segment}': journeys find a segment by its file name, so rename "
                f"the file to {segment.segment}.yaml or write `segment: {expected_id}`",
                code=DiagnosticCode.SEGMENT_ID_MISMATCH,
                context={"expected": expected_id, "declared": segment.segment},
            )
        )
        return result
    result.compiled = compile_segment(segment)
    return result


def load_segment_file(path: Path | str) -> SegmentLoadResult:
    """Validate and compile a segment file; its file name must be its segment id."""
    path = Path(path)
    file = str(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return _failed(
                file,
                "the file is larger than 1 MB: a segment file is short YAML",
                DiagnosticCode.FILE_TOO_LARGE,
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _failed(file, "there is no such file: check the path", DiagnosticCode.FILE_NOT_FOUND)
    except IsADirectoryError:
        return _failed(
            file,
            "this is a folder: name the segment .yaml files in it",
            DiagnosticCode.FILE_IS_FOLDER,
        )
    except UnicodeDecodeError:
        return _failed(
            file, "the file is not UTF-8 text: save it as UTF-8", DiagnosticCode.FILE_NOT_UTF8
        )
    except OSError as error:
        return _failed(
            file,
            f"cannot read the file: {error.strerror or error}",
            DiagnosticCode.FILE_UNREADABLE,
        )
    return load_segment_text(text, file, expected_id=path.stem)


def compile_segment_file(path: Path | str) -> CompiledSegment:
    """The compiled segment of a file; raises :class:`SegmentInvalidError` on any error."""
    result = load_segment_file(path)
    if result.compiled is None:
        raise SegmentInvalidError(result.diagnostics)
    return result.compiled


def segment_files(paths: Iterable[Path]) -> list[Path]:
    """Files named, with folders expanded to the .yaml files directly inside them."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                p for p in path.iterdir() if p.suffix in SEGMENT_SUFFIXES and p.is_file()
            )
        else:
            files.append(path)
    return files


def is_segment_path(path: Path) -> bool:
    """A ``segments/`` folder, or a file inside one: what `cxflow deploy` treats as segments."""
    return path.name == SEGMENTS_FOLDER if path.is_dir() else path.parent.name == SEGMENTS_FOLDER


def find_segment_folder(journey_file: Path) -> Path | None:
    """The ``segments/`` folder beside the journey's folder (or inside it), if there is one."""
    for folder in (journey_file.parent.parent, journey_file.parent):
        candidate = folder / SEGMENTS_FOLDER
        if candidate.is_dir():
            return candidate
    return None


def declared_segments(folder: Path) -> set[str]:
    """The segment ids a folder declares: its file names (the loader enforces the match)."""
    return {p.stem for p in segment_files([folder])}


def segment_json_schema() -> dict[str, Any]:
    """The schema the `# yaml-language-server: $schema=...` line of a segment points at."""
    raw = Segment.model_json_schema(mode="validation", by_alias=True)
    schema = _editor_friendly(raw, raw.get("$defs", {}))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "cxflow segment",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def segment_json_schema_text() -> str:
    return json.dumps(segment_json_schema(), indent=2) + "\n"


# --- messages ---------------------------------------------------------------------------------


def _diagnostics(error: ValidationError, document: SourceDocument) -> list[Diagnostic]:
    """The journey validator's messages, with the segment-specific cases worded here."""
    seen: set[tuple[int, int, str]] = set()
    unique = []
    for details in without_misspelt_missing(error.errors()):
        diagnostic = _segment_message(details, document) or translate(details, document, Segment)
        key = (diagnostic.line, diagnostic.column, diagnostic.message)
        if key not in seen:
            seen.add(key)
            unique.append(diagnostic)
    return unique


def _where(path: tuple[str | int, ...]) -> str:
    return f"`{format_path(path)}`" if path else "the segment"


def _segment_message(details: ErrorDetails, document: SourceDocument) -> Diagnostic | None:
    loc = strip_tags(details["loc"], Segment)
    kind = details["type"]
    if kind == "missing":
        missing = str(loc[-1])
        example = EXAMPLES.get(missing, f"{missing}: ...")
        where = _where(document.locate(loc[:-1]).path)
        return document.diagnostic(
            loc,
            f"{where} is missing `{missing}`: add `{example}`",
            code=DiagnosticCode.FIELD_REQUIRED,
            context={"key": missing},
        )
    if kind == "condition_kind":
        code, message = _kind_message(details["input"], _where(loc))
        return document.diagnostic(loc, message, code=code)
    if kind == "too_short" and loc and loc[-1] in ("all", "any", "in", "not_in"):
        return document.diagnostic(
            loc,
            f"{_where(loc)} is empty: write at least one item, or remove it",
            code=DiagnosticCode.LIST_TOO_SHORT,
        )
    return None


def _kind_message(value: Any, where: str) -> tuple[DiagnosticCode, str]:
    kinds = ", ".join(CONDITION_KINDS)
    example = "e.g. `{trait: plan, equals: pro}` or `{count: order.completed, at_least: 2}`"
    if not isinstance(value, dict):
        return DiagnosticCode.CONDITION_KIND_MISSING, (
            f"{where} must be a condition, a mapping with one of {kinds} ({example}), "
            f"not {describe(value)}"
        )
    present = [k for k in CONDITION_KINDS if k in value]
    if len(present) > 1:
        both = " and ".join(f"`{k}`" for k in present)
        return DiagnosticCode.CONDITION_KIND_CONFLICT, (
            f"{where} has both {both}: a condition tests one thing; put several in "
            "`all: [...]` or `any: [...]`"
        )
    for key in value:
        close = difflib.get_close_matches(str(key), CONDITION_KINDS, n=1, cutoff=0.6)
        if close:
            return (
                DiagnosticCode.CONDITION_KIND_MISSING,
                f"{where} has no condition: `{key}` is not one; did you mean `{close[0]}`?",
            )
    return (
        DiagnosticCode.CONDITION_KIND_MISSING,
        f"{where} has no condition: start it with one of {kinds} ({example})",
    )


def _failed(file: str, message: str, code: DiagnosticCode) -> SegmentLoadResult:
    diagnostic = Diagnostic(file=file, line=1, column=1, path="", message=message, code=code)
    return SegmentLoadResult(file=file, diagnostics=[diagnostic])
