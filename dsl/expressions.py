"""CEL conditions: compiled and checked at validate time, evaluated by the runtime.

Conditions are CEL (Common Expression Language): side-effect free, with no
clock and no access to the environment, so a condition gives the same answer
when a workflow replays. The journey-specific function is ``segment('name')``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cel

from dsl.codes import DiagnosticCode
from dsl.errors import InputError

# Named functions of the CEL standard library that the evaluator supports.
STANDARD_FUNCTIONS = frozenset(
    {
        "size", "has", "matches", "startsWith", "endsWith", "contains", "exists", "all",
        "exists_one", "map", "filter", "int", "uint", "double", "string", "bytes",
        "timestamp", "duration", "dyn", "type", "getFullYear", "getMonth",
        "getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear", "getHours", "getMinutes",
        "getSeconds", "getMilliseconds",
    }
)  # fmt: skip
JOURNEY_FUNCTIONS = frozenset({"segment"})
_MACRO_VARIABLE = re.compile(r"\.\s*(?:exists_one|exists|all|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_SEGMENT_CALL = re.compile(r"\bsegment\s*\(([^()]*)\)")
_SEGMENT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_PARSE_POSITION = re.compile(r"<input>:(\d+):(\d+):\s*(.*)")


@dataclass(frozen=True)
class ConditionProblem:
    """What is wrong with a condition (its kind, and the names it is about), and the
    1-based column in it where known."""

    message: str
    code: DiagnosticCode
    column: int | None = None
    context: dict[str, str] = field(default_factory=dict)


class ConditionError(InputError):
    """A condition could not be evaluated at run time (bad data, wrong type)."""

    code = "condition_invalid"


def compile_condition(source: str) -> cel.Program:
    """Compile a condition; raise ValueError with CEL's own explanation when it does not parse."""
    return cel.compile(source)


def check_condition(source: str, known: Iterable[str]) -> list[ConditionProblem]:
    """Problems of a condition: syntax, unknown functions, names not known in its scope."""
    if not source.strip():
        return [
            ConditionProblem(
                "the condition is empty: write one, e.g. segment('vip')",
                DiagnosticCode.CONDITION_EMPTY,
            )
        ]
    try:
        program = compile_condition(source)
    except (ValueError, RuntimeError) as error:
        return [_parse_problem(str(error))]
    problems: list[ConditionProblem] = []
    for function in program.functions():
        if function.startswith(("_", "@", "!")) or function in STANDARD_FUNCTIONS:
            continue
        if function in JOURNEY_FUNCTIONS:
            continue
        options = sorted(STANDARD_FUNCTIONS | JOURNEY_FUNCTIONS)
        close = difflib.get_close_matches(function, options, n=1)
        hint = f"did you mean {close[0]}()?" if close else "use segment('name') or a CEL function"
        problems.append(
            ConditionProblem(
                f"there is no function {function}(): {hint}",
                DiagnosticCode.UNKNOWN_FUNCTION,
                context={"function": function},
            )
        )
    for call in _SEGMENT_CALL.finditer(source):
        argument = call.group(1).strip()
        name = argument[1:-1] if len(argument) >= 2 and argument[0] == argument[-1] else ""
        if argument[:1] not in "'\"" or not _SEGMENT_NAME.match(name):
            problems.append(
                ConditionProblem(
                    f"segment({argument}) must name a segment in quotes, in lower case with "
                    "'-' or '_', e.g. segment('vip-customers')",
                    DiagnosticCode.SEGMENT_CALL_INVALID,
                    context={"argument": argument},
                )
            )
    bound = set(_MACRO_VARIABLE.findall(source))
    known_names = set(known)
    for name in program.variables():
        if name in bound or name in known_names:
            continue
        close = difflib.get_close_matches(name, sorted(known_names), n=1)
        hint = f"did you mean `{close[0]}`?" if close else ""
        problems.append(
            ConditionProblem(
                f"`{name}` is not known here; a condition here can use "
                f"{_names(known_names)}{'; ' + hint if hint else ''}",
                DiagnosticCode.UNKNOWN_VARIABLE,
                context={"name": name},
            )
        )
    return problems


_SELF_COMPARISON = re.compile(r"(?<![\w.])(event(?:\.[A-Za-z_]\w*)+)\s*(==|!=)\s*\1(?![\w.(\[])")


def self_comparisons(source: str) -> list[str]:
    """Each ``event.x == event.x`` of a condition (always true, or false with ``!=``): a
    slip for ``event.x == trigger.x``."""
    return [f"{m.group(1)} {m.group(2)} {m.group(1)}" for m in _SELF_COMPARISON.finditer(source)]


def _names(known: set[str]) -> str:
    ordered = sorted(known, key=lambda n: (n not in ("event", "customer"), n))
    return ", ".join(f"`{n}`" for n in ordered) + " and segment('name')"


def _parse_problem(text: str) -> ConditionProblem:
    match = _PARSE_POSITION.search(text)
    if not match:
        if "Recursion limit" in text:
            return ConditionProblem(
                "the condition nests too deeply: simplify it", DiagnosticCode.CONDITION_TOO_DEEP
            )
        return ConditionProblem(
            "the condition does not parse: check that brackets, parentheses and quotes are closed",
            DiagnosticCode.CONDITION_SYNTAX,
        )
    column = int(match.group(2))
    reason = match.group(3).split(" expecting ")[0].strip()
    if "Recursion limit" in reason:
        return ConditionProblem(
            "the condition nests too deeply: simplify it",
            DiagnosticCode.CONDITION_TOO_DEEP,
            column,
        )
    if not reason.startswith("Syntax error"):
        reason = "check that brackets, parentheses and quotes are closed"
    elif "<EOF>" in reason:
        reason = "it ends too early (is an operand missing?)"
    elif reason.startswith("Syntax error: "):
        reason = reason.removeprefix("Syntax error: ")
    return ConditionProblem(
        f"the condition does not parse at column {column}: {reason}",
        DiagnosticCode.CONDITION_SYNTAX,
        column,
    )


def evaluate_condition(
    program: cel.Program,
    variables: Mapping[str, Any],
    in_segment: Callable[[str], bool],
) -> bool:
    """Evaluate a compiled condition; a missing field or a non-boolean answer is an error."""
    context = cel.Context(variables=dict(variables), functions={"segment": in_segment})
    try:
        result = program.execute(context)
    except (KeyError, RuntimeError, ValueError, TypeError) as error:
        raise ConditionError(f"condition `{program.source}` failed: {error}") from None
    if not isinstance(result, bool):
        raise ConditionError(f"condition `{program.source}` gave {result!r}, not true or false")
    return result
