"""From a journey file to a compiled journey, collecting every diagnostic on the way.

The stages are YAML (syntax, positions), shape (pydantic models), whole-journey
checks and compilation. A journey is compiled only when no stage found an error,
so nothing invalid is ever deployed or run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from dsl.catalog import ConnectorCatalog
from dsl.checks import check_journey
from dsl.codes import DiagnosticCode
from dsl.compiled import CompiledJourney
from dsl.compiler import compile_journey
from dsl.diagnostics import Diagnostic, JourneyInvalidError, Severity, has_errors, sort_key
from dsl.models import Journey
from dsl.segment_loader import declared_segments, find_segment_folder
from dsl.segment_refs import check_segment_references
from dsl.shape_errors import describe, diagnostics_from
from dsl.source import SourceError, parse_yaml
from dsl.templates import TemplateStore, find_template_store

MAX_FILE_BYTES = 2_000_000


@dataclass(frozen=True)
class SegmentNames:
    """The segments a ``segments/`` folder declares, for checking the names journeys use."""

    folder: str
    names: set[str]

    @classmethod
    def beside(cls, journey_file: Path) -> SegmentNames | None:
        folder = find_segment_folder(journey_file)
        return None if folder is None else cls(str(folder), declared_segments(folder))


@dataclass
class LoadResult:
    """The outcome of loading one journey file."""

    file: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    journey: Journey | None = None
    compiled: CompiledJourney | None = None

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]


def load_text(
    text: str,
    file: str = "<journey>",
    *,
    templates: TemplateStore | None = None,
    catalog: ConnectorCatalog | None = None,
    missing_connectors: Severity = Severity.ERROR,
    segments: SegmentNames | None = None,
) -> LoadResult:
    """Validate and compile journey YAML text.

    ``segments`` are the declared segments the journey may name (unchecked when None);
    a name not among them is reported with the severity of ``missing_connectors``.
    """
    result = LoadResult(file=file)
    try:
        document = parse_yaml(text, file)
    except SourceError as error:
        result.diagnostics.append(error.diagnostic)
        return result
    data = document.data
    if not isinstance(data, dict):
        what = "empty" if data is None else f"{describe(data)}"
        result.diagnostics.append(
            Diagnostic(
                file=file,
                line=1,
                column=1,
                path="",
                message=f"the file is {what}: a journey is a mapping with at least `journey`, "
                "`name`, `trigger` and `steps` (see docs/dsl-reference.md)",
                code=DiagnosticCode.FILE_NOT_MAPPING,
            )
        )
        return result
    try:
        journey = Journey.model_validate(data)
    except ValidationError as error:
        result.diagnostics.extend(diagnostics_from(error, document))
        result.diagnostics.sort(key=sort_key)
        return result
    result.journey = journey
    checked = check_journey(journey, document, templates, catalog, missing_connectors)
    result.diagnostics.extend(checked.diagnostics)
    if segments is not None:
        result.diagnostics.extend(
            check_segment_references(document, segments.names, segments.folder, missing_connectors)
        )
    result.diagnostics.sort(key=sort_key)
    if result.ok:
        result.compiled = compile_journey(journey, checked.templates)
    return result


def load_file(
    path: Path | str,
    *,
    templates: TemplateStore | bool | None = True,
    catalog: ConnectorCatalog | None = None,
    missing_connectors: Severity = Severity.ERROR,
    segments: SegmentNames | bool | None = True,
) -> LoadResult:
    """Validate and compile a journey file.

    ``templates=True`` looks for a ``templates/`` folder next to the file (or one level up);
    pass a store to use another, or None to skip template checks. ``segments=True`` checks
    the segment names against a ``segments/`` folder beside the journey's folder (or in
    it), when there is one.
    """
    path = Path(path)
    file = str(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return _failed(
                file,
                f"the file is larger than {MAX_FILE_BYTES // 1_000_000} MB: "
                "a journey file is short YAML",
                DiagnosticCode.FILE_TOO_LARGE,
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _failed(file, "there is no such file: check the path", DiagnosticCode.FILE_NOT_FOUND)
    except IsADirectoryError:
        return _failed(
            file,
            "this is a folder: name the journey .yaml files, or use a glob",
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
    store: TemplateStore | None
    if templates is True:
        store = find_template_store(path)
    elif templates is False:
        store = None
    else:
        store = templates
    names = SegmentNames.beside(path) if segments is True else segments or None
    return load_text(
        text,
        file,
        templates=store,
        catalog=catalog,
        missing_connectors=missing_connectors,
        segments=names,
    )


def compile_file(path: Path | str, *, catalog: ConnectorCatalog | None = None) -> CompiledJourney:
    """The compiled journey of a file; raises :class:`JourneyInvalidError` on any error."""
    result = load_file(path, catalog=catalog)
    if result.compiled is None:
        raise JourneyInvalidError(result.diagnostics)
    return result.compiled


def _failed(file: str, message: str, code: DiagnosticCode) -> LoadResult:
    diagnostic = Diagnostic(file=file, line=1, column=1, path="", message=message, code=code)
    return LoadResult(file=file, diagnostics=[diagnostic])
