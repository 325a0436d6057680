"""Liquid message templates: template files, syntax checks and the variables they use.

Liquid is the template language marketers already know from Braze, Customer.io
and Shopify. A template lives in ``templates/<name>.yaml`` beside the journeys
(subject, body, html, each Liquid); a ``send`` step names it and may override
any part inline. Templates are copied into the compiled journey, so a run in
flight keeps the text it started with.

An email's HTML may be written as MJML instead (``templates/<name>.mjml`` beside the
YAML, which then has no ``html:``): it is compiled to responsive HTML here, when the
journey is loaded (``cxflow validate``, ``deploy``), by MRML (``mjml-python``), with the
Liquid left in place to render per customer. Compiling takes well under a millisecond,
but doing it once keeps a compile error out of the send path: a broken ``.mjml`` is a
diagnostic at deploy, not a failed message. ``<mj-include path="_footer.mjml"/>`` reads
partials (names starting with ``_``) from the same folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import liquid
import mjml
from liquid.exceptions import LiquidError
from pydantic import Field, ValidationError

from dsl.codes import DiagnosticCode
from dsl.diagnostics import Diagnostic
from dsl.models import DslModel
from dsl.shape_errors import diagnostics_from
from dsl.source import SourceError, parse_yaml

LIQUID = liquid.Environment()


class Template(DslModel):
    """A reusable message: each part is Liquid over customer, event and saved results."""

    description: str = Field(default="", description="What the template is for.")
    subject: str | None = Field(default=None, description="Subject line (email, push title).")
    body: str | None = Field(default=None, description="Plain-text message.")
    html: str | None = Field(default=None, description="HTML message (email).")

    def parts(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (("subject", self.subject), ("body", self.body), ("html", self.html))
            if v is not None
        }


@dataclass(frozen=True)
class LiquidProblem:
    """A problem in Liquid text, its kind, and its 0-based character offset where known."""

    message: str
    code: DiagnosticCode
    offset: int | None = None
    context: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LiquidInfo:
    """What a piece of Liquid text needs: root variable names."""

    variables: frozenset[str]


def check_liquid(text: str) -> tuple[LiquidInfo, list[LiquidProblem]]:
    """Parse Liquid text; report syntax errors and unknown filters, list root variables."""
    try:
        template = LIQUID.from_string(text)
    except LiquidError as error:
        token = getattr(error, "token", None)
        offset = getattr(token, "start_index", None) if token is not None else None
        message = (getattr(error, "message", None) or str(error) or "syntax error").splitlines()[0]
        return LiquidInfo(frozenset()), [
            LiquidProblem(
                f"the Liquid template does not parse: {message}",
                DiagnosticCode.LIQUID_SYNTAX,
                offset if isinstance(offset, int) and offset >= 0 else None,
            )
        ]
    problems: list[LiquidProblem] = []
    try:
        filters = template.filter_names()
        roots = frozenset(str(v).split(".")[0].split("[")[0] for v in template.global_variables())
    except LiquidError:  # analysis loads partials: {% render %} and {% include %}
        return LiquidInfo(frozenset()), [
            LiquidProblem(
                "messages cannot {% render %} or {% include %} other templates: write the "
                "text into this one",
                DiagnosticCode.LIQUID_INCLUDE,
            )
        ]
    for name in filters:
        if name not in LIQUID.filters:
            import difflib

            close = difflib.get_close_matches(name, sorted(LIQUID.filters), n=1)
            hint = f"did you mean `{close[0]}`?" if close else "see the Liquid filter list"
            problems.append(
                LiquidProblem(
                    f"the Liquid filter `{name}` does not exist: {hint}",
                    DiagnosticCode.UNKNOWN_LIQUID_FILTER,
                    context={"filter": name},
                )
            )
    return LiquidInfo(roots), problems


PARTIAL_NAME = re.compile(r"_[a-z0-9][a-z0-9_-]*\.mjml")
_POSITION = re.compile(r" at position (\d+):(\d+)$")


@dataclass(frozen=True)
class MjmlProblem:
    """Why MJML does not compile, and the 0-based character offset where known."""

    message: str
    offset: int | None = None


def compile_mjml(source: str, folder: Path | None = None) -> tuple[str | None, MjmlProblem | None]:
    """(HTML, None), or (None, the problem): MJML to responsive HTML, Liquid left as text.

    ``folder`` is where ``<mj-include>`` partials are read from; without it includes fail.
    """

    def include(path: str) -> str:
        name = path.removeprefix("./")
        if folder is None or not PARTIAL_NAME.fullmatch(name):
            raise ValueError(f"cannot include {path!r}")
        return (folder / name).read_text(encoding="utf-8")

    if not source.lstrip().startswith("<mjml"):
        return None, MjmlProblem("an MJML template starts with <mjml>", 0)
    try:
        return mjml.mjml2html(source, disable_comments=True, include_loader=include), None
    except ValueError as error:
        text = str(error).strip() or "it does not parse"
        found = _POSITION.search(text)
        offset = int(found.group(1)) if found else None
        text = _POSITION.sub("", text).removesuffix(" in root template")
        if "included template" in text:
            text += " (partials are _<name>.mjml files in the same folder)"
        return None, MjmlProblem(text, offset)


def line_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a 0-based character offset."""
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


class TemplateStore(Protocol):
    """Where ``send`` steps find the templates they name."""

    def names(self) -> list[str]: ...

    def load(self, name: str) -> tuple[Template | None, list[Diagnostic]]: ...


class FileTemplateStore:
    """Templates as ``<name>.yaml`` files in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.yaml"))

    def path_of(self, name: str) -> Path:
        return self.folder / f"{name}.yaml"

    def mjml_of(self, name: str) -> Path:
        return self.folder / f"{name}.mjml"

    def load(self, name: str) -> tuple[Template | None, list[Diagnostic]]:
        """The template, or None with the diagnostics of a broken template file."""

        path = self.path_of(name)
        if not path.is_file():
            return None, []
        try:
            document = parse_yaml(path.read_text(encoding="utf-8"), str(path))
        except SourceError as error:
            return None, [error.diagnostic]
        except (OSError, UnicodeDecodeError) as error:
            return None, [
                Diagnostic(
                    file=str(path),
                    line=1,
                    column=1,
                    path="",
                    message=f"cannot read the template: {error}",
                    code=DiagnosticCode.FILE_UNREADABLE,
                )
            ]
        try:
            template = Template.model_validate(document.data)
        except ValidationError as error:
            return None, diagnostics_from(error, document, Template)
        mjml_path = self.mjml_of(name)
        if not mjml_path.is_file():
            return template, []
        if template.html is not None:
            return None, [
                _problem(
                    path,
                    1,
                    1,
                    f"{name}.yaml has an `html:` and {name}.mjml is beside it: keep one of "
                    "them (the .mjml is compiled into the HTML)",
                    DiagnosticCode.MJML_INVALID,
                )
            ]
        try:
            source = mjml_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            return None, [
                _problem(
                    mjml_path,
                    1,
                    1,
                    f"cannot read the template: {error}",
                    DiagnosticCode.FILE_UNREADABLE,
                )
            ]
        html, problem = compile_mjml(source, self.folder)
        if problem is not None:
            line, column = line_column(source, problem.offset) if problem.offset else (1, 1)
            return None, [
                _problem(
                    mjml_path,
                    line,
                    column,
                    f"the MJML does not compile: {problem.message}",
                    DiagnosticCode.MJML_INVALID,
                )
            ]
        return template.model_copy(update={"html": html}), []


def _problem(path: Path, line: int, column: int, message: str, code: DiagnosticCode) -> Diagnostic:
    return Diagnostic(file=str(path), line=line, column=column, path="", message=message, code=code)


def find_template_store(journey_file: Path) -> FileTemplateStore | None:
    """The ``templates/`` folder next to a journey file or one level up, if there is one."""
    for folder in (journey_file.parent, journey_file.parent.parent):
        candidate = folder / "templates"
        if candidate.is_dir():
            return FileTemplateStore(candidate)
    return None
