"""Stable problem codes: every diagnostic has one, each is documented, each names one kind.

Programs (the CLI, editors, CI scripts) decide on a diagnostic's ``code`` and read
the values in its ``context``, never its message. The invalid-journey table asserts
the code of each of its cases; the cases here cover the codes it does not, and the
registry, the docs and the dsl sources are checked against each other.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from dsl.catalog import StaticCatalog
from dsl.changes import experiment_change_diagnostics
from dsl.codes import MEANINGS, CodedValueError, DiagnosticCode
from dsl.diagnostics import Diagnostic, Severity
from dsl.durations import parse_duration
from dsl.loader import SegmentNames, load_file, load_text
from dsl.segment_loader import load_segment_file, load_segment_text
from dsl.templates import FileTemplateStore
from tests.dsl.conftest import MINIMAL

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "dsl-reference.md"
DSL = REPO / "dsl"

HEAD = "journey: j\nname: J\ntrigger: {event: x}\n"
SEGMENT_HEAD = "segment: s\nname: S\n"


def documented_codes() -> list[str]:
    text = DOCS.read_text(encoding="utf-8")
    assert "\n## Problem codes\n" in text
    section = text.split("\n## Problem codes\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z0-9_]+)` \|", section, flags=re.MULTILINE)


def codes_named_in_dsl_sources() -> set[str]:
    """Member names of DiagnosticCode that dsl code outside the registry refers to."""
    names: set[str] = set()
    for path in DSL.glob("*.py"):
        if path.name == "codes.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in ("DiagnosticCode", "_C")
            ):
                names.add(node.attr)
    return names


# -- the registry ---------------------------------------------------------------------------


def test_codes_are_unique_snake_case_and_each_has_a_meaning() -> None:
    values = [member.value for member in DiagnosticCode.__members__.values()]
    assert len(values) == len(set(values)), "two members share a code (an alias)"
    for value in values:
        assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", value), value
    assert set(MEANINGS) == set(DiagnosticCode)
    assert all(meaning.strip() for meaning in MEANINGS.values())


def test_every_code_is_documented_once_and_the_docs_name_no_other() -> None:
    documented = documented_codes()
    duplicates = sorted({c for c in documented if documented.count(c) > 1})
    assert duplicates == []
    assert set(documented) == {c.value for c in DiagnosticCode}


def test_every_code_is_used_by_the_validator() -> None:
    unused = set(DiagnosticCode.__members__) - codes_named_in_dsl_sources()
    assert unused == set()


def test_a_diagnostic_accepts_only_registered_codes() -> None:
    fields = {"file": "f", "line": 1, "column": 1, "path": "", "message": "m"}
    assert Diagnostic(**fields, code="unknown_step").code is DiagnosticCode.UNKNOWN_STEP
    with pytest.raises(ValueError, match="code"):
        Diagnostic(**fields, code="no_such_code")


def test_json_output_carries_code_and_context_as_plain_values() -> None:
    result = load_text(HEAD + "steps:\n  - id: a\n    next: nowhere\n    wait: 1h\n", "j.yaml")
    [dumped] = [d.model_dump(mode="json") for d in result.diagnostics]
    assert dumped["code"] == "unknown_step"
    assert dumped["context"] == {"step": "nowhere"}
    assert type(dumped["code"]) is str


# -- codes the invalid-journey table does not cover ---------------------------------------

# (name, "journey" or "segment", text, code, a fragment of the message)
MORE_CASES: list[tuple[str, str, str, str, str]] = [
    (
        "two-documents",
        "journey",
        MINIMAL + "---\njourney: other\n",
        "yaml_multiple_documents",
        "more than one YAML document",
    ),
    ("nested-too-deeply", "journey", "[" * 5000, "yaml_recursive", "nests too deeply"),
    (
        "empty-name",
        "journey",
        "journey: j\nname: ''\ntrigger: {event: x}\nsteps: [{id: d, exit: {}}]\n",
        "value_invalid",
        "`name`: String should have at least 1 character",
    ),
    (
        "bad-event-name",
        "journey",
        "journey: j\nname: J\ntrigger: {event: ' x'}\nsteps: [{id: d, exit: {}}]\n",
        "event_name_invalid",
        "is not an event name",
    ),
    (
        "bad-save-as",
        "journey",
        HEAD + "steps:\n  - id: c\n    call: shop.create_discount\n    save_as: 2x\n"
        "  - id: d\n    exit: {}\n",
        "variable_name_invalid",
        "cannot be used as a variable name",
    ),
    (
        "branch-item-not-a-case",
        "journey",
        HEAD + "steps:\n  - id: b\n    branch:\n      - 3\n      - else: d\n  - id: d\n"
        "    exit: {}\n",
        "branch_item_invalid",
        "each item of the branch in",
    ),
    (
        "reentry-number",
        "journey",
        HEAD + "entry: {reentry: 3}\nsteps: [{id: d, exit: {}}]\n",
        "reentry_invalid",
        "must be once, always or a mapping",
    ),
    (
        "wait-list",
        "journey",
        HEAD + "steps:\n  - id: w\n    wait: [1h]\n  - id: d\n    exit: {}\n",
        "wait_invalid",
        "must be a duration such as `wait: 1h`",
    ),
    (
        "two-elses",
        "journey",
        HEAD + "steps:\n  - id: b\n    branch:\n      - when: customer.x > 1\n        next: d\n"
        "      - else: d\n      - else: d\n  - id: d\n    exit: {}\n",
        "duplicate_else",
        "a branch has one `else`",
    ),
    (
        "two-holdouts",
        "journey",
        HEAD + "steps:\n  - id: ab\n    split:\n      experiment: e\n      variants:\n"
        "        - {name: a, weight: 50, holdout: true, next: d}\n"
        "        - {name: b, weight: 50, holdout: true, next: d}\n  - id: d\n    exit: {}\n",
        "duplicate_holdout",
        "at most one holdout",
    ),
    (
        "quiet-hours-equal",
        "journey",
        HEAD + "settings: {quiet_hours: {start: '09:00', end: '09:00'}}\n"
        "steps: [{id: d, exit: {}}]\n",
        "quiet_hours_empty",
        "quiet hours start and end at the same time",
    ),
    (
        "no-weekdays",
        "journey",
        HEAD + "steps:\n  - id: w\n    wait: {until: '09:00', weekdays: []}\n  - id: d\n"
        "    exit: {}\n",
        "weekdays_empty",
        "weekdays is empty",
    ),
    (
        "empty-condition",
        "journey",
        "journey: j\nname: J\ntrigger: {event: x, when: ' '}\nsteps: [{id: d, exit: {}}]\n",
        "condition_empty",
        "the condition is empty",
    ),
    (
        "deep-condition",
        "journey",
        "journey: j\nname: J\ntrigger: {event: x, when: '"
        + "(" * 300
        + "1"
        + ")" * 300
        + " > 0'}\nsteps: [{id: d, exit: {}}]\n",
        "condition_too_deep",
        "the condition nests too deeply",
    ),
    (
        "segment-two-kinds",
        "segment",
        SEGMENT_HEAD + "match: { trait: plan, count: x, equals: 1 }\n",
        "condition_kind_conflict",
        "a condition tests one thing",
    ),
    (
        "segment-misspelt-kind",
        "segment",
        SEGMENT_HEAD + "match:\n  any:\n    - tarit: plan\n",
        "condition_kind_missing",
        "has no condition",
    ),
    (
        "segment-two-comparisons",
        "segment",
        SEGMENT_HEAD + "match: { count: order.completed, at_least: 2, at_most: 5 }\n",
        "comparison_count",
        "write exactly one comparison",
    ),
    (
        "segment-no-trait-test",
        "segment",
        SEGMENT_HEAD + "match: { trait: plan }\n",
        "trait_test_count",
        "write exactly one test for trait `plan`",
    ),
    (
        "segment-bad-property",
        "segment",
        SEGMENT_HEAD + "match: { sum: 'total price', of: order.completed, at_least: 1 }\n",
        "field_path_invalid",
        "is not a property name",
    ),
    (
        "segment-bad-regex",
        "segment",
        SEGMENT_HEAD + "match: { trait: email, matches: '([' }\n",
        "regex_invalid",
        "is not a regular expression",
    ),
    (
        "segment-bad-date",
        "segment",
        SEGMENT_HEAD + "match: { trait: birthday, before: next week }\n",
        "date_invalid",
        "is not a date",
    ),
    (
        "segment-empty-all",
        "segment",
        SEGMENT_HEAD + "match: { all: [] }\n",
        "list_too_short",
        "is empty: write at least one item",
    ),
    (
        "segment-missing-name",
        "segment",
        "segment: s\nmatch: { performed: x }\n",
        "field_required",
        "the segment is missing `name`",
    ),
]


@pytest.mark.parametrize(
    ("kind", "text", "code", "fragment"),
    [case[1:] for case in MORE_CASES],
    ids=[case[0] for case in MORE_CASES],
)
def test_each_kind_of_problem_has_its_code(kind: str, text: str, code: str, fragment: str) -> None:
    result = load_text(text, "j.yaml") if kind == "journey" else load_segment_text(text, "s.yaml")
    found = [(d.code.value, d.message) for d in result.diagnostics]
    assert any(c == code and fragment in m for c, m in found), found
    assert result.compiled is None


def test_a_value_error_names_its_code_and_stays_a_value_error() -> None:
    with pytest.raises(CodedValueError) as caught:
        parse_duration("1 hour")
    assert isinstance(caught.value, ValueError)
    assert caught.value.code is DiagnosticCode.DURATION_INVALID
    assert caught.value.context == {"value": "1 hour"}


# -- codes with context that programs read ---------------------------------------------------

CONNECTOR_JOURNEY = HEAD + (
    "steps:\n"
    "  - id: hello\n    send: {channel: sms, body: hi}\n"
    "  - id: coupon\n    call: shop.create_discount\n"
    "  - id: done\n    exit: {}\n"
)


@pytest.mark.parametrize("severity", [Severity.ERROR, Severity.WARNING])
def test_a_missing_connector_names_the_kind_and_the_name(severity: Severity) -> None:
    catalog = StaticCatalog(channels={"email"}, actions={"crm.tag"})
    result = load_text(CONNECTOR_JOURNEY, "j.yaml", catalog=catalog, missing_connectors=severity)
    missing = [
        (d.code, d.context, d.severity, d.path)
        for d in result.diagnostics
        if d.code == "connector_missing"
    ]
    assert missing == [
        (
            DiagnosticCode.CONNECTOR_MISSING,
            {"kind": "channel", "name": "sms"},
            severity,
            "steps[0].send.channel",
        ),
        (
            DiagnosticCode.CONNECTOR_MISSING,
            {"kind": "action", "name": "shop.create_discount"},
            severity,
            "steps[1].call",
        ),
    ]
    assert len(result.diagnostics) == 2


def test_installed_connectors_give_no_connector_missing() -> None:
    catalog = StaticCatalog(channels={"sms"}, actions={"shop.create_discount"})
    assert load_text(CONNECTOR_JOURNEY, "j.yaml", catalog=catalog).diagnostics == []


def test_a_condition_result_saved_on_some_paths_names_the_variable() -> None:
    text = HEAD + (
        "steps:\n"
        "  - id: b\n    branch:\n      - when: customer.vip\n        next: make\n"
        "      - else: check\n"
        "  - id: make\n    call: shop.create_discount\n    save_as: coupon\n"
        "  - id: check\n    branch:\n      - when: has(coupon.code)\n        next: done\n"
        "      - else: done\n"
        "  - id: done\n    exit: {}\n"
    )
    [diagnostic] = load_text(text, "j.yaml").diagnostics
    assert diagnostic.severity is Severity.WARNING
    assert diagnostic.code is DiagnosticCode.VARIABLE_SOMETIMES_SAVED
    assert diagnostic.context == {"name": "coupon"}


def test_template_problems_have_their_codes(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "broken.yaml").write_text("subject: [x\n")
    (folder / "welcome.yaml").write_text("body: 'Hi {{ customer.name | upcse }}'\n")
    text = HEAD + (
        "steps:\n"
        "  - id: a\n    send: {channel: email, template: welcom}\n"
        "  - id: b\n    send: {channel: email, template: broken}\n"
        "  - id: c\n    send: {channel: email, template: welcome}\n"
        "  - id: done\n    exit: {}\n"
    )
    result = load_text(text, "j.yaml", templates=FileTemplateStore(folder))
    assert [(d.code.value, d.context) for d in result.diagnostics] == [
        ("yaml_syntax", {}),
        ("template_missing", {"template": "welcom"}),
        ("template_invalid", {"template": "broken"}),
        ("unknown_liquid_filter", {"template": "welcome", "part": "body", "filter": "upcse"}),
    ]
    [unchecked] = load_text(text, "j.yaml", templates=None).diagnostics
    assert unchecked.code is DiagnosticCode.TEMPLATES_UNCHECKED
    assert unchecked.severity is Severity.WARNING


def test_an_undeclared_segment_names_the_segment() -> None:
    text = "journey: j\nname: J\ntrigger: {segment: vipp}\nsteps: [{id: d, exit: {}}]\n"
    segments = SegmentNames("segments", {"vip"})
    [diagnostic] = load_text(text, "j.yaml", segments=segments).diagnostics
    assert (diagnostic.code, diagnostic.context) == ("unknown_segment", {"segment": "vipp"})
    assert "did you mean 'vip'?" in diagnostic.message


def test_a_changed_split_names_the_experiment_and_the_step() -> None:
    def journey(weights: tuple[int, int]) -> str:
        return HEAD + (
            "steps:\n  - id: ab\n    split:\n      experiment: offer\n      variants:\n"
            f"        - {{name: a, weight: {weights[0]}, next: done}}\n"
            f"        - {{name: b, weight: {weights[1]}, next: done}}\n"
            "  - id: done\n    exit: {}\n"
        )

    deployed = load_text(journey((50, 50))).compiled
    new_text = journey((80, 20))
    new = load_text(new_text).compiled
    assert deployed is not None and new is not None
    [diagnostic] = experiment_change_diagnostics(deployed, new, new_text, "j.yaml")
    assert diagnostic.code is DiagnosticCode.EXPERIMENT_SPLIT_CHANGED
    assert diagnostic.context == {"experiment": "offer", "step": "ab"}
    assert diagnostic.severity is Severity.WARNING
    assert experiment_change_diagnostics(deployed, deployed, journey((50, 50)), "j.yaml") == []


def test_file_problems_have_their_codes(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("name: Caf\xe9\n".encode("latin-1"))
    large = tmp_path / "large.yaml"
    large.write_text("#" * 2_000_001)
    unreadable = tmp_path / "unreadable.yaml"
    unreadable.symlink_to(unreadable)  # a symlink loop: stat() fails with ELOOP
    cases = {
        tmp_path / "missing.yaml": "file_not_found",
        tmp_path: "file_is_folder",
        latin1: "file_not_utf8",
        large: "file_too_large",
        unreadable: "file_unreadable",
    }
    for path, code in cases.items():
        [diagnostic] = load_file(path).diagnostics
        assert diagnostic.code == code, (path, diagnostic)
    [segment] = load_segment_file(tmp_path / "missing.yaml").diagnostics
    assert segment.code is DiagnosticCode.FILE_NOT_FOUND


def test_a_segment_file_named_after_another_id_says_both(tmp_path: Path) -> None:
    path = tmp_path / "vips.yaml"
    path.write_text("segment: vip\nname: VIP\nmatch: { performed: x }\n")
    [diagnostic] = load_segment_file(path).diagnostics
    assert diagnostic.code is DiagnosticCode.SEGMENT_ID_MISMATCH
    assert diagnostic.context == {"expected": "vips", "declared": "vip"}
