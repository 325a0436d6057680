"""A customer as journeys see them: the one place a profile becomes a ``CustomerView``.

Routing (trigger conditions, entry gates) and the runs' ``load_customer`` activity both
read it here, so a condition means the same thing at entry and inside a run.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine import clock
from engine.store import Store
from workflows.models import CustomerView, GroupView, ValueView


def customer_view(store: Store, customer_id: str) -> tuple[CustomerView, list[str]]:
    """The customer's view (of the customer they were merged into, for a merged-away id),
    and the ids merged into them."""
    found = store.customer_view(customer_id)
    if found is None:
        return CustomerView(id=customer_id, value=ValueView()), []
    record, groups = found
    figures = store.customer_value.get(record.id)
    view = CustomerView(
        id=record.id,
        traits=record.traits,
        timezone=record.timezone,
        segments=record.segments,
        groups=[GroupView(id=group.id, traits=group.traits) for group in groups],
        value=ValueView.model_validate(figures.model_dump()),
        utc_offset_minutes=_offset_minutes(record.timezone),
    )
    return view, record.aliases


def _offset_minutes(timezone: str | None) -> int | None:
    """The zone's offset from UTC now, in minutes (None without a usable zone)."""
    if not timezone:
        return None
    try:
        offset = clock.now().astimezone(ZoneInfo(timezone)).utcoffset()
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return None if offset is None else int(offset.total_seconds() // 60)
