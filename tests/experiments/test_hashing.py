"""GrowthBook-compatible split assignment: published vectors, distribution, stickiness.

``growthbook_cases.json`` holds the "hash", "getBucketRange" and
"chooseVariation" sections of GrowthBook's cross-SDK test cases, copied
verbatim from the GrowthBook repository ``growthbook/growthbook``, file
``packages/sdk-js/test/cases.json`` (specVersion 0.5.4). Every GrowthBook SDK
is tested against that file, so passing it means our numbers are theirs.
Bucket ranges are compared after rounding to 6 decimals, which is how
GrowthBook's own Python test harness (``tests/test_growthbook.py``) compares
them; hashes and variation indices are compared exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.runtime.assignment import (
    assign_variant,
    bucket_ranges,
    choose_variation,
    fnv1a32,
    growthbook_hash,
)

CASES: dict[str, Any] = json.loads(
    (Path(__file__).parent / "growthbook_cases.json").read_text(encoding="utf-8")
)

# Chi-square critical value for 2 degrees of freedom at p = 0.001.
CHI2_CRITICAL_DF2_P001 = 13.816


def _rounded(ranges: list[tuple[float, float]] | list[list[float]]) -> list[list[float]]:
    return [[round(start, 6), round(end, 6)] for start, end in ranges]


@pytest.mark.parametrize(
    ("seed", "value", "version", "expected"),
    CASES["hash"],
    ids=[f"{c[0]!r}+{c[1]!r}-v{c[2]}" for c in CASES["hash"]],
)
def test_growthbook_hash_vectors(
    seed: str, value: str, version: int, expected: float | None
) -> None:
    assert growthbook_hash(seed, value, version) == expected


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    CASES["getBucketRange"],
    ids=[c[0] for c in CASES["getBucketRange"]],
)
def test_growthbook_bucket_range_vectors(
    name: str, args: list[Any], expected: list[list[float]]
) -> None:
    num_variations, coverage, weights = args
    actual = bucket_ranges(weights, coverage, num_variations=num_variations)
    assert _rounded(actual) == _rounded(expected)


@pytest.mark.parametrize(
    ("name", "n", "ranges", "expected"),
    CASES["chooseVariation"],
    ids=[c[0] for c in CASES["chooseVariation"]],
)
def test_growthbook_choose_variation_vectors(
    name: str, n: float, ranges: list[list[float]], expected: int
) -> None:
    assert choose_variation(n, [(start, end) for start, end in ranges]) == expected


def test_vector_file_has_only_the_three_sections() -> None:
    assert set(CASES) == {"specVersion", "hash", "getBucketRange", "chooseVariation"}
    assert (len(CASES["hash"]), len(CASES["getBucketRange"]), len(CASES["chooseVariation"])) == (
        15,
        13,
        13,
    )


def test_fnv1a32_textbook_values() -> None:
    # FNV-1a 32-bit reference values (Landon Curt Noll's FNV test suite).
    assert fnv1a32("") == 0x811C9DC5
    assert fnv1a32("a") == 0xE40C292C
    assert fnv1a32("foobar") == 0xBF9CF968


def test_fnv1a32_hashes_utf16_code_units_like_growthbook_js() -> None:
    # GrowthBook's JS SDK hashes str.charCodeAt(i): "é" is the single unit 0xE9
    # (UTF-8 would be two bytes), and an emoji is its two surrogate halves.
    assert fnv1a32("é") == ((0x811C9DC5 ^ 0xE9) * 0x01000193) % 2**32
    assert fnv1a32("😀") == fnv1a32("\ud83d\ude00")
    # Hashing the UTF-8 bytes (C3 A9, spelled here as two one-unit characters)
    # would give a different number, so would not match GrowthBook.
    assert fnv1a32("é") != fnv1a32("\u00c3\u00a9")


def test_bucket_ranges_keep_growthbooks_float_sums_unrounded() -> None:
    # GrowthBook does not round ranges: the end is start + coverage * weight in
    # floating point, and so is ours, bit for bit.
    assert bucket_ranges([0.4, 0.5999]) == [(0.0, 0.4), (0.4, 0.4 + 0.5999)]
    assert bucket_ranges([0.2, 0.3, 0.5], 0.2) == [
        (0.0, 0.2 * 0.2),
        (0.2, 0.2 + 0.2 * 0.3),
        (0.2 + 0.3, 0.2 + 0.3 + 0.2 * 0.5),
    ]


def test_hash_is_a_multiple_of_its_bucket_size() -> None:
    for i in range(200):
        n2 = growthbook_hash("exp", f"c{i}", 2)
        n1 = growthbook_hash("exp", f"c{i}", 1)
        assert n2 is not None and n1 is not None
        assert 0 <= n2 < 1 and n2 == round(n2 * 10000) / 10000
        assert 0 <= n1 < 1 and n1 == round(n1 * 1000) / 1000


# End-to-end anchors from other sections of the same cases.json (not copied):
# GrowthBook runs these experiments with hashVersion 2 and the given seed, which
# is exactly what assign_variant does with seed = experiment key.
@pytest.mark.parametrize(
    ("key", "customer", "variants", "bucket", "expected"),
    [
        # run: "Uses seed with default weights/coverage" (seed foo, id 1 -> variation 1)
        ("foo", "1", [("v0", 50.0), ("v1", 50.0)], None, "v1"),
        # stickyBucket: "performs evaluation without sticky bucket" (bucket 0.6468 -> red)
        (
            "feature-exp",
            "d123",
            [("control", 33.34), ("red", 33.33), ("blue", 33.33)],
            0.6468,
            "red",
        ),
        # feature: "creates experiments properly" (seed feature, anonId 123, bucket 0.5231)
        ("feature", "123", [("v0", 10.0), ("v1", 90.0)], 0.5231, "v1"),
        # stickyBucket: "upgrades a sticky bucket doc..." (seed feature-exp, i123, bucket 0.9943)
        (
            "feature-exp",
            "i123",
            [("control", 33.34), ("red", 33.33), ("blue", 33.33)],
            0.9943,
            "blue",
        ),
    ],
)
def test_assign_variant_matches_growthbook_experiment_runs(
    key: str, customer: str, variants: list[tuple[str, float]], bucket: float | None, expected: str
) -> None:
    if bucket is not None:
        assert growthbook_hash(key, customer, 2) == bucket
    assert assign_variant(key, customer, variants) == expected


def test_assign_variant_is_the_documented_mapping() -> None:
    variants = [("a", 45.0), ("b", 45.0), ("c", 10.0)]
    ranges = bucket_ranges([0.45, 0.45, 0.10])
    for i in range(500):
        n = growthbook_hash("welcome-offer", f"cust-{i}", 2)
        assert n is not None
        expected = variants[choose_variation(n, ranges)][0]
        assert assign_variant("welcome-offer", f"cust-{i}", variants) == expected


@pytest.mark.parametrize("experiment_key", ["welcome-offer-2024", "winback-email", "exp-3"])
def test_45_45_10_split_passes_chi_square(experiment_key: str) -> None:
    variants = [("a", 45.0), ("b", 45.0), ("holdout", 10.0)]
    total = 10_000
    counts = dict.fromkeys(("a", "b", "holdout"), 0)
    for i in range(total):
        counts[assign_variant(experiment_key, f"customer-{i:05d}", variants)] += 1
    statistic = 0.0
    for name, weight in variants:
        expected = total * weight / 100
        statistic += (counts[name] - expected) ** 2 / expected
    assert statistic < CHI2_CRITICAL_DF2_P001, (counts, statistic)


def test_assignment_is_sticky() -> None:
    variants = [("control", 50.0), ("treatment", 50.0)]
    first = [assign_variant("exp", f"c{i}", variants) for i in range(1000)]
    again = [assign_variant("exp", f"c{i}", list(variants)) for i in range(1000)]
    assert first == again


def test_new_experiment_key_reshuffles() -> None:
    variants = [("control", 50.0), ("treatment", 50.0)]
    customers = [f"c{i}" for i in range(2000)]
    old = [assign_variant("exp-a", c, variants) for c in customers]
    new = [assign_variant("exp-b", c, variants) for c in customers]
    moved = sum(o != n for o, n in zip(old, new, strict=True)) / len(customers)
    # Independent 50/50 splits disagree for about half the customers.
    assert 0.45 < moved < 0.55, moved


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        ([("a", 50.0), ("b", 40.0)], "add up to 90"),
        ([("a", 50.0), ("a", 50.0)], "unique"),
        ([("a", 150.0), ("b", -50.0)], "must be in"),
        ([("a", float("nan")), ("b", 100.0)], "must be in"),
        ([], "at least one"),
    ],
)
def test_assign_variant_rejects_bad_splits(variants: list[tuple[str, float]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        assign_variant("exp", "c1", variants)


def test_assign_variant_rejects_empty_ids() -> None:
    with pytest.raises(ValueError, match="customer id"):
        assign_variant("exp", "", [("a", 100.0)])
    with pytest.raises(ValueError, match="experiment key"):
        assign_variant("", "c1", [("a", 100.0)])


def test_zero_weight_variant_is_never_chosen() -> None:
    variants = [("a", 50.0), ("never", 0.0), ("b", 50.0), ("also-never", 0.0)]
    chosen = {assign_variant("exp", f"c{i}", variants) for i in range(10_000)}
    assert chosen == {"a", "b"}


@st.composite
def splits(draw: st.DrawFn) -> list[tuple[str, float]]:
    """Weights from cut points of [0, 100]: repeated or end cuts make zero weights."""
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=1, max_size=6)))
    bounds = [0, *cuts, 100]
    return [(f"v{i}", float(bounds[i + 1] - bounds[i])) for i in range(len(bounds) - 1)]


@given(
    experiment_key=st.text(min_size=1, max_size=30),
    customer_id=st.text(min_size=1, max_size=30),
    variants=splits(),
)
def test_property_result_is_a_variant_with_weight(
    experiment_key: str, customer_id: str, variants: list[tuple[str, float]]
) -> None:
    chosen = assign_variant(experiment_key, customer_id, variants)
    weights = dict(variants)
    assert chosen in weights
    assert weights[chosen] > 0
