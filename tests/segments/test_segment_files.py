"""Segment files: the shipped ones are valid, bad ones get positioned messages, journeys are
checked against the segments they name."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from dsl.diagnostics import Severity
from dsl.loader import load_file
from dsl.segment_loader import (
    load_segment_file,
    load_segment_text,
    segment_files,
    segment_json_schema,
    segment_json_schema_text,
)
from tests.cli.conftest import CXFLOW
from tests.conftest import REPO
from tests.segments.conftest import segment

SHIPPED = segment_files([REPO / "segments"])


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_segments_are_valid_and_match_the_schema(path: Path) -> None:
    result = load_segment_file(path)
    assert result.diagnostics == []
    assert result.compiled is not None and result.compiled.id == path.stem
    data = YAML(typ="safe").load(path.read_text())
    assert list(Draft202012Validator(segment_json_schema()).iter_errors(data)) == []


def test_the_journeys_name_only_shipped_segments() -> None:
    names = {p.stem for p in SHIPPED}
    assert {"vip", "lapsed-customers"} <= names
    for journey in sorted((REPO / "journeys").glob("*.yaml")):
        assert load_file(journey).diagnostics == [], journey


def test_the_committed_schema_is_up_to_date() -> None:
    committed = (REPO / "schemas" / "segment.schema.json").read_text()
    assert committed == segment_json_schema_text(), (
        "run: cxflow segments schema -o schemas/segment.schema.json"
    )


def test_dependencies_say_what_can_change_membership() -> None:
    vip = load_segment_file(REPO / "segments" / "vip.yaml").compiled
    staff = load_segment_file(REPO / "segments" / "staff.yaml").compiled
    lapsed = load_segment_file(REPO / "segments" / "lapsed-customers.yaml").compiled
    assert vip and staff and lapsed
    assert vip.depends_on.model_dump() == {
        "events": ["order.completed"],
        "traits": False,
        "time": True,
    }
    assert staff.depends_on.model_dump() == {"events": [], "traits": True, "time": False}
    assert lapsed.depends_on.model_dump() == {
        "events": ["order.completed"],
        "traits": True,
        "time": True,
    }
    assert vip.affected_by("order.completed") and not vip.affected_by("identify")
    assert staff.affected_by("identify") and not staff.affected_by("order.completed")


def test_relative_dates_make_a_trait_segment_time_dependent() -> None:
    recent = segment("segment: s\nname: S\nmatch: { trait: signed_up_at, within_last: 7d }\n")
    fixed = segment("segment: s\nname: S\nmatch: { trait: signed_up_at, after: '2026-01-01' }\n")
    assert recent.depends_on.time and recent.depends_on.traits
    assert not fixed.depends_on.time


def test_the_version_changes_with_the_condition_not_with_formatting() -> None:
    a = segment("segment: s\nname: S\nmatch: { count: x, at_least: 2 }\n")
    b = segment("# comment\nsegment: s\nname: S\nmatch:\n  at_least: 2\n  count: x\n")
    c = segment("segment: s\nname: S\nmatch: { count: x, at_least: 3 }\n")
    assert a.version == b.version != c.version


HEAD = "segment: s\nname: S\n"
INVALID = [
    (
        HEAD + "match: { trait: plan, equal: pro }\n",
        "3:23: error: unknown key `equal` in `match`: did you mean `equals`?",
    ),
    (
        HEAD + "match: { trait: plan }\n",
        "3:8: error: `match`: write exactly one test for trait `plan`, e.g. `equals: pro`, "
        "`in: [pro, team]`, `at_least: 3`, `exists: true`, `matches: '@acme\\.com$'` or "
        "`within_last: 30d`; found none",
    ),
    (
        HEAD + "match: { count: order.completed, at_least: 2, at_most: 5 }\n",
        "3:8: error: `match`: write exactly one comparison for `count` (equals, not_equals, "
        "greater_than, at_least, less_than, at_most), e.g. `at_least: 2`; found `at_least`, "
        "`at_most`",
    ),
    (
        HEAD + "match: { sum: total, within: 90d, greater_than: 5 }\n",
        "3:8: error: `match` is missing `of`: add `of: order.completed`",
    ),
    (
        HEAD + "match: { count: order.completed, within: 30 days, at_least: 1 }\n",
        "3:42: error: `within` in `match`: '30 days' is not a duration: write a duration such "
        "as 30m, 1h, 2d, 1w or 1d12h (units w, d, h, m, s)",
    ),
    (
        HEAD + "match:\n  any:\n    - tarit: plan\n",
        "5:7: error: `match.any[0]` has no condition: `tarit` is not one; did you mean `trait`?",
    ),
    (
        HEAD + "match: { trait: plan, count: x, equals: 1 }\n",
        "3:8: error: `match` has both `trait` and `count`: a condition tests one thing; put "
        "several in `all: [...]` or `any: [...]`",
    ),
    (
        HEAD + "match: { all: [] }\n",
        "3:15: error: `match.all` is empty: write at least one item, or remove it",
    ),
    (
        HEAD + "match: { trait: email, matches: '([' }\n",
        "3:33: error: `matches` in `match`: '([' is not a regular expression (unterminated "
        "character set at position 1): escape special characters with \\, e.g. "
        "'@example\\.com$'",
    ),
    (
        HEAD + "match: { trait: birthday, before: next week }\n",
        "3:35: error: `before` in `match`: 'next week' is not a date: write ISO 8601 in "
        'quotes, e.g. "2026-01-31" or "2026-01-31T09:00:00Z"',
    ),
    (
        HEAD + "match: { not: 3 }\n",
        "3:15: error: `match.not` must be a condition, a mapping with one of all, any, not, "
        "trait, group, performed, count, sum, average, min, max, value (e.g. "
        "`{trait: plan, equals: pro}` or `{count: order.completed, at_least: 2}`), not the "
        "number 3",
    ),
    (
        HEAD + "match: { sum: 'total price', of: order.completed, at_least: 1 }\n",
        "3:15: error: `sum` in `match`: 'total price' is not a property name: write its "
        "name, with dots for nested fields, for example total or cart.value",
    ),
    (
        "segment: VIP!\nname: S\nmatch: { performed: x }\n",
        "1:10: error: `segment`: 'VIP!' is not a valid segment name: use lower-case letters, "
        "digits, '-' and '_' (at most 64), for example 'vip'",
    ),
    (
        "segment: s\nmatch: { performed: x }\n",
        "1:1: error: the segment is missing `name`: add `name: VIP customers`",
    ),
    (
        "- a list\n",
        "1:1: error: the file is a list: a segment is a mapping with `segment`, "
        "`name` and `match` (see docs/segments.md)",
    ),
]


@pytest.mark.parametrize(("text", "expected"), INVALID, ids=[e[1][:40] for e in INVALID])
def test_invalid_segments_get_exact_messages(text: str, expected: str) -> None:
    result = load_segment_text(text, "s.yaml")
    assert result.compiled is None
    assert [d.render() for d in result.diagnostics] == [f"s.yaml:{expected}"]


def test_the_file_name_must_be_the_segment_id(write_segment: Callable[[str, str], Path]) -> None:
    path = write_segment("segment: vip\nname: VIP\nmatch: { performed: x }\n", "vips.yaml")
    [diagnostic] = load_segment_file(path).diagnostics
    assert diagnostic.render().endswith(
        "vips.yaml:1:10: error: the file is named vips.yaml but declares segment 'vip': "
        "journeys find a segment by its file name, so rename the file to vip.yaml or write "
        "`segment: vips`"
    )


JOURNEY = """\
journey: j
name: J
trigger: { segment: vipp }
entry: { segment: vip }
steps:
  - id: check
    branch:
      - when: segment('vip') && !segment("staf")
        next: done
      - else: done
  - id: done
    exit: {}
"""


def test_a_journey_naming_an_undeclared_segment_is_an_error_where_deployed(
    write_segment: Callable[[str, str], Path], write_journey: Callable[[str, str], Path]
) -> None:
    write_segment("segment: vip\nname: VIP\nmatch: { performed: x }\n", "vip.yaml")
    write_segment(
        "segment: staff\nname: Staff\nmatch: { trait: staff, equals: true }\n", "staff.yaml"
    )
    path = write_journey(JOURNEY, "j.yaml")
    folder = path.parent.parent / "segments"
    result = load_file(path)
    assert result.compiled is None
    assert [(d.line, d.column, d.severity, d.message) for d in result.diagnostics] == [
        (
            3,
            21,
            Severity.ERROR,
            f"no segment file declares the segment 'vipp' in {folder}/: did you mean 'vip'?",
        ),
        (
            8,
            15,
            Severity.ERROR,
            f"no segment file declares the segment 'staf' in {folder}/: did you mean 'staff'?",
        ),
    ]
    checked = load_file(path, missing_connectors=Severity.WARNING)
    assert checked.compiled is not None and len(checked.warnings) == 2
    assert load_file(path, segments=None).diagnostics == []


def test_without_a_segments_folder_names_are_not_checked(
    write_journey: Callable[[str, str], Path],
) -> None:
    assert load_file(write_journey(JOURNEY, "j.yaml")).diagnostics == []


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CXFLOW), *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_cli_validate_prints_positions_and_fails(write_segment: Callable[[str, str], Path]) -> None:
    good = write_segment("segment: vip\nname: VIP\nmatch: { performed: x }\n", "vip.yaml")
    write_segment(HEAD + "match: { trait: plan, equal: pro }\n", "s.yaml")
    done = run("segments", "validate", str(good.parent))
    assert done.returncode == 1
    assert f"{good.parent / 's.yaml'}:3:23: error: unknown key `equal`" in done.stderr
    assert "    match: { trait: plan, equal: pro }\n" in done.stderr  # the line, with a caret
    assert f"ok {good}: segment vip v" in done.stdout
    assert "2 segment file(s): 1 valid, 1 with errors (1 errors)" in done.stderr
    as_json = json.loads(run("segments", "validate", "--json", str(good)).stdout)
    assert as_json[0]["ok"] and as_json[0]["depends_on"]["events"] == ["x"]


def test_cli_validate_warns_about_undeclared_segments_in_journeys(
    write_segment: Callable[[str, str], Path], write_journey: Callable[[str, str], Path]
) -> None:
    write_segment("segment: vip\nname: VIP\nmatch: { performed: x }\n", "vip.yaml")
    path = write_journey(JOURNEY, "j.yaml")
    done = run("validate", "--no-templates", str(path))
    assert done.returncode == 0, done.stderr
    assert "warning: no segment file declares the segment 'vipp'" in done.stderr
    strict = run("validate", "--strict-connectors", str(path))
    assert strict.returncode == 1
