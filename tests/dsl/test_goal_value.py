"""A goal's `value` and `currency`: the conversion's worth, checked like a condition."""

from __future__ import annotations

from dsl.loader import load_text
from tests.runtime.conftest import compiled_text

BASE = """\
journey: offer
name: Offer
trigger: { event: cart.updated }
goal:
  event: order.completed
  within: 7d
%s
steps:
  - id: hello
    send: { channel: console, body: "Hello" }
"""


def test_a_goal_value_and_currency_compile() -> None:
    journey = compiled_text(BASE % "  value: double(event.properties.total)\n  currency: EUR")
    assert journey.goal is not None
    assert (journey.goal.value, journey.goal.currency) == ("double(event.properties.total)", "EUR")


def test_goals_without_a_value_keep_their_version() -> None:
    # a goal without a value: its version from before `value` existed
    without = compiled_text(BASE % "")
    assert without.version == "vb33fc06fdc0b"
    with_value = compiled_text(BASE % "  value: double(event.properties.total)")
    assert with_value.version != without.version


def test_a_bad_currency_is_reported_with_its_code() -> None:
    result = load_text(BASE % "  value: double(event.properties.total)\n  currency: eur", "o.yaml")
    assert result.compiled is None
    [problem] = result.diagnostics
    assert (problem.code, problem.path) == ("currency_invalid", "goal.currency")
    assert "three capital letters" in problem.message


def test_a_value_naming_an_unknown_variable_is_reported() -> None:
    result = load_text(BASE % "  value: double(order.total)", "o.yaml")
    assert result.compiled is None
    assert [(d.code, d.path) for d in result.diagnostics] == [("unknown_variable", "goal.value")]


def test_the_names_of_the_workspace_reports_are_no_journey_ids() -> None:
    result = load_text(BASE.replace("journey: offer", "journey: voc") % "", "voc.yaml")
    assert [(d.code, d.path) for d in result.diagnostics] == [("name_reserved", "journey")]
