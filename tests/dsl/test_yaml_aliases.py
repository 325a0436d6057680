"""YAML aliases are bounded: a few hundred bytes of nested aliases must not hang validation.

An alias (``*name``) repeats everything its anchor (``&name``) holds, so nine anchors
each naming the previous one nine times stand for hundreds of millions of values
("billion laughs"). The reader counts the aliases of a file and the values they stand
for while it composes the YAML, and stops at the alias that goes over the limit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dsl.codes import DiagnosticCode
from dsl.loader import load_text
from dsl.segment_loader import load_segment_text
from dsl.source import MAX_ALIAS_VALUES, MAX_ALIASES
from dsl.templates import FileTemplateStore

HEAD = "journey: j\nname: J\ntrigger: {event: x}\n"
STEPS = "steps:\n  - id: done\n    exit: {}\n"


def laughs(levels: int, fan: int, indent: str = "") -> list[str]:
    """Lines ``a0: &a0 [lol]``, ``a1: &a1 [*a0, *a0, ...]``, ... under one key."""
    lines = [f"{indent}a0: &a0 [lol]"]
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * fan)
        lines.append(f"{indent}a{level}: &a{level} [{refs}]")
    return lines


def journey_bomb(levels: int, fan: int) -> str:
    # The anchors sit in a step's `with:`, where any values are allowed.
    lines = [
        "steps:",
        "  - id: call",
        "    call: shop.create_discount",
        "    with:",
        *laughs(levels, fan, indent="      "),
        "  - id: done",
        "    exit: {}",
    ]
    return HEAD + "\n".join(lines) + "\n"


@pytest.mark.timeout(5)
def test_a_billion_laughs_journey_fails_at_the_alias_that_goes_over() -> None:
    text = journey_bomb(levels=9, fan=9)
    assert len(text.encode()) < 700
    result = load_text(text, "bomb.yaml")
    [diagnostic] = result.diagnostics
    assert diagnostic.code is DiagnosticCode.YAML_ALIAS_LIMIT
    assert diagnostic.context == {"alias": "a3", "limit": "values", "max": str(MAX_ALIAS_VALUES)}
    # a0 is 2 values, a1 19, a2 172, a3 1549: the sixth *a3 of a4 passes 10,000
    line = text.splitlines()[diagnostic.line - 1]
    assert line.startswith("      a4: &a4 [")
    assert diagnostic.column == line.index("*a3") + 1 + 5 * len("*a3, ")
    assert diagnostic.message == (
        "the alias *a3 takes the file over 10,000 values repeated by aliases: an alias "
        "repeats everything its anchor holds, the aliases inside it included. Write the "
        "values out instead, or use fewer aliases"
    )
    assert result.compiled is None and result.journey is None


@pytest.mark.timeout(5)
def test_a_deeper_and_wider_bomb_fails_just_as_fast() -> None:
    result = load_text(journey_bomb(levels=40, fan=30), "bomb.yaml")
    [diagnostic] = result.diagnostics
    assert diagnostic.code is DiagnosticCode.YAML_ALIAS_LIMIT
    assert diagnostic.context["limit"] == "values"


@pytest.mark.timeout(5)
def test_a_segment_file_bomb_fails_too() -> None:
    text = "segment: s\nname: S\nx:\n" + "\n".join(laughs(9, 9, "  ")) + "\nmatch: {trait: p}\n"
    [diagnostic] = load_segment_text(text, "s.yaml").diagnostics
    assert diagnostic.code is DiagnosticCode.YAML_ALIAS_LIMIT
    assert (diagnostic.file, diagnostic.line) == ("s.yaml", 8)


@pytest.mark.timeout(5)
def test_a_template_file_bomb_fails_too(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "hello.yaml").write_text(
        "body: hi\ndescription:\n" + "\n".join(laughs(9, 9, "  ")) + "\n"
    )
    text = HEAD + "steps:\n  - id: a\n    send: {channel: email, template: hello}\n"
    result = load_text(text, "j.yaml", templates=FileTemplateStore(folder))
    codes = [d.code for d in result.diagnostics]
    assert codes == [DiagnosticCode.YAML_ALIAS_LIMIT, DiagnosticCode.TEMPLATE_INVALID]


def small_aliases(count: int) -> str:
    """``count`` waits that reuse a duration anchored by the first step."""
    steps = "  - id: s0\n    wait: &pause 1h\n"
    steps += "".join(f"  - id: s{i}\n    wait: *pause\n" for i in range(1, count + 1))
    return HEAD + "steps:\n" + steps


def test_a_file_may_use_a_hundred_aliases_and_not_one_more() -> None:
    assert load_text(small_aliases(MAX_ALIASES)).ok
    result = load_text(small_aliases(MAX_ALIASES + 1))
    [diagnostic] = result.diagnostics
    assert diagnostic.code is DiagnosticCode.YAML_ALIAS_LIMIT
    assert diagnostic.context == {"alias": "pause", "limit": "aliases", "max": "100"}
    assert (diagnostic.line, diagnostic.column) == (6 + 2 * (MAX_ALIASES + 1), 11)
    assert diagnostic.message == (
        "the alias *pause is alias number 101 of the file: a journey or segment file may use "
        "at most 100 aliases (*name). Write the values out instead, or use fewer aliases"
    )


def test_an_alias_inside_its_own_anchor_is_recursive_at_the_alias() -> None:
    text = HEAD + "steps:\n  - id: c\n    call: a.b\n    with: &w {again: *w}\n"
    [diagnostic] = load_text(text).diagnostics
    assert diagnostic.code is DiagnosticCode.YAML_RECURSIVE
    assert (diagnostic.line, diagnostic.column, diagnostic.context) == (7, 22, {"alias": "w"})
    assert "refers to a node that contains it" in diagnostic.message


SHARED_PARAMS = HEAD + (
    "steps:\n"
    "  - id: first\n"
    "    send:\n"
    "      channel: email\n"
    "      body: Hi\n"
    "      params: &shared\n"
    "        reply_to: help@shop.example.com\n"
    "        tags: [welcome, '{{ journey.id }}']\n"
    "  - id: second\n"
    "    send: {channel: email, body: Again, params: *shared}\n"
    "  - id: third\n"
    "    send:\n"
    "      channel: email\n"
    "      body: Once more\n"
    "      params:\n"
    "        <<: *shared\n"
    "        priority: high\n"
)


def test_a_shared_params_block_still_validates_and_compiles() -> None:
    result = load_text(SHARED_PARAMS)
    assert result.diagnostics == []
    assert result.compiled is not None
    shared = {"reply_to": "help@shop.example.com", "tags": ["welcome", "{{ journey.id }}"]}
    params = [node.params for node in result.compiled.steps.values()]  # type: ignore[union-attr]
    assert params == [shared, shared, {**shared, "priority": "high"}]


def test_a_problem_in_a_shared_block_is_reported_for_each_step_that_uses_it() -> None:
    text = SHARED_PARAMS.replace("help@shop.example.com", "'{{ customer.email | upcse }}'")
    problems = [(d.line, d.path, d.code) for d in load_text(text).diagnostics]
    filter_code = DiagnosticCode.UNKNOWN_LIQUID_FILTER
    assert problems == [
        (10, "steps[0].send.params.reply_to", filter_code),  # where the anchor is written
        (10, "steps[1].send.params.reply_to", filter_code),  # the alias: the same text
        (19, "steps[2].send.params.reply_to", filter_code),  # the `<<` that merged it in
    ]
