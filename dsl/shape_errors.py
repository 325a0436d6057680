"""Turning pydantic's validation errors into messages for the journey author.

pydantic says "Extra inputs are not permitted" at ``('steps', 2, 'send', 'send',
'chanel')``; the author needs "unknown key `chanel` in step 'plain-reminder':
did you mean `channel`?" at line 27, column 7. This module does that
translation, one error type at a time, and gives each message the stable code of its
kind of problem: pydantic's error type picks the code, and a validator that raises
:class:`~dsl.codes.CodedValueError` names its own.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from dsl.codes import CodedValueError, DiagnosticCode
from dsl.diagnostics import Diagnostic
from dsl.model_paths import keys_at, strip_tags
from dsl.models import ON_ERROR_KINDS, STEP_KINDS, TRIGGER_KINDS, Journey, step_kinds_in
from dsl.source import SourceDocument, format_path

# An example line for each key, shown when the key is missing or has the wrong type.
EXAMPLES: dict[str, str] = {
    "journey": "journey: abandoned-cart",
    "at_most": "at_most: 30d",
    "name": "name: Abandoned cart recovery",
    "trigger": "trigger: { event: cart.updated }",
    "steps": "steps: [ { id: pause, wait: 1h } ]",
    "id": "id: send-reminder",
    "event": "event: order.completed",
    "when": "when: event.properties.total > 50",
    "timeout": "timeout: 2d",
    "within": "within: 7d",
    "after": "after: 7d",
    "channel": "channel: email",
    "template": "template: cart-reminder",
    "subject": 'subject: "Hi {{ customer.first_name }}"',
    "body": 'body: "Your cart misses you"',
    "experiment": "experiment: cart-offer-2026",
    "variants": "variants: [ { name: a, weight: 50 }, { name: b, weight: 50 } ]",
    "weight": "weight: 50",
    "start": 'start: "21:00"',
    "end": 'end: "08:00"',
    "until": 'until: "09:00"',
    "max": "max: 3",
    "per": "per: 1d",
    "segment": "segment: vip",
    "schedule": "schedule: '0 9 * * MON'",
    "next": "next: done",
    "else": "else: done",
    "save_as": "save_as: coupon",
    "call": "call: shop.create_discount",
    "wait": "wait: 1h",
    "reentry": "reentry: once",
    "timezone": "timezone: Europe/Berlin",
    "weekdays": "weekdays: [mon, tue, wed, thu, fri]",
    "exit": "exit: {}",
    "api": "api: {}",
    "send": "send: { channel: email, template: welcome }",
}

# Non-literal forms a key also accepts, named after its list of literal values.
LITERAL_ALTERNATIVES = {"reentry": ", or `{after: 7d}` to allow re-entry after a while"}

_BOUNDS = {
    "greater_than_equal": "at least",
    "less_than_equal": "at most",
    "greater_than": "more than",
    "less_than": "less than",
}

_TYPE_NAMES = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping of keys to values",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
    "list_type": "a list",
    "finite_number": "a finite number",
}


def describe(value: Any) -> str:
    """How a YAML value looks to its author."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def diagnostics_from(
    error: ValidationError, document: SourceDocument, root: type[BaseModel] = Journey
) -> list[Diagnostic]:
    """One positioned diagnostic per pydantic error, deduplicated."""
    diagnostics: list[Diagnostic] = []
    seen: set[tuple[int, int, str]] = set()
    for details in _without_misspelt_missing(error.errors()):
        diagnostic = _translate(details, document, root)
        key = (diagnostic.line, diagnostic.column, diagnostic.message)
        if key not in seen:
            seen.add(key)
            diagnostics.append(diagnostic)
    return diagnostics


def _without_misspelt_missing(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Drop "missing `channel`" when the same mapping has an unknown key `chanel`:
    the "did you mean" message about the misspelt key says it all."""
    unknown: dict[tuple[str | int, ...], list[str]] = {}
    for details in errors:
        if details["type"] == "extra_forbidden":
            unknown.setdefault(details["loc"][:-1], []).append(str(details["loc"][-1]))
    kept = []
    for details in errors:
        siblings = unknown.get(details["loc"][:-1], [])
        if details["type"] == "missing" and difflib.get_close_matches(
            str(details["loc"][-1]), siblings, n=1, cutoff=0.6
        ):
            continue
        kept.append(details)
    return kept


_C = DiagnosticCode


def _translate(
    details: ErrorDetails, document: SourceDocument, root: type[BaseModel]
) -> Diagnostic:
    loc = strip_tags(details["loc"], root)
    label = "the journey" if root is Journey else f"the {root.__name__.lower()}"
    kind = details["type"]
    located = document.locate(loc)
    if kind == "missing":
        missing = str(loc[-1])
        where = _context(located.path, document, label)
        example = EXAMPLES.get(missing, f"{missing}: ...")
        return document.diagnostic(
            loc,
            f"{where} is missing `{missing}`: add `{example}`",
            code=_C.FIELD_REQUIRED,
            context={"key": missing},
        )
    path = located.path
    if len(path) >= 2 and isinstance(path[-1], int):  # an item of a list
        where = _context(path[:-2], document, label)
        field = str(path[-2])
        named = f"item {path[-1] + 1} of `{field}`"
    else:
        where = _context(path[:-1], document, label)
        field = str(path[-1]) if path else label
        named = f"`{field}`" if path else label
    subject = named if where == label else f"{named} in {where}"
    if kind == "extra_forbidden":
        key = str(details["loc"][-1])
        misplaced = _misplaced_on_error(loc, document) if root is Journey else None
        if misplaced is not None:
            step_kind, message = misplaced
            return document.diagnostic(
                loc,
                message,
                code=_C.ON_ERROR_NOT_ALLOWED,
                context={"kind": step_kind},
                key=True,
            )
        return document.diagnostic(
            loc,
            _unknown_key(details["loc"], where, root),
            code=_C.FIELD_UNKNOWN,
            context={"key": key},
            key=True,
        )
    if kind == "value_error":
        message = details["msg"].removeprefix("Value error, ")
        error = details.get("ctx", {}).get("error")
        if isinstance(error, CodedValueError):
            return document.diagnostic(
                loc, f"{subject}: {message}", code=error.code, context=error.context
            )
        return document.diagnostic(loc, f"{subject}: {message}", code=_C.VALUE_INVALID)
    if kind in _TYPE_NAMES:
        field_example = EXAMPLES.get(field)
        hint = f", for example `{field_example}`" if field_example else ""
        return document.diagnostic(
            loc,
            f"{subject} must be {_TYPE_NAMES[kind]}, not {describe(details['input'])}{hint}",
            code=_C.TYPE_INVALID,
            context={"expected": _TYPE_NAMES[kind]},
        )
    if kind == "literal_error":
        expected = details.get("ctx", {}).get("expected", "")
        extra = LITERAL_ALTERNATIVES.get(field, "")
        return document.diagnostic(
            loc,
            f"{subject} is {describe(details['input'])}: write one of {expected}{extra}",
            code=_C.CHOICE_INVALID,
            context={"expected": str(expected)},
        )
    if kind in _BOUNDS:
        ctx = details.get("ctx", {})
        limit = next(iter(ctx.values()), "")
        return document.diagnostic(
            loc,
            f"{subject} must be {_BOUNDS[kind]} {limit}, not {describe(details['input'])}",
            code=_C.NUMBER_OUT_OF_RANGE,
            context={"bound": kind, "limit": str(limit)},
        )
    if kind == "too_short":
        return document.diagnostic(
            loc, _too_short(field, _context(located.path, document)), code=_C.LIST_TOO_SHORT
        )
    if kind == "step_kind":
        step_where = _context(located.path, document)
        code, message = _step_kind_message(details["input"], step_where)
        return document.diagnostic(loc, message, code=code)
    if kind == "trigger_kind":
        code, message = _choice_message("trigger", details["input"], TRIGGER_KINDS)
        return document.diagnostic(loc, message, code=code)
    if kind == "branch_item":
        return document.diagnostic(
            loc,
            f"each item of the branch in {where} is `- when: <condition>` with "
            "`next: <step>`, or the final `- else: <step>`",
            code=_C.BRANCH_ITEM_INVALID,
        )
    if kind == "reentry_kind":
        return document.diagnostic(
            loc,
            f"{subject} must be once, always or a mapping such as `{{after: 7d}}`, not "
            f"{describe(details['input'])}",
            code=_C.REENTRY_INVALID,
        )
    if kind == "wait_kind":
        return document.diagnostic(
            loc,
            f"`wait` in {where} must be a duration such as `wait: 1h`, or a time of day such "
            f'as `wait: {{until: "09:00"}}`, not {describe(details["input"])}',
            code=_C.WAIT_INVALID,
        )
    return document.diagnostic(loc, f"{subject}: {details['msg']}", code=_C.VALUE_INVALID)


def _context(path: tuple[str | int, ...], document: SourceDocument, root_label: str = "") -> str:
    """Name the part of the journey at ``path``, e.g. "wait_for of step 'pause'"."""
    data: Any = document.data
    if len(path) >= 2 and path[0] == "steps" and isinstance(path[1], int):
        steps = data.get("steps") if isinstance(data, dict) else None
        step = steps[path[1]] if isinstance(steps, list) and path[1] < len(steps) else None
        if isinstance(step, dict) and isinstance(step.get("id"), str):
            label = f"step '{step['id']}'"
        else:
            label = f"step {path[1] + 1}"
        inner = [e for e in path[2:] if isinstance(e, str)]
        return f"{inner[0]} of {label}" if inner else label
    return f"`{format_path(path)}`" if path else (root_label or "the journey")


def _misplaced_on_error(
    loc: tuple[str | int, ...], document: SourceDocument
) -> tuple[str, str] | None:
    """The kind of a step that is not a send or call but has an ``on_error``, and what to say."""
    if len(loc) != 3 or loc[0] != "steps" or loc[2] != "on_error" or not isinstance(loc[1], int):
        return None
    steps = document.data.get("steps") if isinstance(document.data, dict) else None
    step = steps[loc[1]] if isinstance(steps, list) and loc[1] < len(steps) else None
    kinds = step_kinds_in(step)
    if len(kinds) != 1 or kinds[0] in ON_ERROR_KINDS:
        return None
    where = _context(loc[:2], document)
    hint = {
        "wait_for": "; to go elsewhere when the event does not come, use `on_timeout:`",
        "branch": "; a branch goes to `else:` when no case holds",
    }.get(kinds[0], "")
    return kinds[0], (
        f"{where} is a {kinds[0]} step, and only send and call steps take `on_error` (their "
        f"connector can fail): remove it{hint}"
    )


def _unknown_key(loc: tuple[str | int, ...], where: str, root: type[BaseModel]) -> str:
    key = str(loc[-1])
    allowed = keys_at(loc[:-1], root)
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key `{key}` in {where}: did you mean `{close[0]}`?"
    if allowed:
        return f"unknown key `{key}` in {where}: the keys here are {', '.join(allowed)}"
    return f"unknown key `{key}` in {where}: remove it"


def _too_short(field: str, where: str) -> str:
    if field == "steps":
        return "the journey has no steps: add at least one, e.g. `steps: [ {id: done, exit: {}} ]`"
    if field == "variants":
        return f"{where} needs at least two variants, e.g. a variant and a holdout"
    if field == "branch":
        return f"{where} has no cases: add `- when: <condition>` with `next:`, then `- else:`"
    return f"`{field}` in {where} must not be empty"


def _step_kind_message(value: Any, where: str) -> tuple[DiagnosticCode, str]:
    kinds_text = ", ".join(STEP_KINDS)
    if not isinstance(value, dict):
        return _C.STEP_KIND_MISSING, (
            f"{where} must be a mapping with an `id` and one action ({kinds_text}), "
            f"e.g. `- {{id: pause, wait: 1h}}`, not {describe(value)}"
        )
    present = step_kinds_in(value)
    if len(present) > 1:
        both = " and ".join(f"`{k}`" for k in present)
        return _C.STEP_KIND_CONFLICT, (
            f"{where} has both {both}: a step does one thing, so split it into {len(present)} steps"
        )
    unknown = [
        k
        for k in value
        if k not in ("id", "name", "next", "with", "save_as", "on_timeout", "on_error")
    ]
    for key in unknown:
        close = difflib.get_close_matches(str(key), STEP_KINDS, n=1, cutoff=0.6)
        if close:
            return (
                _C.STEP_KIND_MISSING,
                f"{where} has no action: `{key}` is not one; did you mean `{close[0]}`?",
            )
    return _C.STEP_KIND_MISSING, f"{where} has no action: add one of {kinds_text}"


def _choice_message(name: str, value: Any, choices: tuple[str, ...]) -> tuple[DiagnosticCode, str]:
    options = ", ".join(choices)
    present = [c for c in choices if isinstance(value, dict) and c in value]
    if len(present) > 1:
        both = " and ".join(f"`{c}`" for c in present)
        return _C.TRIGGER_KIND_CONFLICT, (
            f"`{name}` has both {both}: a journey has one trigger (a schedule takes a "
            "segment); to let only a segment's members in, use `entry: {segment: ...}`"
        )
    if isinstance(value, dict):
        for key in value:
            close = difflib.get_close_matches(str(key), choices, n=1, cutoff=0.6)
            if close and key not in choices:
                return (
                    _C.TRIGGER_KIND_MISSING,
                    f"`{name}` has no `{key}`: did you mean `{close[0]}`?",
                )
    return _C.TRIGGER_KIND_MISSING, (
        f"`{name}` needs one of {options}, e.g. `{name}: {{event: cart.updated}}`, "
        f"not {describe(value)}"
    )
