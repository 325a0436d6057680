"""Diagnostics: what the validator tells the person who wrote a journey file.

Every problem found in a journey becomes one :class:`Diagnostic` that names the
file, line and column, says what is wrong and what to write instead. All the
problems of a file are collected before anything is reported, so a journey
author fixes a file in one pass instead of one error at a time. Each diagnostic has a
stable ``code`` (see :mod:`dsl.codes`) beside its message, and in ``context`` the values
the message names, so programs never need to read the message.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from dsl.codes import DiagnosticCode
from dsl.errors import InputError


class Severity(StrEnum):
    """An error stops a journey from being compiled or deployed; a warning does not."""

    ERROR = "error"
    WARNING = "warning"


class Diagnostic(BaseModel):
    """One problem in a journey file, at a 1-based line and column.

    ``code`` names the kind of problem and is stable; ``context`` holds the values the
    message names (e.g. ``{"kind": "channel", "name": "sms"}``), like pydantic's ``ctx``.
    """

    model_config = ConfigDict(frozen=True)

    file: str
    line: int
    column: int
    path: str
    message: str
    code: DiagnosticCode
    context: dict[str, str] = Field(default_factory=dict)
    severity: Severity = Severity.ERROR

    def render(self) -> str:
        """The one-line form editors and CI logs understand: ``file:line:col: error: ...``."""
        return f"{self.file}:{self.line}:{self.column}: {self.severity.value}: {self.message}"


class JourneyInvalidError(InputError):
    """Raised when a journey file has errors; carries every diagnostic of the file."""

    code = "journey_invalid"

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        errors = [d for d in diagnostics if d.severity is Severity.ERROR]
        first = errors[0].render() if errors else "no errors"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first}{more}")


def sort_key(diagnostic: Diagnostic) -> tuple[str, int, int, str]:
    """Report problems in reading order."""
    return (diagnostic.file, diagnostic.line, diagnostic.column, diagnostic.message)


def has_errors(diagnostics: list[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diagnostics)
