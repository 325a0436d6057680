"""Valid journeys: the shipped examples validate cleanly and compile to the expected graph."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dsl.catalog import StaticCatalog
from dsl.compiled import BranchNode, CallNode, SendNode, SplitNode, WaitForNode, WaitNode
from dsl.loader import load_file, load_text
from tests.conftest import JOURNEYS

SHIPPED = sorted(p for p in JOURNEYS.glob("*.yaml"))


def test_at_least_four_journeys_are_shipped() -> None:
    assert len(SHIPPED) >= 4


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_journey_validates_without_errors_or_warnings(path: Path) -> None:
    result = load_file(path)
    assert [d.render() for d in result.diagnostics] == []
    assert result.compiled is not None
    assert result.compiled.id == path.stem


def test_abandoned_cart_compiles_to_the_graph_it_describes() -> None:
    compiled = load_file(JOURNEYS / "abandoned-cart.yaml").compiled
    assert compiled is not None
    assert compiled.start == "pause"
    pause = compiled.steps["pause"]
    assert isinstance(pause, WaitNode) and pause.seconds == 3600 and pause.next == "offer-test"
    split = compiled.steps["offer-test"]
    assert isinstance(split, SplitNode)
    assert [(v.name, v.weight, v.holdout, v.next) for v in split.variants] == [
        ("reminder", 45, False, "plain-reminder"),
        ("discount", 45, False, "make-coupon"),
        ("holdout", 10, True, "done"),
    ]
    make_coupon = compiled.steps["make-coupon"]
    assert isinstance(make_coupon, CallNode)
    assert make_coupon.next == "discount-reminder"  # the following step
    wait_order = compiled.steps["wait-order"]
    assert isinstance(wait_order, WaitForNode)
    assert (wait_order.next, wait_order.on_timeout, wait_order.timeout_seconds) == (
        "done",
        "vip-check",
        2 * 86400,
    )
    branch = compiled.steps["vip-check"]
    assert isinstance(branch, BranchNode)
    assert [(c.when, c.next) for c in branch.cases] == [("segment('vip')", "social-nudge")]
    assert branch.otherwise == "done"
    social_nudge = compiled.steps["social-nudge"]
    assert isinstance(social_nudge, SendNode) and social_nudge.next == "done"
    discount = compiled.steps["discount-reminder"]
    assert isinstance(discount, SendNode)
    assert discount.content.subject is not None and "coupon.code" in discount.content.subject
    assert discount.content.body is not None and "{{ coupon.code }}" in discount.content.body
    assert compiled.entry.reentry == "after" and compiled.entry.reentry_after_seconds == 7 * 86400
    assert compiled.goal is not None and compiled.goal.within_seconds == 7 * 86400
    assert compiled.settings.quiet_hours is not None
    assert compiled.settings.quiet_hours.start_minute == 21 * 60
    assert compiled.listens_to == ["order.completed"]


def test_version_is_stable_and_changes_with_content(
    minimal_journey: str, write_journey: Callable[[str, str], Path]
) -> None:
    first = load_text(minimal_journey).compiled
    again = load_text("# a comment changes nothing\n" + minimal_journey).compiled
    changed = load_text(minimal_journey.replace("wait: 1d", "wait: 2d")).compiled
    assert first is not None and again is not None and changed is not None
    assert first.version == again.version
    assert first.version != changed.version


def test_version_changes_when_a_template_changes(
    write_journey: Callable[[str, str], Path],
) -> None:
    text = (
        "journey: j\nname: J\ntrigger: {event: e}\nsteps:\n"
        "  - id: hello\n    send: { channel: email, template: hello }\n"
    )
    path = write_journey(text, "j.yaml")
    templates = path.parent / "templates"
    templates.mkdir()
    (templates / "hello.yaml").write_text('body: "Hi {{ customer.first_name }}"\n')
    before = load_file(path).compiled
    (templates / "hello.yaml").write_text('body: "Hello {{ customer.first_name }}"\n')
    after = load_file(path).compiled
    assert before is not None and after is not None
    assert before.version != after.version


def test_missing_and_broken_templates_are_reported(
    write_journey: Callable[[str, str], Path],
) -> None:
    text = (
        "journey: j\nname: J\ntrigger: {event: e}\nsteps:\n"
        "  - id: a\n    send: { channel: email, template: helo }\n"
        "  - id: b\n    send: { channel: email, template: broken }\n"
    )
    path = write_journey(text, "j.yaml")
    templates = path.parent / "templates"
    templates.mkdir()
    (templates / "hello.yaml").write_text("body: Hi\n")
    (templates / "broken.yaml").write_text("body: Hi\nsubjcet: x\n")
    messages = [(d.file.endswith("broken.yaml"), d.line, d.message) for d in load_file(path).errors]
    assert messages == [
        (False, 6, "there is no template 'helo' in templates/: did you mean 'hello'?"),
        (False, 8, "template 'broken' has errors (shown above): fix the template file"),
        (True, 2, "unknown key `subjcet` in the template: did you mean `subject`?"),
    ]


def test_template_variables_are_checked_against_the_step_scope(
    write_journey: Callable[[str, str], Path],
) -> None:
    text = (
        "journey: j\nname: J\ntrigger: {event: e}\nsteps:\n"
        "  - id: a\n    send: { channel: email, template: hello }\n"
    )
    path = write_journey(text, "j.yaml")
    (path.parent / "templates").mkdir()
    (path.parent / "templates" / "hello.yaml").write_text("body: 'Code {{ coupon.code }}'\n")
    assert [d.message for d in load_file(path).errors] == [
        "template 'hello' (body) uses `coupon`, which is not known here: templates can use "
        "`brand`, `customer`, `event`, `journey`, `links`, `now`, `today`, `trigger` and results "
        "saved by earlier "
        "steps with save_as"
    ]


def test_unknown_connector_channel_and_action_are_reported(minimal_journey: str) -> None:
    text = minimal_journey + "  - id: c\n    call: shop.create_discont\n"
    text = text.replace("  - id: done\n    exit: {}\n", "")
    catalog = StaticCatalog(channels={"sms"}, actions={"shop.create_discount"})
    assert [(d.line, d.message) for d in load_text(text, catalog=catalog).errors] == [
        (8, "no installed connector provides the channel 'email': the installed channels are sms"),
        (
            13,
            "no installed connector provides the action 'shop.create_discont': did you mean "
            "'shop.create_discount'?",
        ),
    ]


def test_long_journeys_validate(minimal_journey: str) -> None:
    steps = "".join(f"  - id: s{i}\n    wait: 1h\n" for i in range(300))
    text = "journey: long\nname: Long\ntrigger: {event: e}\nsteps:\n" + steps
    result = load_text(text)
    assert result.ok and result.compiled is not None and len(result.compiled.steps) == 300
