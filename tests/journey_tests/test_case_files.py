"""Test files are checked like journeys: every problem at its line, with what to write."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from dsl.case_loader import case_files, case_json_schema_text, load_case_file
from tests.conftest import JOURNEYS, REPO

SPLIT = """\
journey: nudge
name: Nudge
trigger: { event: signed_up }
steps:
  - id: test
    split:
      experiment: tone
      variants:
        - { name: warm, weight: 50, next: warm-hello }
        - { name: plain, weight: 50, next: plain-hello }
  - id: warm-hello
    send: { channel: email, subject: Hello friend, body: Hi }
    next: done
  - id: plain-hello
    send: { channel: email, subject: Hello, body: Hi }
  - id: done
    exit: {}
"""


def problems(path: Path) -> list[tuple[int, int, str, str]]:
    result = load_case_file(path)
    return [(d.line, d.column, d.code, d.message) for d in result.diagnostics]


def test_names_the_journey_lacks_are_errors_with_did_you_mean(
    project: Callable[..., Path],
) -> None:
    path = project(
        """\
journey: nudge
answers:
  shop.create_discont: { code: X }
cases:
  - name: one
    customer: { id: ada }
    variants: { tone: warmer }
    timeline:
      - { at: 0, event: signed_up }
    expect:
      steps: [test, warm-helo]
      messages:
        - { template: welcome }
  - name: two
    customer: { id: ada }
    variants: { tones: warm }
    timeline:
      - { at: 0, event: signed_up }
    expect: {}
""",
        SPLIT,
    )
    assert problems(path) == [
        (
            3,
            3,
            "unknown_action",
            "journey nudge has no action 'shop.create_discont': the journey has no actions",
        ),
        (
            7,
            23,
            "unknown_variant",
            "journey nudge has no variant of tone 'warmer': did you mean 'warm'?",
        ),
        (
            11,
            21,
            "unknown_step",
            "journey nudge has no step 'warm-helo': did you mean 'warm-hello'?",
        ),
        (
            13,
            23,
            "template_missing",
            "journey nudge has no template 'welcome': the journey has no templates",
        ),
        (
            15,
            21,
            "customer_id_repeated",
            "case 1 has the customer id 'ada' too: cases run side by side, each on its own "
            "customer; give this one another id, or leave `id` out",
        ),
        (
            16,
            17,
            "unknown_experiment",
            "journey nudge has no experiment 'tones': did you mean 'tone'?",
        ),
    ]


def test_shape_errors_name_the_key_and_what_to_write(project: Callable[..., Path]) -> None:
    path = project(
        """\
journey: nudge
cases:
  - name: one
    timeline:
      - { at: 2h, event: signed_up }
      - { at: 1h, event: opened }
    expect: {}
  - name: two
    timeline:
      - { at: 0, evnt: signed_up }
    expect: { ends: done }
"""
    )
    found = problems(path)
    assert [(line, code) for line, _column, code, _message in found] == [
        (3, "timeline_order"),
        (10, "timeline_kind"),
        (11, "choice_invalid"),
    ]
    assert found[0][3] == (
        "item 1 of `cases`: the timeline is not in order of `at`: list what happens first, first"
    )
    assert found[1][3] == "`cases[1].timeline[0]` says nothing happens: did you mean `event`?"
    assert found[2][3] == (
        "`ends` in `cases[1].expect` is the text 'done': write one of 'completed', 'exited', "
        "'failed' or 'running'"
    )


def test_a_case_cannot_start_a_journey_in_a_way_its_trigger_does_not(
    project: Callable[..., Path],
) -> None:
    path = project(
        "journey: nudge\ncases:\n"
        "  - {name: a, timeline: [{at: 0, start: {}}, {at: 1h, scheduled: {}}], expect: {}}\n",
        SPLIT,
    )
    assert [(code, message) for _l, _c, code, message in problems(path)] == [
        (
            "timeline_trigger_mismatch",
            f"journey nudge's trigger is not {how}, so a `{key}` cannot start it: send its "
            "trigger's event instead (`event: signed_up`)",
        )
        for key, how in (("start", "`api: {}`"), ("scheduled", "`schedule:`"))
    ]


def test_a_missing_journey_or_a_broken_one_says_so(project: Callable[..., Path]) -> None:
    path = project(
        "journey: nudge\ncases:\n  - {name: a, timeline: [{at: 0, event: e}], expect: {}}\n"
    )
    (path.parent.parent / "nudge.yaml").unlink()
    [(line, column, code, message)] = problems(path)
    assert (line, column, code) == (1, 10, "case_journey_not_found")
    assert message.startswith("there is no journey file nudge.yaml in ")
    (path.parent.parent / "nudge.yaml").write_text("journey: nudge\nname: N\ntrigger: {event: e}\n")
    found = problems(path)
    assert found[0][2:] == (
        "case_journey_not_found",
        "the journey nudge.yaml has errors (each shown with its line): fix them, then test it",
    )
    assert found[1][2] == "field_required"


def test_every_shipped_journey_has_a_test_file_and_the_schema_is_current() -> None:
    tested = {load_case_file(p).tests.journey for p in case_files([JOURNEYS])}  # type: ignore[union-attr]
    assert tested == {p.stem for p in JOURNEYS.glob("*.yaml")}
    committed = (REPO / "schemas" / "journey-test.schema.json").read_text()
    assert committed == case_json_schema_text(), (
        "run: cxflow schema --tests -o schemas/journey-test.schema.json"
    )


def test_an_answer_must_be_what_the_installed_action_returns(
    project: Callable[..., Path], cxflow_test: Callable[..., Any]
) -> None:
    path = project(
        "journey: nudge\nanswers:\n  shop.create_discount: { code: X }\ncases:\n"
        "  - {name: a, timeline: [{at: 0, event: signed_up}], expect: {}}\n"
    )
    result = cxflow_test(str(path))
    assert result.returncode == 1
    assert (
        f"{path}:3:25: error: the answer for shop.create_discount is not what it returns: "
        "`price_rule_id` field required; `expires_at` field required (its output has code, "
        "price_rule_id, expires_at)"
    ) in result.stderr
    assert "no case ran; 1 test file(s) with errors (above): fix them first" in result.stderr
