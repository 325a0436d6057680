"""Property tests: whatever YAML an author writes, validation answers with diagnostics.

The validator must never crash with a Python traceback: any text, any YAML
structure and any mangled version of a real journey gives a result whose
diagnostics point inside the file.
"""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl.loader import LoadResult, load_text
from tests.conftest import JOURNEYS

KEYS = [
    "journey", "name", "trigger", "event", "when", "segment", "schedule", "api", "entry",
    "reentry", "after", "exit_when", "goal", "within", "settings", "quiet_hours", "start",
    "end", "frequency_cap", "max", "per", "steps", "id", "next", "send", "channel",
    "template", "body", "subject", "params", "call", "with", "save_as", "wait", "until",
    "weekdays", "wait_for", "timeout", "on_timeout", "on_error", "branch", "else", "split",
    "experiment", "variants", "weight", "holdout", "update_profile", "set", "unset", "exit",
    "reason",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["1h", "7d", "09:00", "x", "", "segment('vip')", "{{ a }}", "0 9 * * MON"]),
    st.text(max_size=20),
)
JOURNEY_LIKE = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=6),
    ),
    max_leaves=40,
)
ABANDONED_CART = (JOURNEYS / "abandoned-cart.yaml").read_text()
SETTINGS = settings(
    max_examples=int(os.environ.get("CXFLOW_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def assert_well_formed(result: LoadResult, text: str) -> None:
    lines = max(1, len(text.splitlines()) + 1)
    for diagnostic in result.diagnostics:
        assert 1 <= diagnostic.line <= lines, diagnostic
        assert diagnostic.column >= 1, diagnostic
        assert diagnostic.message
    assert (result.compiled is not None) == result.ok


@SETTINGS
@given(st.text(max_size=400))
def test_any_text_gives_diagnostics_not_a_crash(text: str) -> None:
    assert_well_formed(load_text(text), text)


@SETTINGS
@given(JOURNEY_LIKE)
def test_any_yaml_structure_gives_diagnostics_not_a_crash(data: Any) -> None:
    text = json.dumps(data)  # JSON is YAML
    assert_well_formed(load_text(text), text)


@SETTINGS
@given(
    st.lists(
        st.tuples(st.integers(0, 10_000), st.sampled_from(["drop", "dup", "char", "indent"])),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from(list(":-{}[]#'\" \t*&!|>abc1")),
)
def test_mangled_real_journeys_give_diagnostics_not_a_crash(
    edits: list[tuple[int, str]], char: str
) -> None:
    lines = ABANDONED_CART.splitlines()
    for position, edit in edits:
        index = position % len(lines)
        if edit == "drop":
            del lines[index]
        elif edit == "dup":
            lines.insert(index, lines[index])
        elif edit == "indent":
            lines[index] = "  " + lines[index]
        else:
            line = lines[index]
            cut = position % (len(line) + 1)
            lines[index] = line[:cut] + char + line[cut:]
        if not lines:
            lines = [""]
    text = "\n".join(lines) + "\n"
    assert_well_formed(load_text(text), text)
