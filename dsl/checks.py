"""Checks that need the whole journey: ids, graph, experiments, conditions, templates.

The pydantic models guarantee each key has the right shape; these checks find
what only the journey as a whole can show: a ``next`` to nowhere, a step that
can never run, a loop that never waits, weights that do not add up, a
condition that names a result no earlier step saved. Each check appends
positioned diagnostics; none stops the others, so an author sees everything
at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from dsl.catalog import ConnectorCatalog, fallback_channels
from dsl.codes import DiagnosticCode
from dsl.diagnostics import Diagnostic, Severity
from dsl.durations import parse_duration, parse_time_of_day
from dsl.expressions import check_condition, self_comparisons
from dsl.graph import Transition, loops_without_wait, reachable, step_edges, transitions
from dsl.models import (
    ERROR_VARIABLE,
    AnyStep,
    BranchCase,
    BranchElse,
    BranchStep,
    CallStep,
    ExitStep,
    Journey,
    ScheduleTrigger,
    SegmentTrigger,
    SendStep,
    SplitStep,
    UpdateProfileStep,
    WaitForData,
    WaitForStep,
    WaitStep,
    WaitUntil,
    WaitUntilDate,
    kind_of,
    saved_name,
)
from dsl.source import SourceDocument
from dsl.templates import Template, TemplateStore, check_liquid

# Names a condition or template can always use; results saved with save_as add to them.
RESERVED_NAMES = frozenset(
    {"event", "customer", "journey", "links", "brand", "segment", "now", "today", "trigger"}
)
TRIGGER_SCOPE = frozenset({"event", "customer"})
TEMPLATE_SCOPE = frozenset({"event", "customer", "journey", "links", "brand", "now", "today"})
# `trigger` is the event that started the run, where `event` is another one: the exit
# event, the goal event, the event a wait_for awaits (and, in steps, the trigger again).
STARTED_BY = frozenset({"trigger"})
# The time: the run's clock in conditions (a timestamp), when it is rendered in texts.
CLOCK = frozenset({"now", "today"})
# Runs started by a segment or a schedule have no triggering event.
NO_EVENT_TRIGGERS = (SegmentTrigger, ScheduleTrigger)

Loc = tuple[str | int, ...]
_C = DiagnosticCode


@dataclass
class CheckResult:
    """Diagnostics of a journey, and the templates its send steps use (for the compiler)."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    templates: dict[str, Template] = field(default_factory=dict)


class _Checker:
    def __init__(
        self,
        journey: Journey,
        document: SourceDocument,
        templates: TemplateStore | None,
        catalog: ConnectorCatalog | None,
        missing_connectors: Severity = Severity.ERROR,
    ) -> None:
        self.journey = journey
        self.missing_connectors = missing_connectors
        self.document = document
        self.store = templates
        self.catalog = catalog
        self.result = CheckResult()
        self.edges = step_edges(journey)
        self.ids = [step.id for step in journey.steps]
        self.saved_always, self.saved_sometimes = _saved_names(journey, self.edges)
        self._missing_store_reported = False
        self._unknown_targets = 0
        self._broken: set[str] = set()
        has_event = not isinstance(journey.trigger, NO_EVENT_TRIGGERS)
        self.run_scope = (
            TRIGGER_SCOPE | STARTED_BY | CLOCK if has_event else (TRIGGER_SCOPE - {"event"}) | CLOCK
        )
        self.template_scope = (
            TEMPLATE_SCOPE | STARTED_BY if has_event else TEMPLATE_SCOPE - {"event"}
        )
        # Conditions on another event (exit, goal) may compare it with the trigger.
        self.other_event_scope = (
            TRIGGER_SCOPE | STARTED_BY | CLOCK if has_event else TRIGGER_SCOPE | CLOCK
        )

    # -- reporting ---------------------------------------------------------------------

    def error(
        self,
        loc: Loc,
        code: DiagnosticCode,
        message: str,
        context: Mapping[str, str] | None = None,
        *,
        key: bool = False,
        column_shift: int = 0,
    ) -> None:
        self._add(loc, code, message, Severity.ERROR, context, key=key, column_shift=column_shift)

    def warning(
        self, loc: Loc, code: DiagnosticCode, message: str, context: Mapping[str, str] | None = None
    ) -> None:
        self._add(loc, code, message, Severity.WARNING, context)

    def _add(
        self,
        loc: Loc,
        code: DiagnosticCode,
        message: str,
        severity: Severity,
        context: Mapping[str, str] | None = None,
        *,
        key: bool = False,
        column_shift: int = 0,
    ) -> None:
        diagnostic = self.document.diagnostic(loc, message, code=code, context=context, key=key)
        update: dict[str, Any] = {"severity": severity}
        if column_shift:
            update["column"] = diagnostic.column + column_shift
        self.result.diagnostics.append(diagnostic.model_copy(update=update))

    # -- the checks ----------------------------------------------------------------------

    def run(self) -> CheckResult:
        self.check_ids()
        self.check_transitions()
        self.check_reachability()
        self.check_loops()
        self.check_experiments()
        self.check_settings()
        self.check_conditions()
        self.check_messages()
        self.check_connectors()
        return self.result

    def check_ids(self) -> None:
        first_line: dict[str, int] = {}
        for index, step in enumerate(self.journey.steps):
            loc = ("steps", index, "id")
            if step.id in first_line:
                self.error(
                    loc,
                    _C.DUPLICATE_STEP_ID,
                    f"step id '{step.id}' is already used by the step on line "
                    f"{first_line[step.id]}: give each step its own id",
                    {"step": step.id},
                )
            else:
                first_line[step.id] = self.document.locate(loc).line
            save_as = saved_name(step)
            if save_as in RESERVED_NAMES:
                self.error(
                    ("steps", index, "save_as"),
                    _C.SAVE_AS_RESERVED,
                    f"`{save_as}` is a reserved name ({', '.join(sorted(RESERVED_NAMES))}): "
                    f"save the result under another name, e.g. `save_as: {save_as}_result`",
                    {"name": save_as},
                )
            elif save_as == ERROR_VARIABLE:
                self.error(
                    ("steps", index, "save_as"),
                    _C.SAVE_AS_RESERVED,
                    f"`{ERROR_VARIABLE}` is reserved for the failure that steps after an "
                    "`on_error:` read: save the result under another name, e.g. "
                    f"`save_as: {ERROR_VARIABLE}_result`",
                    {"name": save_as},
                )

    def check_transitions(self) -> None:
        for index, step in enumerate(self.journey.steps):
            base: Loc = ("steps", index)
            if step.next and isinstance(step, BranchStep | SplitStep | ExitStep):
                self.error(
                    (*base, "next"),
                    _C.NEXT_NOT_ALLOWED,
                    _no_next_message(step),
                    {"kind": kind_of(step)},
                    key=True,
                )
            following = self.ids[index + 1] if index + 1 < len(self.ids) else None
            for edge in transitions(step, following):
                if edge.target is not None and edge.target not in self.edges and edge.where:
                    self._unknown_targets += 1
                    self.error(
                        (*base, *edge.where),
                        _C.UNKNOWN_STEP,
                        self._unknown_target(edge.target),
                        {"step": edge.target},
                    )
            if isinstance(step, BranchStep):
                self.check_branch(step, base)

    def _is_first(self, index: int) -> bool:
        return self.ids.index(self.journey.steps[index].id) == index

    def _unknown_target(self, target: str) -> str:
        close = difflib.get_close_matches(target, self.ids, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"the steps are {', '.join(self.ids)}"
        return f"there is no step '{target}': {hint}"

    def check_branch(self, step: BranchStep, base: Loc) -> None:
        else_positions = [i for i, item in enumerate(step.branch) if isinstance(item, BranchElse)]
        if not else_positions:
            self.error(
                (*base, "branch"),
                _C.BRANCH_ELSE_MISSING,
                f"the branch of step '{step.id}' has no `else`: add `- else: <step-id>` as "
                "its last item, for customers no case matches",
            )
            return
        for position in else_positions[1:]:
            self.error(
                (*base, "branch", position, "else"),
                _C.DUPLICATE_ELSE,
                "a branch has one `else`: remove this one",
            )
        first_else = else_positions[0]
        if first_else != len(step.branch) - 1:
            self.error(
                (*base, "branch", first_else + 1),
                _C.ELSE_NOT_LAST,
                "this case comes after `else` and can never match: move `- else:` to the end",
            )

    def check_reachability(self) -> None:
        if self._unknown_targets:
            return  # a mistyped next is the likelier cause; report that alone
        seen = reachable(self.ids[0], self.edges)
        for index, step in enumerate(self.journey.steps):
            if step.id not in seen and self._is_first(index):
                self.error(
                    ("steps", index, "id"),
                    _C.STEP_UNREACHABLE,
                    f"step '{step.id}' is never reached: no step goes to it. Point a `next:` "
                    "(or a branch case or variant) at it, or remove it",
                    {"step": step.id},
                )

    def check_loops(self) -> None:
        for loop in loops_without_wait(self.journey, self.edges):
            cycle = " -> ".join([*loop, loop[0]])
            self.error(
                ("steps", self.ids.index(loop[0]), "id"),
                _C.LOOP_WITHOUT_WAIT,
                f"the steps {cycle} form a loop with no wait: a run would go round it "
                "forever at once. Add a `wait` or `wait_for` step inside the loop",
                {"steps": " -> ".join(loop)},
            )

    def check_experiments(self) -> None:
        experiments: dict[str, str] = {}
        for index, step in enumerate(self.journey.steps):
            if not isinstance(step, SplitStep):
                continue
            base: Loc = ("steps", index, "split")
            key = step.split.experiment
            if key in experiments:
                self.error(
                    (*base, "experiment"),
                    _C.DUPLICATE_EXPERIMENT,
                    f"experiment '{key}' is already used by step '{experiments[key]}': give "
                    "each split its own experiment key",
                    {"experiment": key},
                )
            experiments.setdefault(key, step.id)
            total = sum(v.weight for v in step.split.variants)
            if abs(total - 100) > 1e-9:
                self.error(
                    (*base, "variants"),
                    _C.WEIGHTS_NOT_100,
                    f"the variant weights add up to {total:g}, not 100: change them so they "
                    "add up to 100",
                    {"total": f"{total:g}"},
                )
            names: set[str] = set()
            for number, variant in enumerate(step.split.variants):
                if variant.name in names:
                    self.error(
                        (*base, "variants", number, "name"),
                        _C.DUPLICATE_VARIANT_NAME,
                        f"variant name '{variant.name}' is used twice: name each variant once",
                        {"variant": variant.name},
                    )
                names.add(variant.name)
            holdouts = [v for v in step.split.variants if v.is_holdout]
            if len(holdouts) > 1:
                self.error(
                    (*base, "variants"),
                    _C.DUPLICATE_HOLDOUT,
                    "a split has at most one holdout: merge the holdout variants into one",
                )

    def check_settings(self) -> None:
        quiet = self.journey.settings.quiet_hours
        if quiet and parse_time_of_day(quiet.start) == parse_time_of_day(quiet.end):
            self.error(
                ("settings", "quiet_hours", "end"),
                _C.QUIET_HOURS_EMPTY,
                "quiet hours start and end at the same time: set an end, or remove quiet_hours",
            )
        for index, step in enumerate(self.journey.steps):
            wait = step.wait if isinstance(step, WaitStep) else None
            if isinstance(wait, WaitUntil) and wait.weekdays is not None and not wait.weekdays:
                self.error(
                    ("steps", index, "wait", "weekdays"),
                    _C.WEEKDAYS_EMPTY,
                    "weekdays is empty, so the wait would never end: list at least one "
                    "day, or remove weekdays",
                )

    # -- conditions ------------------------------------------------------------------------

    def check_conditions(self) -> None:
        trigger_when = getattr(self.journey.trigger, "when", None)
        if trigger_when is not None:
            self.condition(("trigger", "when"), trigger_when, TRIGGER_SCOPE)
        for index, criterion in enumerate(self.journey.exit_when):
            if criterion.when is not None:
                where = ("exit_when", index, "when")
                self.condition(where, criterion.when, self.other_event_scope)
        if self.journey.goal and self.journey.goal.when is not None:
            self.condition(("goal", "when"), self.journey.goal.when, self.other_event_scope)
        if self.journey.goal and self.journey.goal.value is not None:
            self.condition(("goal", "value"), self.journey.goal.value, self.other_event_scope)
        for index, step in enumerate(self.journey.steps):
            scope = self.scope_at(step.id)
            if isinstance(step, WaitStep) and isinstance(step.wait, WaitUntilDate):
                self.condition(("steps", index, "wait", "until"), step.wait.until, scope, step.id)
            if isinstance(step, WaitStep) and isinstance(step.wait, WaitForData):
                self.condition(("steps", index, "wait", "for"), step.wait.for_, scope, step.id)
                low, high = step.wait.at_least, step.wait.at_most
                if low is not None and parse_duration(low) > parse_duration(high):
                    self.error(
                        ("steps", index, "wait", "at_least"),
                        _C.WAIT_INVALID,
                        f"`at_least` ({low}) is longer than `at_most` ({high}): swap them",
                        {},
                    )
            if isinstance(step, WaitForStep) and step.wait_for.when is not None:
                awaited = scope | {"event"}  # here `event` is the awaited event
                self.condition(
                    ("steps", index, "wait_for", "when"), step.wait_for.when, awaited, step.id
                )
            if isinstance(step, BranchStep):
                for number, item in enumerate(step.branch):
                    if isinstance(item, BranchCase):
                        self.condition(
                            ("steps", index, "branch", number, "when"), item.when, scope, step.id
                        )

    def scope_at(self, step_id: str) -> frozenset[str]:
        return self.run_scope | self.saved_always.get(step_id, frozenset())

    def condition(
        self, loc: Loc, source: str, scope: frozenset[str], step_id: str | None = None
    ) -> None:
        shift = self._quote_shift(loc)
        if "trigger" in scope:
            for found in self_comparisons(source):
                field, operator = found.split()[:2]
                always = "true" if operator == "==" else "false"
                self.error(
                    loc,
                    _C.CONDITION_SELF_COMPARISON,
                    f"`{found}` compares {field} with itself, so it is always {always}: to "
                    "compare this event with the one that started the run, write "
                    f"`trigger.{field.removeprefix('event.')}` on one side",
                    {"expression": found},
                )
        for problem in check_condition(source, scope):
            unknown = problem.context.get("name") if problem.code is _C.UNKNOWN_VARIABLE else None
            if step_id and unknown == ERROR_VARIABLE and self._sometimes(step_id, unknown):
                self.warning(
                    loc,
                    _C.VARIABLE_SOMETIMES_SAVED,
                    f"`{ERROR_VARIABLE}` is set only on the `on_error:` path to step "
                    f"'{step_id}', not on the others: there it is null. Check it with "
                    f"`{ERROR_VARIABLE} != null`, or give the on_error path its own step",
                    problem.context,
                )
                continue
            if step_id and unknown in self.saved_sometimes.get(step_id, frozenset()):
                self.warning(
                    loc,
                    _C.VARIABLE_SOMETIMES_SAVED,
                    f"`{unknown}` is saved on some paths to step '{step_id}' but not on all: on "
                    "the others it is empty. Check it with has() or save it on every path",
                    problem.context,
                )
                continue
            column_shift = shift + problem.column - 1 if problem.column else 0
            message = problem.message
            if unknown in ("event", "trigger") and "event" not in self.run_scope:
                message = (
                    f"`{unknown}` is not known here: runs of this journey start from a segment "
                    "or a schedule, not an event; use `customer` instead"
                )
            elif unknown == ERROR_VARIABLE:
                message = f"`{ERROR_VARIABLE}` is not known here: " + _no_error_path(step_id)
            self.error(loc, problem.code, message, problem.context, column_shift=column_shift)

    def _sometimes(self, step_id: str, name: str) -> bool:
        return name in self.saved_sometimes.get(step_id, frozenset())

    def _quote_shift(self, loc: Loc) -> int:
        located = self.document.locate(loc)
        lines = self.document.text.splitlines()
        if 0 < located.line <= len(lines):
            line = lines[located.line - 1]
            if located.column - 1 < len(line) and line[located.column - 1] in "\"'":
                return 1
        return 0

    # -- messages and templates ------------------------------------------------------------

    def check_messages(self) -> None:
        for index, step in enumerate(self.journey.steps):
            base: Loc = ("steps", index)
            scope = self.template_scope | self.saved_always.get(step.id, frozenset())
            if isinstance(step, SendStep):
                self.check_send(step, base, scope)
            elif isinstance(step, CallStep):
                for loc, text in _strings(step.with_, (*base, "with")):
                    self.liquid(loc, text, scope, step.id)
            elif isinstance(step, UpdateProfileStep):
                for loc, text in _strings(
                    step.update_profile.set, (*base, "update_profile", "set")
                ):
                    self.liquid(loc, text, scope, step.id)

    def check_send(self, step: SendStep, base: Loc, scope: frozenset[str]) -> None:
        spec = step.send
        template: Template | None = None
        if spec.template is not None:
            template = self.template(spec.template, (*base, "send", "template"), scope, step.id)
        for part in ("subject", "body"):
            text = getattr(spec, part)
            if text is not None:
                self.liquid((*base, "send", part), text, scope, step.id)
        for loc, text in _strings(spec.params, (*base, "send", "params")):
            self.liquid(loc, text, scope, step.id)
        template_unchecked = spec.template is not None and template is None  # reported already
        has_content = spec.body is not None or (
            template is not None and (template.body is not None or template.html is not None)
        )
        if not has_content and not template_unchecked:
            self.error(
                (*base, "send"),
                _C.SEND_EMPTY,
                f"step '{step.id}' has nothing to send: name a `template:` with a body or html, "
                "or write a `body:`",
            )

    def template(self, name: str, loc: Loc, scope: frozenset[str], step_id: str) -> Template | None:
        if self.store is None:
            if not self._missing_store_reported:
                self._missing_store_reported = True
                self.warning(
                    loc,
                    _C.TEMPLATES_UNCHECKED,
                    "templates are not checked: there is no templates/ folder next to this "
                    "journey or one level up",
                )
            return None
        if name in self.result.templates:
            template: Template | None = self.result.templates[name]
        else:
            template, problems = (None, []) if name in self._broken else self.store.load(name)
            self.result.diagnostics.extend(problems)
            if problems:
                self._broken.add(name)
            if template is None and name in self._broken:
                self.error(
                    loc,
                    _C.TEMPLATE_INVALID,
                    f"template '{name}' has errors (shown above): fix the template file",
                    {"template": name},
                )
                return None
        if template is None:
            names = self.store.names()
            close = difflib.get_close_matches(name, names, n=1)
            hint = (
                f"did you mean '{close[0]}'?"
                if close
                else f"the templates are {', '.join(names) or 'none yet'}"
            )
            self.error(
                loc,
                _C.TEMPLATE_MISSING,
                f"there is no template '{name}' in templates/: {hint}",
                {"template": name},
            )
            return None
        self.result.templates[name] = template
        for part, text in template.parts().items():
            info, liquid_problems = check_liquid(text)
            for problem in liquid_problems:
                context = {"template": name, "part": part, **problem.context}
                self.error(
                    loc, problem.code, f"template '{name}', {part}: {problem.message}", context
                )
            for variable in sorted(info.variables - scope):
                message = self._unknown_variable(
                    variable, step_id, f"template '{name}' ({part}) uses"
                )
                self.variable(loc, variable, step_id, message, {"template": name, "part": part})
        return template

    def variable(
        self,
        loc: Loc,
        variable: str,
        step_id: str,
        message: str,
        context: Mapping[str, str] | None = None,
    ) -> None:
        """Report a Liquid variable not known at its step (a warning if saved on some paths)."""
        full = {"name": variable, **(context or {})}
        if variable in self.saved_sometimes.get(step_id, frozenset()):
            self.warning(loc, _C.VARIABLE_SOMETIMES_SAVED, message, full)
        else:
            self.error(loc, _C.UNKNOWN_VARIABLE, message, full)

    def liquid(self, loc: Loc, text: str, scope: frozenset[str], step_id: str) -> None:
        info, problems = check_liquid(text)
        shift = self._quote_shift(loc)
        for problem in problems:
            column_shift = (
                shift + problem.offset if problem.offset is not None and "\n" not in text else 0
            )
            self.error(
                loc, problem.code, problem.message, problem.context, column_shift=column_shift
            )
        for variable in sorted(info.variables - scope):
            message = self._unknown_variable(variable, step_id, "the template uses")
            self.variable(loc, variable, step_id, message)

    def _unknown_variable(self, variable: str, step_id: str, what: str) -> str:
        if variable == ERROR_VARIABLE:
            if self._sometimes(step_id, variable):
                return (
                    f"{what} `{variable}`, which is set only on the `on_error:` path to step "
                    f"'{step_id}', not on the others: there it is null and renders empty"
                )
            return f"{what} `{variable}`, which is not known here: " + _no_error_path(step_id)
        if variable in self.saved_sometimes.get(step_id, frozenset()):
            return (
                f"{what} `{variable}`, which is saved on some paths to step '{step_id}' but not "
                "on all: on the others it renders empty"
            )
        if variable == "event" and "event" not in self.template_scope:
            return (
                f"{what} `event`, but runs of this journey start from a segment or a "
                "schedule, not an event: use `customer` instead"
            )
        savers = [s for s in self.journey.steps if saved_name(s) == variable]
        saver = savers[0] if savers else None
        if (
            isinstance(saver, CallStep)
            and saver.on_error
            and step_id in reachable(saver.on_error, self.edges)
        ):
            return (
                f"{what} `{variable}`, which step '{saver.id}' saves only when its call "
                f"succeeds, not on the `on_error:` path that leads to step '{step_id}'"
            )
        if savers and isinstance(savers[0], WaitForStep):
            return (
                f"{what} `{variable}`, which step '{savers[0].id}' saves only when its event "
                f"arrives, not on the timeout path that leads to step '{step_id}'"
            )
        if savers:
            return (
                f"{what} `{variable}`, but step '{savers[0].id}' that saves it does not come "
                f"before step '{step_id}'"
            )
        names = ", ".join(f"`{n}`" for n in sorted(self.template_scope))
        return (
            f"{what} `{variable}`, which is not known here: templates can use {names} and "
            "results saved by earlier steps with save_as"
        )

    def check_connectors(self) -> None:
        if self.catalog is None:
            return
        channels = self.catalog.channels()
        actions = self.catalog.actions()
        fallback = fallback_channels(self.catalog) & channels
        warned: set[str] = set()
        for index, step in enumerate(self.journey.steps):
            sends = step.send.channels if isinstance(step, SendStep) else []
            listed = isinstance(step, SendStep) and len(step.send.channels) > 1
            for number, channel in enumerate(sends):
                loc: Loc = ("steps", index, "send", "channel", *((number,) if listed else ()))
                if channel in fallback - warned:
                    warned.add(channel)  # once per channel: the fix is the same for every send
                    self.warning(
                        loc,
                        _C.CHANNEL_CONSOLE_FALLBACK,
                        f"no connector sends {channel} here: messages to this channel are "
                        "written to the console outbox and nothing is delivered; install and "
                        f"configure {_article(channel)} {channel} connector (see `cxflow "
                        "connectors list`)",
                        {"channel": channel},
                    )
                if channel not in channels:
                    close = difflib.get_close_matches(channel, sorted(channels), n=1)
                    hint = (
                        f"did you mean '{close[0]}'?" if close else _installed("channels", channels)
                    )
                    self._add(
                        loc,
                        _C.CONNECTOR_MISSING,
                        f"no installed connector provides the channel '{channel}': {hint}",
                        self.missing_connectors,
                        {"kind": "channel", "name": channel},
                    )
            if isinstance(step, CallStep) and step.call not in actions:
                close = difflib.get_close_matches(step.call, sorted(actions), n=1)
                hint = f"did you mean '{close[0]}'?" if close else _installed("actions", actions)
                self._add(
                    ("steps", index, "call"),
                    _C.CONNECTOR_MISSING,
                    f"no installed connector provides the action '{step.call}': {hint}",
                    self.missing_connectors,
                    {"kind": "action", "name": step.call},
                )


def _article(word: str) -> str:
    """ "an email", "a webhook", "an sms" (an initialism said letter by letter)."""
    initialism = len(word) <= 3 and not set(word) & set("aeiouy")
    vowel_sound = word[:1] in "aeiou" or (initialism and word[:1] in "fhlmnrsx")
    return "an" if vowel_sound else "a"


def _no_error_path(step_id: str | None) -> str:
    if step_id is None:
        return (
            "only the steps an `on_error:` of a send or call step leads to can read it, "
            "and it is not known in the trigger, exit_when or goal"
        )
    return (
        f"it is set only on the path an `on_error:` of a send or call step leads to, and no "
        f"such path leads to step '{step_id}' (here it is always null). Use it in the steps "
        "an on_error path leads to, or not at all"
    )


def _installed(what: str, names: set[str]) -> str:
    if not names:
        return f"no connector with {what} is installed (see `cxflow connectors list`)"
    return f"the installed {what} are {', '.join(sorted(names))}"


def _no_next_message(step: AnyStep) -> str:
    kind = kind_of(step)
    if kind == "branch":
        return "a branch step has no `next`: each case names its step with `next:`, and `else:`"
    if kind == "split":
        return "a split step has no `next`: give each variant its own `next:`"
    return "an exit step ends the run, so it has no `next`: remove it"


def _strings(value: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    """Every string in a nested params mapping, with its location (they are Liquid)."""
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*loc, index))


def _saved_names(
    journey: Journey, edges: dict[str, list[Transition]]
) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """Names saved with save_as on every path to a step, and on at least one path.

    A classic forward data-flow: a name is surely set at a step when it is set along
    every edge into it; it may be set when it is set along any. A wait_for saves the
    event only on its "received" edge, not on its timeout edge. The ``on_error`` edge of
    a send or call step sets ``error`` (and a failed call saves no result).
    """
    order = list(edges)
    steps = {s.id: s for s in journey.steps}
    incoming: dict[str, list[tuple[str, frozenset[str]]]] = {step_id: [] for step_id in order}
    universe: set[str] = set()
    for source, out in edges.items():
        name = saved_name(steps[source])
        for number, edge in enumerate(out):
            saves_here = name is not None and not (
                isinstance(steps[source], WaitForStep) and number == 1
            )
            produced = frozenset({name}) if saves_here and name else frozenset()
            if edge.on_error:
                produced = frozenset({ERROR_VARIABLE})
            universe |= produced
            if edge.target in incoming:
                incoming[edge.target].append((source, produced))
    start = order[0]
    everything = frozenset(universe)
    always = {s: (frozenset() if s == start else everything) for s in order}
    sometimes: dict[str, frozenset[str]] = {s: frozenset() for s in order}
    changed = True
    while changed:
        changed = False
        for step_id in order:
            into = incoming[step_id]
            if step_id == start or not into:
                new_always: frozenset[str] = frozenset()
            else:
                new_always = frozenset.intersection(*(always[p] | made for p, made in into))
            new_sometimes = frozenset().union(
                *(sometimes[p] | always[p] | made for p, made in into)
            )
            if new_always != always[step_id] or new_sometimes != sometimes[step_id]:
                always[step_id], sometimes[step_id] = new_always, new_sometimes
                changed = True
    return always, {k: v - always[k] for k, v in sometimes.items()}


def check_journey(
    journey: Journey,
    document: SourceDocument,
    templates: TemplateStore | None = None,
    catalog: ConnectorCatalog | None = None,
    missing_connectors: Severity = Severity.ERROR,
) -> CheckResult:
    """Run every whole-journey check; return all diagnostics and the templates used.

    ``missing_connectors`` is a warning where the journey is only checked (a laptop or
    a CI job may not have every plugin installed) and an error where it is deployed.
    """
    return _Checker(journey, document, templates, catalog, missing_connectors).run()
