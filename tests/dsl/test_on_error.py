"""``on_error`` on send and call steps, and the ``error`` variable of the path it leads to."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dsl.codes import DiagnosticCode
from dsl.compiled import CallNode, CompiledJourney, SendNode, StepErrorCode, UpdateProfileNode
from dsl.diagnostics import Severity
from dsl.loader import load_file, load_text
from dsl.mermaid import to_mermaid
from dsl.models import CallStep, Journey
from dsl.schema import journey_json_schema
from dsl.source import parse_yaml
from tests.conftest import JOURNEYS, REPO
from tests.dsl.conftest import MINIMAL

HEAD = "journey: j\nname: J\ntrigger: {event: x}\n"

TICKET = HEAD + (
    "steps:\n"
    "  - id: ticket\n"
    "    call: helpdesk.create_ticket\n"
    "    save_as: ticket\n"
    "    on_error: no-ticket\n"
    "  - id: apology\n"
    "    send: {channel: email, body: 'Ticket {{ ticket.id }}'}\n"
    "    next: done\n"
    "  - id: no-ticket\n"
    "    send: {channel: email, body: 'Sorry: {{ error.step }} {{ error.code }}'}\n"
    "    on_error: done\n"
    "  - id: done\n"
    "    exit: {}\n"
)


def compiled(text: str) -> CompiledJourney:
    result = load_text(text, "j.yaml")
    assert [d.render() for d in result.diagnostics] == []
    assert result.compiled is not None
    return result.compiled


def diagnostics(text: str) -> list[tuple[int, str, str, str]]:
    return [
        (d.line, d.severity.value, d.code.value, d.message)
        for d in load_text(text, "j.yaml").diagnostics
    ]


# -- compiled form and version --------------------------------------------------------------


def test_on_error_compiles_beside_next() -> None:
    journey = compiled(TICKET)
    ticket, apology, no_ticket = (journey.steps[s] for s in ("ticket", "apology", "no-ticket"))
    assert isinstance(ticket, CallNode) and (ticket.next, ticket.on_error) == (
        "apology",
        "no-ticket",
    )
    assert isinstance(apology, SendNode) and (apology.next, apology.on_error) == ("done", None)
    assert isinstance(no_ticket, SendNode) and (no_ticket.next, no_ticket.on_error) == (
        "done",
        "done",
    )
    dumped = journey.model_dump(mode="json")
    assert dumped["steps"]["ticket"]["on_error"] == "no-ticket"
    assert "on_error" not in dumped["steps"]["apology"]


NUDGE = (
    "journey: nudge\nname: Nudge\ntrigger: {event: cart.updated}\nsteps:\n"
    "  - id: pause\n    wait: 1h\n"
    '  - id: reminder\n    send: { channel: email, body: "Your cart misses you" }\n'
)


def test_journeys_without_on_error_keep_their_compiled_form_and_version() -> None:
    # The versions these journeys had before on_error existed (the first is in the docs).
    assert compiled(NUDGE).version == "vd642f0bfcea5"
    assert compiled(MINIMAL).version == "v2bd7481312bc"
    stored = compiled(NUDGE).model_dump_json()
    assert "on_error" not in stored
    # a compiled journey stored before on_error existed still loads
    again = CompiledJourney.model_validate_json(stored)
    assert (
        isinstance(again.steps["reminder"], SendNode) and again.steps["reminder"].on_error is None
    )
    assert again == compiled(NUDGE)


def test_on_error_changes_the_version() -> None:
    with_error = NUDGE.replace(
        '"Your cart misses you" }', '"Your cart misses you" }\n    on_error: pause'
    )
    assert compiled(with_error).version != compiled(NUDGE).version


def test_the_graph_shows_the_error_edge() -> None:
    chart = to_mermaid(compiled(TICKET))
    ids = {step: f"s{i}" for i, step in enumerate(["ticket", "apology", "no-ticket", "done"])}
    assert f"    {ids['ticket']} --> {ids['apology']}" in chart.splitlines()
    assert f'    {ids["ticket"]} -->|"on error"| {ids["no-ticket"]}' in chart.splitlines()
    # next and on_error to the same step: one edge
    assert f'    {ids["no-ticket"]} -->|"also on error"| {ids["done"]}' in chart.splitlines()
    assert chart.count(f"{ids['no-ticket']} -->") == 1


# -- the graph checks count the edge --------------------------------------------------------


def test_an_unknown_on_error_target_suggests_the_closest_step() -> None:
    text = TICKET.replace("on_error: no-ticket", "on_error: no-tiket")
    problem = load_text(text, "j.yaml").diagnostics[0]  # then `error` is unknown in no-ticket
    assert (problem.line, problem.column, problem.path) == (8, 15, "steps[0].on_error")
    assert (problem.code, problem.context) == (DiagnosticCode.UNKNOWN_STEP, {"step": "no-tiket"})
    assert problem.message == "there is no step 'no-tiket': did you mean 'no-ticket'?"


def test_a_step_reached_only_through_on_error_is_reachable() -> None:
    assert load_text(TICKET).ok
    without = TICKET.replace("    on_error: no-ticket\n", "")
    without = without.replace("{{ error.step }} {{ error.code }}", "no ticket")
    assert [(code, message) for _, _, code, message in diagnostics(without)] == [
        (
            "step_unreachable",
            "step 'no-ticket' is never reached: no step goes to it. Point a `next:` (or a "
            "branch case or variant) at it, or remove it",
        )
    ]


def test_an_on_error_loop_without_a_wait_is_an_error_and_with_one_is_fine() -> None:
    text = HEAD + "steps:\n  - id: c\n    call: shop.sync\n    on_error: c\n"
    [(_, _, code, _)] = diagnostics(text)
    assert code == "loop_without_wait"
    retry = HEAD + (
        "steps:\n  - id: c\n    call: shop.sync\n    on_error: later\n    next: done\n"
        "  - id: later\n    wait: 1h\n    next: c\n  - id: done\n    exit: {}\n"
    )
    assert load_text(retry).ok


@pytest.mark.parametrize(
    ("step", "kind", "hint"),
    [
        ("wait: 1h", "wait", ""),
        (
            "wait_for: {event: e, timeout: 1d}",
            "wait_for",
            "; to go elsewhere when the event does not come, use `on_timeout:`",
        ),
        ("branch: [{else: done}]", "branch", "; a branch goes to `else:` when no case holds"),
        ("update_profile: {set: {a: 1}}", "update_profile", ""),
        ("exit: {}", "exit", ""),
    ],
)
def test_on_error_on_other_step_kinds_says_where_it_belongs(
    step: str, kind: str, hint: str
) -> None:
    text = (
        HEAD + f"steps:\n  - id: s\n    {step}\n    on_error: done\n  - id: done\n    exit: {{}}\n"
    )
    [problem] = load_text(text).diagnostics
    assert (problem.line, problem.column, problem.path) == (7, 5, "steps[0].on_error")
    assert (problem.code, problem.context) == (DiagnosticCode.ON_ERROR_NOT_ALLOWED, {"kind": kind})
    assert problem.message == (
        f"step 's' is a {kind} step, and only send and call steps take `on_error` (their "
        f"connector can fail): remove it{hint}"
    )


def test_a_misspelt_on_error_is_an_unknown_key_with_a_suggestion() -> None:
    [problem] = load_text(TICKET.replace("on_error: no-ticket", "on_eror: no-ticket")).diagnostics
    assert problem.code is DiagnosticCode.FIELD_UNKNOWN
    assert problem.message == "unknown key `on_eror` in step 'ticket': did you mean `on_error`?"


# -- the error variable ---------------------------------------------------------------------


def test_error_is_known_on_the_error_path_only() -> None:
    assert load_text(TICKET).diagnostics == []
    text = TICKET.replace("'Ticket {{ ticket.id }}'", "'Ticket {{ ticket.id }} {{ error.code }}'")
    assert diagnostics(text) == [
        (
            10,
            "error",
            "unknown_variable",
            "the template uses `error`, which is not known here: it is set only on the path "
            "an `on_error:` of a send or call step leads to, and no such path leads to step "
            "'apology' (here it is always null). Use it in the steps an on_error path leads "
            "to, or not at all",
        )
    ]


def test_error_in_a_condition_where_no_error_path_leads_is_an_error() -> None:
    text = HEAD + (
        "steps:\n  - id: check\n    branch:\n      - when: error.code == 'timeout'\n"
        "        next: done\n      - else: done\n  - id: done\n    exit: {}\n"
    )
    [problem] = load_text(text).diagnostics
    assert (problem.code, problem.severity, problem.context) == (
        DiagnosticCode.UNKNOWN_VARIABLE,
        Severity.ERROR,
        {"name": "error"},
    )
    assert problem.message.startswith("`error` is not known here: it is set only on the path")
    trigger = "journey: j\nname: J\ntrigger: {event: x, when: has(error.code)}\nsteps: [{id: d, exit: {}}]\n"
    [problem] = load_text(trigger).diagnostics
    assert problem.code is DiagnosticCode.UNKNOWN_VARIABLE
    assert "not known in the trigger, exit_when or goal" in problem.message


def test_error_where_only_some_paths_failed_is_a_warning() -> None:
    # `after` is reached from the ticket step when it succeeds, and from no-ticket
    text = HEAD + (
        "steps:\n"
        "  - id: ticket\n    call: helpdesk.create_ticket\n    on_error: no-ticket\n"
        "    next: after\n"
        "  - id: no-ticket\n    update_profile: {set: {owed: true}}\n"
        "  - id: after\n    branch:\n      - when: error != null\n        next: done\n"
        "      - else: done\n"
        "  - id: thanks\n    send: {channel: email, body: '{{ error.message }}'}\n"
        "  - id: done\n    exit: {}\n"
    )
    text = text.replace("      - else: done\n", "      - else: thanks\n")
    problems = load_text(text).diagnostics
    assert [(d.severity, d.code, d.context) for d in problems] == [
        (Severity.WARNING, DiagnosticCode.VARIABLE_SOMETIMES_SAVED, {"name": "error"}),
        (Severity.WARNING, DiagnosticCode.VARIABLE_SOMETIMES_SAVED, {"name": "error"}),
    ]
    assert problems[0].message == (
        "`error` is set only on the `on_error:` path to step 'after', not on the others: "
        "there it is null. Check it with `error != null`, or give the on_error path its own "
        "step"
    )
    assert problems[1].message == (
        "the template uses `error`, which is set only on the `on_error:` path to step "
        "'thanks', not on the others: there it is null and renders empty"
    )


def test_a_failed_call_saves_no_result_on_its_error_path() -> None:
    text = TICKET.replace("'Sorry: {{ error.step }} {{ error.code }}'", "'Ticket {{ ticket.id }}'")
    assert diagnostics(text) == [
        (
            13,
            "error",
            "unknown_variable",
            "the template uses `ticket`, which step 'ticket' saves only when its call "
            "succeeds, not on the `on_error:` path that leads to step 'no-ticket'",
        )
    ]


def test_error_is_reserved_for_save_as() -> None:
    text = HEAD + "steps:\n  - id: c\n    call: a.b\n    save_as: error\n"
    [problem] = load_text(text).diagnostics
    assert (problem.code, problem.context) == (DiagnosticCode.SAVE_AS_RESERVED, {"name": "error"})
    assert problem.message == (
        "`error` is reserved for the failure that steps after an `on_error:` read: save the "
        "result under another name, e.g. `save_as: error_result`"
    )


# -- the schema, the docs and the shipped journeys --------------------------------------------


def test_the_schema_offers_on_error_on_send_and_call_only() -> None:
    definitions = journey_json_schema()["$defs"]
    with_on_error = {
        name for name, d in definitions.items() if "on_error" in d.get("properties", {})
    }
    assert with_on_error == {"SendStep", "CallStep"}
    assert "description" in definitions["CallStep"]["properties"]["on_error"]


def test_the_documented_error_codes_are_the_runtime_contract() -> None:
    text = (REPO / "docs" / "dsl-reference.md").read_text(encoding="utf-8")
    section = text.split("\n## When a step fails: `on_error` and `error`\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    table = section.split("| `error.code` | Meaning |\n", 1)[1].split("\n\n", 1)[0]
    documented = re.findall(r"^\| `([a-z_]+)` \| ", table, flags=re.MULTILINE)
    assert documented == [code.value for code in StepErrorCode]
    # the example in the docs is valid (apart from the connectors it names)
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    result = load_text(HEAD + example, "example.yaml")
    assert [d.render() for d in result.diagnostics] == []


def test_the_post_purchase_detractor_path_survives_a_helpdesk_failure() -> None:
    journey = load_file(JOURNEYS / "post-purchase-nps.yaml").compiled
    assert journey is not None
    ticket = journey.steps["open-ticket"]
    assert isinstance(ticket, CallNode) and ticket.on_error == "ticket-failed"
    failed = journey.steps["ticket-failed"]
    assert isinstance(failed, UpdateProfileNode) and failed.next == "apology-no-ticket"
    assert failed.set["nps_ticket_error"] == "{{ error.code }}: {{ error.message }}"
    apology = journey.steps["apology-no-ticket"]
    assert isinstance(apology, SendNode) and apology.next == "done"
    assert apology.content.body is not None and "ticket.id" not in apology.content.body


@pytest.mark.parametrize("path", sorted(JOURNEYS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_call_routes_its_errors_or_says_why_not(path: Path) -> None:
    """A call without on_error fails the run: each shipped one that does says why."""
    text = path.read_text(encoding="utf-8")
    document = parse_yaml(text, str(path))
    journey = Journey.model_validate(document.data)
    lines = text.splitlines()
    starts = [document.locate(("steps", i)).line for i in range(len(journey.steps))]
    ends = [*starts[1:], len(lines) + 1]
    for step, start, end in zip(journey.steps, starts, ends, strict=True):
        if isinstance(step, CallStep) and step.on_error is None:
            block = "\n".join(lines[start - 1 : end - 1])
            assert "# No on_error:" in block, f"{path.name}: say why {step.id} has no on_error"
