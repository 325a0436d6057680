"""What the store returns about segments (kept apart so store.py changes stay small)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from dsl.segment_models import AggregateSpec, CompiledSegment

GroupTraits = tuple[str, dict[str, Any]]
# (traits, aggregate values, groups) -> segment id -> member?; decided while the customer
# is locked, by the store.
SegmentDecider = Callable[
    [dict[str, Any], dict[AggregateSpec, float | None], Sequence[GroupTraits]], dict[str, bool]
]


class SegmentSummaryRecord(BaseModel):
    """A deployed segment with how many customers are in it now."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    segment: CompiledSegment
    source: str | None
    deployed_at: AwareDatetime
    members: int


class SegmentChangeRecord(BaseModel):
    """A customer entered or left a segment at a time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: str
    segment: str
    change: Literal["entered", "left"]
    at: AwareDatetime


class SegmentMemberRecord(BaseModel):
    """A customer in a segment now: since when, and how they are named (a members list)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: str
    entered_at: AwareDatetime
    email: str | None
    name: str | None
