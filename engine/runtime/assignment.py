"""A/B split assignment that reproduces GrowthBook's bucketing, bit for bit.

Why GrowthBook's algorithm and not our own: a data scientist analysing a
journey's split must be able to recompute, outside the engine, which variant
every customer was put in (to join exposures to a warehouse, to audit a
result, or to run the same split in GrowthBook itself). Copying a published,
cross-SDK-tested algorithm gives them a reference implementation in every
language GrowthBook ships an SDK for, and a public set of test vectors.

Sources this module was checked against (the GrowthBook repositories):

* ``growthbook/growthbook`` ``packages/sdk-js/src/util.ts``: ``hashFnv32a``,
  ``hash``, ``getBucketRanges``, ``chooseVariation`` (the reference SDK);
* ``growthbook/growthbook-python`` ``growthbook/core.py``: ``fnv1a32``,
  ``gbhash``, ``getBucketRanges``, ``chooseVariation`` (the Python port);
* ``growthbook/growthbook`` ``packages/sdk-js/test/cases.json``: the
  cross-SDK vectors, copied to ``tests/experiments/growthbook_cases.json``;
* the experiment run step of the JS SDK, which hashes with
  ``hash(experiment.seed || key, hashValue, experiment.hashVersion || 1)``
  and then picks ``chooseVariation(n, getBucketRanges(...))``.

The exact mapping used by :func:`assign_variant`, to reproduce a split::

    units  = the UTF-16 code units of the text (for ASCII text: its bytes)
    fnv(t) = 32-bit FNV-1a over units(t):
             h = 0x811C9DC5; for u in units: h = ((h ^ u) * 0x01000193) mod 2**32
    n      = (fnv(str(fnv(experiment_key + customer_id))) mod 10000) / 10000
             # GrowthBook hash version 2, seed = experiment key, no separator;
             # str() is the plain decimal form of the unsigned 32-bit integer
    w_i    = weight_i / 100           # percent to fraction, a float division
    range_i = [w_1 + ... + w_(i-1), that + w_i)   # summed left to right
    variant = the first i with start_i <= n < end_i

Or, with GrowthBook's own Python SDK:
``gbhash(experiment_key, customer_id, 2)`` gives ``n``, and
``chooseVariation(n, getBucketRanges(len(v), 1, [w / 100 for w in weights]))``
gives the variant's index. In GrowthBook itself, the same split is an
experiment whose key is the experiment key, with no separate seed, hash
attribute = the customer id, **hashVersion 2** (an SDK payload without
``hashVersion`` falls back to version 1, which gives different buckets),
coverage 1 and the same weights.
"""

from __future__ import annotations

from collections.abc import Sequence

FNV_OFFSET_BASIS = 0x811C9DC5
FNV_PRIME = 0x01000193
_UINT32 = 0xFFFFFFFF

# GrowthBook replaces weights whose total is outside this band by equal weights.
_WEIGHT_SUM_LOW = 0.99
_WEIGHT_SUM_HIGH = 1.01

# Same tolerance as the journey validator (dsl/checks.py), so every split the
# validator accepts is also accepted here.
_PERCENT_TOLERANCE = 1e-9


def _utf16_units(text: str) -> list[int]:
    """The UTF-16 code units of ``text``: what JavaScript's ``charCodeAt`` walks over.

    GrowthBook's reference SDK hashes ``str.charCodeAt(i)``, so a character
    outside the Basic Multilingual Plane (an emoji, say) counts as its two
    surrogate halves. A lone surrogate, which Python strings can hold, is one
    unit, as in JavaScript.
    """
    units: list[int] = []
    for char in text:
        code = ord(char)
        if code > 0xFFFF:
            code -= 0x10000
            units.append(0xD800 | (code >> 10))
            units.append(0xDC00 | (code & 0x3FF))
        else:
            units.append(code)
    return units


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a of ``text``, over the same units GrowthBook's JS SDK hashes.

    For ASCII text (the usual customer ids and experiment keys) the units are
    the bytes of the text, so this is textbook FNV-1a over its UTF-8 (equally,
    ASCII) bytes. For other text it is *not* FNV-1a over UTF-8 bytes: GrowthBook
    hashes UTF-16 code units (``charCodeAt``), and matching GrowthBook is the
    point of this module. "é" is one unit, 0xE9, where UTF-8 would give two
    bytes. GrowthBook's Python SDK hashes code points (``ord``), which agrees
    with this everywhere except characters above U+FFFF.
    """
    units: Sequence[int] = text.encode("ascii") if text.isascii() else _utf16_units(text)
    value = FNV_OFFSET_BASIS
    for unit in units:
        value = ((value ^ unit) * FNV_PRIME) & _UINT32
    return value


def growthbook_hash(seed: str, value: str, version: int) -> float | None:
    """GrowthBook's bucketing hash: a number in [0, 1), or None for an unknown version.

    Version 1 is GrowthBook's original, slightly biased hash (value first,
    1000 buckets); version 2 hashes the seed first, re-hashes the decimal
    string of the result to remove the bias, and has 10000 buckets. There is
    no separator between seed and value in either version, as in GrowthBook.
    None for any other version mirrors GrowthBook, which then leaves the user
    out of the experiment rather than guessing.
    """
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    return None


def _equal_weights(count: int) -> list[float]:
    return [1 / count] * count if count > 0 else []


def bucket_ranges(
    weights: Sequence[float] | None,
    coverage: float = 1.0,
    *,
    num_variations: int | None = None,
) -> list[tuple[float, float]]:
    """GrowthBook's ``getBucketRanges``: one ``[start, end)`` range of [0, 1) per variant.

    Variant i owns the slice of [0, 1) that starts at the sum of the weights
    before it; with coverage below 1 only the first ``coverage`` share of each
    slice is used, so raising coverage later keeps everyone already assigned
    in their variant. A zero weight gives an empty range, which nobody falls in.

    The quirks are GrowthBook's, kept on purpose so ranges match to the last
    bit: no rounding at all (the start is the running float sum, the end is
    ``start + coverage * weight``, so [0.4, 0.5999] ends at ``0.4 + 0.5999``);
    coverage is clamped to [0, 1]; and weights that are missing, of the wrong
    length (when ``num_variations`` is given) or whose total is outside
    [0.99, 1.01] are silently replaced by equal weights. Callers that must not
    be silently "corrected", like :func:`assign_variant`, validate first.
    """
    count = num_variations if num_variations is not None else len(weights or ())
    coverage = min(max(coverage, 0.0), 1.0)
    chosen = list(weights) if weights is not None else _equal_weights(count)
    if len(chosen) != count:
        chosen = _equal_weights(count)
    total = 0.0
    for weight in chosen:  # a plain left-to-right sum, like JS reduce (not fsum)
        total += weight
    if total < _WEIGHT_SUM_LOW or total > _WEIGHT_SUM_HIGH:
        chosen = _equal_weights(count)

    ranges: list[tuple[float, float]] = []
    cumulative = 0.0
    for weight in chosen:
        start = cumulative
        cumulative += weight
        ranges.append((start, start + coverage * weight))
    return ranges


def choose_variation(n: float, ranges: Sequence[tuple[float, float]]) -> int:
    """GrowthBook's ``chooseVariation``: the first range with ``start <= n < end``, else -1.

    The end is exclusive so that a hash landing exactly on a boundary goes to
    the later variant and empty (zero-weight) ranges are never chosen; -1
    means "outside every range" (left out by partial coverage).
    """
    for index, (start, end) in enumerate(ranges):
        if start <= n < end:
            return index
    return -1


def assign_variant(
    experiment_key: str, customer_id: str, variants: Sequence[tuple[str, float]]
) -> str:
    """The variant a customer gets in a split: sticky, and the same as GrowthBook's.

    ``variants`` are ``(name, weight in percent)`` pairs whose weights add up
    to 100. The customer is hashed with GrowthBook hash version 2, the
    experiment key as the seed (GrowthBook's default seed is the experiment
    key) and the customer id as the value; the weights become fractions
    (``weight / 100``) and the customer gets the variant whose bucket range
    holds the hash, with full coverage. The module docstring spells out the
    mapping step by step for reproducing it elsewhere.

    Nothing is stored: the same key, customer and variants always give the
    same answer, which is what keeps a customer in one arm for good. A new
    experiment key reshuffles everyone independently of the old split.

    Raises ValueError for input GrowthBook would handle by silently changing
    the experiment (weights not adding up become equal weights) or by leaving
    the customer out (an empty customer id), since either would corrupt a
    split without anyone noticing.
    """
    if not experiment_key:
        raise ValueError("the experiment key is empty: it is the hash seed, give one")
    if not customer_id:
        raise ValueError(
            "the customer id is empty: GrowthBook would leave such a customer out of the "
            "experiment, so there is no variant to give"
        )
    if len(variants) < 1:
        raise ValueError("a split needs at least one variant")
    names = [name for name, _ in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"variant names must be unique, got {names}")
    weights = [weight for _, weight in variants]
    for name, weight in variants:
        if not 0 <= weight <= 100:  # also rejects NaN
            raise ValueError(f"variant {name!r} has weight {weight}: it must be in [0, 100]")
    total = sum(weights)  # the validator's own sum, so both agree on what is 100
    if abs(total - 100) > _PERCENT_TOLERANCE:
        raise ValueError(f"the variant weights add up to {total:g}, not 100")

    n = growthbook_hash(experiment_key, customer_id, 2)
    if n is None:  # pragma: no cover - version 2 is always known
        raise AssertionError("GrowthBook hash version 2 is unknown")
    ranges = bucket_ranges([weight / 100 for weight in weights])
    index = choose_variation(n, ranges)
    if index < 0:  # pragma: no cover - weights add up to 1, so the ranges cover [0, 0.9999]
        raise AssertionError(f"hash {n} fell outside the ranges {ranges}")
    return names[index]


GLOBAL_CONTROL_SEED = "cxflow-global-control"


def in_global_control(customer_id: str, percent: float) -> bool:
    """Whether the customer is in the workspace's global control group (``percent`` of all).

    Same hash as the splits (GrowthBook version 2, seed ``cxflow-global-control``): a
    customer is in the group when their bucket ``n`` is below ``percent / 100``. So the
    group is sticky, and raising the percentage only adds customers to it (nobody who was
    held out starts getting messages); lowering it releases the last ones added.
    """
    if percent <= 0:
        return False
    n = growthbook_hash(GLOBAL_CONTROL_SEED, customer_id, 2)
    return n is not None and n < percent / 100
