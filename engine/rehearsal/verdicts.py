"""What a case expected against what its run did: one sentence per expectation not met.

Each sentence names the expectation, the step and the time (as an offset from the
case's start, the way the case writes it) and what was seen instead, so a
marketer can tell a wrong journey from a wrong expectation without reading logs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dsl.case_models import ExpectedCall, ExpectedMessage, ExpectedWait, offset_delta
from dsl.compiled import CompiledJourney
from dsl.durations import format_duration
from dsl.routes import routes
from engine.rehearsal.journal import Called, Sent
from engine.rehearsal.runner import CaseRun
from workflows.models import RunStatus

SAME_TIME = timedelta(minutes=1)


def judge(run: CaseRun) -> list[str]:
    """Every expectation of the case its run did not meet (none: the case passed)."""
    expect = run.case.expect
    failures: list[str] = []
    if run.problem is not None:
        if not run.entered:
            return [run.problem]  # the case could not run as written
        failures.append(run.problem)
    failures += [
        f"step {c.step} called {c.action} at {_when(run, c.at)}, but the test gives no answer "
        f"for it: add `answers: {{{c.action}: {{...}}}}` to the case or the file"
        for c in run.journal.calls
        if c.unanswered
    ]
    if not expect.entered:
        if run.entered:
            taken = _path(run)
            failures.append(f"expected no run, but the customer entered: the run took {taken}")
        return failures
    if not run.entered:
        failures.append(
            "expected the customer to enter the journey, but no run started: check the "
            "trigger (its event and `when`), the entry rules and the timeline's events"
        )
        return failures
    failures += _steps(run)
    if expect.messages is not None:
        failures += _listed(run, "message", expect.messages, run.journal.messages, _message)
    if expect.calls is not None:
        failures += _listed(run, "call", expect.calls, run.journal.calls, _call)
    failures += [problem for look in run.looks if (problem := _look(run, *look))]
    failures += _ending(run)
    failures += _traits(run)
    return failures


def _traits(run: CaseRun) -> list[str]:
    failures = []
    for key, wanted in run.case.expect.traits.items():
        have = run.traits.get(key)
        if wanted is None and key in run.traits:
            failures.append(f"expected the trait {key} unset; it is {have!r}")
        elif wanted is not None and have != wanted:
            shown = "unset" if key not in run.traits else repr(have)
            failures.append(f"expected the trait {key}: {wanted!r}; it is {shown}")
    return failures


def _steps(run: CaseRun) -> list[str]:
    expect = run.case.expect
    taken = [s.step for s in run.journal.steps]
    failures = []
    if expect.steps is not None and taken != expect.steps:
        diverged = next(
            (i for i, (a, b) in enumerate(zip(taken, expect.steps, strict=False)) if a != b),
            min(len(taken), len(expect.steps)),
        )
        if diverged < len(taken) and diverged < len(expect.steps):
            at = _when(run, run.journal.steps[diverged].at)
            detail = (
                f"step {diverged + 1} was {taken[diverged]} (at {at}), not {expect.steps[diverged]}"
            )
        elif diverged < len(expect.steps):
            detail = f"the run ended after {len(taken)}, before {expect.steps[diverged]}"
        else:
            detail = f"then it went on to {taken[diverged]}"
        failures.append(
            f"steps: expected {' → '.join(expect.steps)}; the run took {_path(run)} ({detail})"
        )
    for step in expect.not_steps:
        visits = [s for s in run.journal.steps if s.step == step]
        if visits:
            failures.append(
                f"the run took step {step} at {_when(run, visits[0].at)}, which the case says "
                "it never takes"
            )
    return failures


def _listed(
    run: CaseRun,
    kind: str,
    expected: Sequence[ExpectedMessage | ExpectedCall],
    seen: Sequence[Sent | Called],
    compare: Callable[[CaseRun, Any, Any], list[str]],
) -> list[str]:
    """Expected messages (or calls) against those of the run, one by one in order."""
    failures = []
    for number, wanted in enumerate(expected, start=1):
        if number > len(seen):
            failures.append(
                f"{kind} {number}: expected {_describe_expected(wanted)}, but the run "
                f"{'sent' if kind == 'message' else 'made'} only {len(seen)}"
                + (f": {_list(run, seen)}" if seen else "")
            )
            continue
        actual = seen[number - 1]
        mismatches: list[str] = compare(run, wanted, actual)
        if mismatches:
            failures.append(
                f"{kind} {number} ({_describe_seen(run, actual)}): {'; '.join(mismatches)}"
            )
    if len(seen) > len(expected):
        extra = seen[len(expected) :]
        failures.append(
            f"expected {len(expected)} {kind}{'' if len(expected) == 1 else 's'}, but the run "
            f"{'sent' if kind == 'message' else 'made'} {len(seen)}; not expected: "
            f"{_list(run, extra)}"
        )
    return failures


def _message(run: CaseRun, wanted: ExpectedMessage, sent: Sent) -> list[str]:
    problems = []
    for key in ("channel", "template", "step", "status", "to"):
        value = getattr(wanted, key)
        if value is not None and getattr(sent, key) != value:
            problems.append(f"expected {key} {value}, not {getattr(sent, key) or 'none'}")
            why = sent.detail.get("reason") or sent.detail.get("error")
            if key == "status" and why:
                problems[-1] += f" ({why})"
    if wanted.at is not None and not _same_time(run, sent.at, wanted.at):
        problems.append(f"expected at {wanted.at}, it went at {_when(run, sent.at)}")
    if wanted.subject is not None and wanted.subject not in (sent.subject or ""):
        problems.append(
            f"expected the subject to contain {wanted.subject!r}; it was {sent.subject!r}"
        )
    if wanted.body is not None:
        texts = [t for t in (sent.body, sent.html) if t]
        if not any(wanted.body in text for text in texts):
            shown = _excerpt(sent.body or sent.html or "")
            problems.append(f"expected the body to contain {wanted.body!r}; it begins {shown!r}")
    return problems


def _call(run: CaseRun, wanted: ExpectedCall, called: Called) -> list[str]:
    problems = []
    if called.action != wanted.call:
        problems.append(f"expected {wanted.call}, not {called.action}")
    if wanted.step is not None and called.step != wanted.step:
        problems.append(f"expected step {wanted.step}, not {called.step}")
    if wanted.at is not None and not _same_time(run, called.at, wanted.at):
        problems.append(f"expected at {wanted.at}, it was at {_when(run, called.at)}")
    for key, value in (wanted.with_ or {}).items():
        if key not in called.inputs:
            problems.append(f"expected the input {key}: {value!r}; it had none")
        elif called.inputs[key] != value:
            problems.append(f"expected the input {key}: {value!r}, not {called.inputs[key]!r}")
    return problems


def _look(run: CaseRun, wanted: ExpectedWait, status: RunStatus | None) -> str | None:
    expected = f"in step {wanted.step}"
    if wanted.waiting is not None or wanted.event is not None:
        kind = wanted.waiting or "event"
        expected += f", waiting for {_WAITS[kind] if kind != 'event' else 'the event'}"
        if wanted.event is not None:
            expected += f" {wanted.event}" if kind == "event" else f" (event {wanted.event})"
    if wanted.until is not None:
        expected += f" until {wanted.until}"
    if status is None:
        return f"at {wanted.at}: expected the run {expected}; it had ended"
    matches = (
        status.step == wanted.step
        and (wanted.waiting is None or status.waiting == wanted.waiting)
        and (wanted.event is None or status.waiting_for == wanted.event)
        and (
            wanted.until is None
            or (
                status.waiting_until is not None
                and _same_time(run, status.waiting_until, wanted.until)
            )
        )
    )
    if matches:
        return None
    return f"at {wanted.at}: expected the run {expected}; it was {_waiting_text(run, status)}"


def _ending(run: CaseRun) -> list[str]:
    expect = run.case.expect
    failures: list[str] = []
    if run.still_running is not None:
        status, reason = "running", _waiting_text(run, run.still_running)
    elif run.outcome is not None:
        status, reason = run.outcome.status, run.outcome.reason or ""
    else:
        return failures
    if expect.ends is not None and status != expect.ends:
        failures.append(f"expected the run to end {expect.ends}; it {_ended(status, reason)}")
    if expect.reason is not None and expect.reason not in reason:
        failures.append(
            f"expected the end reason to contain {expect.reason!r}; it {_ended(status, reason)}"
        )
    goal = expect.goal
    if goal is not None:
        conversion = run.conversion
        if conversion is None and goal.converted:
            failures.append("expected the goal reached; it was not")
        elif conversion is not None and not goal.converted:
            failures.append(
                f"expected the goal not reached; it was, at {_when(run, conversion.converted_at)}"
            )
        elif goal.value is not None and run.conversion is not None:
            value = run.conversion.value
            if value is None or abs(value - goal.value) > 1e-9:
                failures.append(f"expected the goal's value {goal.value:g}; it was {value}")
    if expect.variant is not None and run.journal.variant != expect.variant:
        failures.append(
            f"expected the variant {expect.variant}; the run took "
            f"{run.journal.variant or 'no split'}"
        )
    return failures


def _same_time(run: CaseRun, at: datetime, offset: str) -> bool:
    """Whether ``at`` is ``offset`` after the case's start, to the minute (a send goes out
    a few milliseconds after its timer fires)."""
    return abs((at - run.start) - offset_delta(offset)) < SAME_TIME


# --- wording ---------------------------------------------------------------------------------


_WAITS = {
    "timer": "a timer",
    "quiet_hours": "the end of quiet hours",
    "event": "an event",
    "resume": "the journey to be resumed",
}


def _when(run: CaseRun, at: datetime) -> str:
    """``at`` as the case writes times: an offset from its start, to the minute."""
    minutes = round((at - run.start).total_seconds() / 60)
    if minutes < 0:
        return f"{format_duration(timedelta(minutes=-minutes))} before the start"
    return format_duration(timedelta(minutes=minutes)) if minutes else "0"


def _path(run: CaseRun) -> str:
    return " → ".join(s.step for s in run.journal.steps) or "no step"


def _ended(status: str, reason: str) -> str:
    if status == "running":
        return f"was still running ({reason})"
    return f"ended {status}" + (f" ({reason})" if reason else "")


def _waiting_text(run: CaseRun, status: RunStatus) -> str:
    if status.waiting is None:
        return f"in step {status.step}"
    what = _WAITS[status.waiting]
    if status.waiting == "event":
        what = f"the event {status.waiting_for}"
    until = f" until {_when(run, status.waiting_until)}" if status.waiting_until else ""
    return f"in step {status.step}, waiting for {what}{until}"


def _describe_expected(wanted: ExpectedMessage | ExpectedCall) -> str:
    if isinstance(wanted, ExpectedCall):
        return wanted.call
    parts = [wanted.channel or "a", "message"]
    if wanted.template:
        parts.append(f"with template {wanted.template}")
    if wanted.step:
        parts.append(f"from step {wanted.step}")
    return " ".join(parts)


def _describe_seen(run: CaseRun, seen: Sent | Called) -> str:
    if isinstance(seen, Called):
        return f"{seen.action} from step {seen.step} at {_when(run, seen.at)}"
    template = f" {seen.template}" if seen.template else ""
    return f"{seen.channel}{template} from step {seen.step}, {seen.status} at {_when(run, seen.at)}"


def _list(run: CaseRun, seen: Sequence[Sent | Called]) -> str:
    return "; ".join(_describe_seen(run, s) for s in seen)


def _excerpt(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --- coverage --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """Which steps and ways out of decisions (branches, splits, waits, on_error) no case took."""

    journey: str
    steps: int
    reached: int
    missed_steps: list[str]
    missed_routes: list[str]


def coverage(journey: CompiledJourney, runs: Sequence[CaseRun]) -> Coverage:
    taken: set[str] = set()
    moves: set[tuple[str, str | None]] = set()
    for run in runs:
        path = [s.step for s in run.journal.steps]
        taken.update(path)
        moves.update(zip(path, [*path[1:], None], strict=False))
    decisions = [
        r for r in routes(journey) if sum(o.source == r.source for o in routes(journey)) > 1
    ]
    missed_routes = [
        f"{r.source} → {r.target or 'end'}" + (f" ({r.label})" if r.label else "")
        for r in decisions
        if r.source in taken and (r.source, r.target) not in moves
    ]
    missed = [step for step in journey.steps if step not in taken]
    return Coverage(
        journey.id, len(journey.steps), len(journey.steps) - len(missed), missed, missed_routes
    )
