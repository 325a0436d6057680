"""Trait conditions, relative dates and composition, evaluated on a profile (no store needed)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from engine.segments.evaluation import evaluate
from tests.segments.conftest import NOW, segment

TRAITS: dict[str, Any] = {
    "plan": "pro",
    "seats": 12,
    "score": 7.5,
    "vip": True,
    "email": "ada@acme.io",
    "tags": ["beta", "eu"],
    "address": {"country": "DE", "city": "Berlin"},
    "signed_up_at": (NOW - timedelta(days=3)).isoformat(),
    "last_seen": int((NOW - timedelta(days=100)).timestamp()),
    "renews_at": (NOW + timedelta(days=5)).isoformat(),
    "birthday": "1990-04-01",
    "nickname": None,
}

CASES = [
    ("trait: plan, equals: pro", True),
    ("trait: plan, equals: team", False),
    ("trait: vip, equals: true", True),
    ("trait: vip, equals: 1", False),  # true is not 1
    ("trait: seats, equals: 12.0", True),
    ("trait: plan, not_equals: team", True),
    ("trait: missing, not_equals: team", True),
    ("trait: plan, in: [pro, team]", True),
    ("trait: plan, in: [free]", False),
    ("trait: plan, not_in: [free, trial]", True),
    ("trait: missing, in: [pro]", False),
    ("trait: missing, not_in: [pro]", True),
    ("trait: seats, greater_than: 10", True),
    ("trait: seats, greater_than: 12", False),
    ("trait: seats, at_least: 12", True),
    ("trait: score, less_than: 7.5", False),
    ("trait: score, at_most: 7.5", True),
    ("trait: plan, greater_than: 3", False),  # text against a number: never
    ("trait: plan, at_least: pro", True),  # text against text: alphabetical
    ("trait: missing, less_than: 3", False),
    ("trait: email, exists: true", True),
    ("trait: missing, exists: true", False),
    ("trait: missing, exists: false", True),
    ("trait: nickname, exists: false", True),  # null is not set
    ("trait: email, matches: '@acme\\.io$'", True),
    ("trait: email, matches: '^bob'", False),
    ("trait: seats, matches: '1'", False),  # not text
    ("trait: email, contains: acme", True),
    ("trait: tags, contains: beta", True),
    ("trait: tags, contains: alpha", False),
    ("trait: address.country, equals: DE", True),
    ("trait: address.zip, exists: true", False),
    ("trait: signed_up_at, within_last: 7d", True),
    ("trait: signed_up_at, within_last: 2d", False),
    ("trait: last_seen, older_than: 90d", True),  # Unix seconds count as dates
    ("trait: last_seen, older_than: 101d", False),
    ("trait: renews_at, within_next: 7d", True),
    ("trait: renews_at, within_next: 4d", False),
    ("trait: signed_up_at, within_next: 7d", False),  # in the past
    ("trait: birthday, before: '2000-01-01'", True),
    ("trait: birthday, after: '1990-04-01T00:00:00Z'", False),
    ("trait: plan, within_last: 7d", False),  # not a date
]


@pytest.mark.parametrize(("condition", "expected"), CASES, ids=[c for c, _ in CASES])
def test_trait_conditions(condition: str, expected: bool) -> None:
    compiled = segment(f"segment: s\nname: S\nmatch: {{ {condition} }}\n")
    assert evaluate(compiled.match, TRAITS, {}, NOW) is expected


def test_all_any_not_compose() -> None:
    compiled = segment(
        """\
segment: s
name: S
match:
  all:
    - any:
        - { trait: plan, equals: team }
        - { trait: seats, at_least: 10 }
    - not: { trait: email, matches: '@competitor\\.com$' }
"""
    )
    assert evaluate(compiled.match, TRAITS, {}, NOW)
    assert not evaluate(compiled.match, {**TRAITS, "seats": 2}, {}, NOW)
    assert not evaluate(compiled.match, {**TRAITS, "email": "x@competitor.com"}, {}, NOW)


def test_a_trait_named_with_a_dot_wins_over_nesting() -> None:
    compiled = segment("segment: s\nname: S\nmatch: { trait: a.b, equals: 1 }\n")
    assert evaluate(compiled.match, {"a.b": 1, "a": {"b": 2}}, {}, NOW)
    assert not evaluate(compiled.match, {"a": {"b": 2}}, {}, NOW)


GROUPS = [("acme", {"plan": "enterprise", "seats": 400}), ("side-project", {"plan": "free"})]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("group: acme", True),
        ("group: globex", False),
        ("group: { trait: plan, equals: enterprise }", True),
        ("group: { trait: seats, at_least: 500 }", False),
        ("group: { trait: plan, in: [free, team] }", True),  # any of the customer's groups
    ],
)
def test_group_conditions_read_the_customers_groups(condition: str, expected: bool) -> None:
    compiled = segment(f"segment: s\nname: S\nmatch: {{ {condition} }}\n")
    assert evaluate(compiled.match, TRAITS, {}, NOW, GROUPS) is expected
    assert evaluate(compiled.match, TRAITS, {}, NOW) is False  # no groups: never a member


def test_a_group_trait_segment_is_refreshed_and_follows_group_calls() -> None:
    by_id = segment("segment: s\nname: S\nmatch: { group: acme }\n")
    by_trait = segment("segment: s\nname: S\nmatch: { group: { trait: plan, equals: pro } }\n")
    assert (by_id.depends_on.events, by_id.depends_on.time) == (["group"], False)
    # Another member's group call changes the group's traits: the refresh re-decides.
    assert (by_trait.depends_on.events, by_trait.depends_on.time) == (["group"], True)
