"""Segment membership: evaluated when a customer's events or traits change, and on a schedule.

An event can only change the segments that count that event name (and an
``identify`` only those that test traits): the dependencies each compiled
segment carries. So the router recomputes, for the one customer concerned,
just those segments, in one store transaction with one aggregate query,
before it routes the event (journeys then see the new membership). Segments
with time windows or relative dates can change with no event at all; the
refresh (a Temporal Schedule, :mod:`workflows.segment_refresh`) recomputes
those for every customer, page by page.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from threading import Lock
from typing import Any

from dsl.durations import parse_duration
from dsl.segment_models import (
    AggregateSpec,
    AllCondition,
    AnyCondition,
    CompiledSegment,
    GroupCondition,
    NotCondition,
    PerformedCondition,
    TraitCondition,
    aggregate_of,
    parse_date,
)
from engine import clock
from engine.runtime.outages import describe, is_outage
from engine.segments.records import GroupTraits, SegmentDecider
from engine.store import Store

_MISSING = object()

log = logging.getLogger("cxflow.segments")


@dataclass
class MembershipChange:
    """Which segments a customer entered and left in one recomputation."""

    customer_id: str
    entered: set[str] = field(default_factory=set)
    left: set[str] = field(default_factory=set)


# --- evaluation (pure: traits and aggregate values in, true or false out) ----------------------


def evaluate(
    condition: Any,
    traits: dict[str, Any],
    aggregates: dict[AggregateSpec, float | None],
    now: datetime,
    groups: Sequence[GroupTraits] = (),
) -> bool:
    """Whether the condition holds for a customer with these traits, event aggregates and
    groups (``(group id, group traits)`` pairs)."""
    if isinstance(condition, AllCondition):
        return all(evaluate(c, traits, aggregates, now, groups) for c in condition.all)
    if isinstance(condition, AnyCondition):
        return any(evaluate(c, traits, aggregates, now, groups) for c in condition.any)
    if isinstance(condition, NotCondition):
        return not evaluate(condition.not_, traits, aggregates, now, groups)
    if isinstance(condition, TraitCondition):
        return trait_holds(condition, traits, now)
    if isinstance(condition, GroupCondition):
        test = condition.group
        if isinstance(test, str):
            return any(group_id == test for group_id, _ in groups)
        return any(trait_holds(test, group_traits, now) for _, group_traits in groups)
    # Event aggregates and lifetime value figures (`value:`) alike: the store computed the
    # number; none (an average of no events, the AOV of no orders) is false.
    spec = aggregate_of(condition)
    if spec is None:
        raise TypeError(f"not a segment condition: {condition!r}")
    value = aggregates.get(spec)
    if value is None:
        return False
    if isinstance(condition, PerformedCondition):
        return value >= 1
    operator, expected = condition.comparison()
    return _compare(operator, expected, value)


def _compare(operator: str, expected: float, value: float) -> bool:
    if operator == "equals":
        return value == expected
    if operator == "not_equals":
        return value != expected
    if operator == "greater_than":
        return value > expected
    if operator == "at_least":
        return value >= expected
    if operator == "less_than":
        return value < expected
    return value <= expected  # at_most


def trait_value(traits: dict[str, Any], path: str) -> Any:
    """The trait at a dotted path, or ``_MISSING``; a trait named with a dot wins."""
    if path in traits:
        return traits[path]
    node: Any = traits
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, and 2 equals 2.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def trait_holds(condition: TraitCondition, traits: dict[str, Any], now: datetime) -> bool:
    operator, expected = condition.operator()
    value = trait_value(traits, condition.trait)
    if operator == "exists":
        return (value is not _MISSING and value is not None) is expected
    if value is _MISSING or value is None:
        return operator in ("not_equals", "not_in")
    if operator == "equals":
        return _same(value, expected)
    if operator == "not_equals":
        return not _same(value, expected)
    if operator == "in":
        return any(_same(value, item) for item in expected)
    if operator == "not_in":
        return not any(_same(value, item) for item in expected)
    if operator in ("greater_than", "at_least", "less_than", "at_most"):
        if _number(value) and _number(expected):
            return _compare(operator, float(expected), float(value))
        if isinstance(value, str) and isinstance(expected, str):
            return _compare_text(operator, expected, value)
        return False
    if operator == "matches":
        return isinstance(value, str) and re.search(expected, value) is not None
    if operator == "contains":
        if isinstance(value, str):
            return isinstance(expected, str) and expected in value
        if isinstance(value, list):
            return any(_same(item, expected) for item in value)
        return False
    return _date_holds(operator, expected, value, now)


def _compare_text(operator: str, expected: str, value: str) -> bool:
    if operator == "greater_than":
        return value > expected
    if operator == "at_least":
        return value >= expected
    if operator == "less_than":
        return value < expected
    return value <= expected


def _date_holds(operator: str, expected: str, value: Any, now: datetime) -> bool:
    """Dates are ISO 8601 text or Unix seconds; anything else never matches."""
    if isinstance(value, str):
        when = parse_date(value)
    elif _number(value):
        when = datetime.fromtimestamp(float(value), UTC)
    else:
        when = None
    if when is None:
        return False
    if operator in ("before", "after"):
        bound = parse_date(expected)
        assert bound is not None  # the model checked it
        return when < bound if operator == "before" else when > bound
    span = parse_duration(expected)
    if operator == "within_last":
        return now - span <= when <= now
    if operator == "older_than":
        return when < now - span
    return now <= when <= now + span  # within_next


def decider(segments: Sequence[CompiledSegment], now: datetime) -> SegmentDecider:
    """What the store calls with the locked customer's traits, aggregates and groups."""

    def decide(
        traits: dict[str, Any],
        aggregates: dict[AggregateSpec, float | None],
        groups: Sequence[GroupTraits],
    ) -> dict[str, bool]:
        return {s.id: evaluate(s.match, traits, aggregates, now, groups) for s in segments}

    return decide


# --- the engine: definitions from the store, recomputation per customer ----------------------


class SegmentEngine:
    """Deployed segments, re-read when a deploy changes them, and membership recomputation.

    Every process that routes events (API, worker, `cxflow dev`, CLI) has one through
    its :class:`~engine.ingest.router.EventRouter`; definitions come from the store, where
    `cxflow deploy` puts them, so all processes agree without a restart.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = Lock()
        self._fingerprint: tuple[int, datetime | None] | None = None
        self._segments: list[CompiledSegment] = []

    def definitions(self) -> list[CompiledSegment]:
        """The deployed segments; one cheap query when nothing was deployed since last time."""
        fingerprint = self.store.segments_fingerprint()
        with self._lock:
            if fingerprint != self._fingerprint:
                self._segments = self.store.active_segments() if fingerprint[0] else []
                self._fingerprint = fingerprint
            return list(self._segments)

    def affected_by(self, event_name: str) -> list[CompiledSegment]:
        """The segments an event of this name can move a customer into or out of."""
        return [s for s in self.definitions() if s.affected_by(event_name)]

    def recompute(
        self,
        customer_id: str,
        segments: Sequence[CompiledSegment],
        now: datetime | None = None,
    ) -> MembershipChange:
        """Re-decide the customer's membership of ``segments`` (others are left alone)."""
        if not segments:
            return MembershipChange(customer_id)
        at = now or clock.now()
        specs = list(dict.fromkeys(spec for s in segments for spec in s.aggregates()))
        entered, left = self.store.recompute_segments(
            customer_id, [s.id for s in segments], specs, decider(segments, at), at
        )
        return MembershipChange(customer_id, entered, left)

    def on_event(
        self, customer_id: str, event_name: str, now: datetime | None = None
    ) -> MembershipChange:
        """Recompute what an accepted event (or identify) of this customer can change."""
        return self.recompute(customer_id, self.affected_by(event_name), now)


# --- the scheduled refresh --------------------------------------------------------------------

REFRESH_PAGE = 200


@dataclass
class RefreshProgress:
    """How far a refresh got: resumable from ``after`` (the last customer id done)."""

    after: str | None = None
    customers: int = 0
    entered: int = 0
    left: int = 0
    started: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


async def refresh_segments(
    engine: SegmentEngine,
    enter: Callable[[str, set[str]], Awaitable[list[str]]],
    progress: RefreshProgress | None = None,
    checkpoint: Callable[[RefreshProgress], None] = lambda _: None,
    page: int = REFRESH_PAGE,
    now: datetime | None = None,
) -> RefreshProgress:
    """Recompute every time-dependent segment for every customer, page by page.

    ``enter`` starts the journeys of the segments a customer entered (the router's
    ``segments_entered``); ``checkpoint`` is called after each customer (the activity
    heartbeats it, so a retry resumes after the last customer done).
    """
    done = progress or RefreshProgress()
    segments = [s for s in engine.definitions() if s.depends_on.time]
    if not segments:
        return done
    while True:
        ids = await asyncio.to_thread(engine.store.customer_ids, done.after, page)
        if not ids:
            return done
        for customer_id in ids:
            try:
                change = await asyncio.to_thread(engine.recompute, customer_id, segments, now)
                if change.entered:
                    done.started += await enter(customer_id, change.entered)
            except Exception as error:
                if is_outage(error) is not False:
                    raise  # the store or Temporal is down: the activity retries, resuming here
                # This customer's data cannot be evaluated (a sum that overflows, ...): skip
                # them, say so once, and refresh everyone else.
                done.failed.append(customer_id)
                log.warning("segment refresh skipped customer %s: %s", customer_id, describe(error))
            else:
                done.entered += len(change.entered)
                done.left += len(change.left)
            done.customers += 1
            done.after = customer_id
            checkpoint(done)
