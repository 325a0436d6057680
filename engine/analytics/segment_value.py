"""Customer value per segment: size, buyers, orders, revenue, AOV and repeat rate.

`cxflow segments value` and ``GET /v1/reports/segments``, over each deployed segment's
members now, from the lifetime figures the store keeps per customer
(engine.store.customer_value): one query over the memberships joined to the figures.

- **members**: customers in the segment now; **buyers**: members with an order;
  **repeat_buyers**: members with two orders or more;
- **repeat_rate**: repeat_buyers / buyers (none without buyers);
- **orders**: the members' orders added up;
- **revenue**: the members' revenue added up, per currency (a customer's revenue is in
  their currency; "" for revenue that names none), never summed across currencies;
- **aov**: per currency, that revenue / the orders of the members in that currency.
"""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel, ConfigDict
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engine.store import Store


class Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class SegmentValue(Result):
    """One segment's members and what they ordered."""

    segment: str
    name: str
    members: int
    buyers: int
    repeat_buyers: int
    repeat_rate: float | None  # repeat_buyers / buyers
    orders: int
    revenue: dict[str, float]  # by currency ("" for revenue without one)
    aov: dict[str, float]  # by currency: revenue / orders of the members in it


class SegmentValueReport(Result):
    segments: list[SegmentValue]


def segment_value_report(store: Store, segment: str | None = None) -> SegmentValueReport:
    """The figures of every deployed segment (or only ``segment``), by id; a segment no
    one is in has zeros."""
    deployed = [s for s in store.active_segments() if segment is None or s.id == segment]
    totals = store.customer_value.segment_totals([s.id for s in deployed])
    grouped = defaultdict(list)
    for total in totals:
        grouped[total.segment].append(total)
    report = []
    for definition in deployed:
        parts = grouped.get(definition.id, [])
        buyers = sum(p.buyers for p in parts)
        repeat = sum(p.repeat_buyers for p in parts)
        report.append(
            SegmentValue(
                segment=definition.id,
                name=definition.name,
                members=sum(p.members for p in parts),
                buyers=buyers,
                repeat_buyers=repeat,
                repeat_rate=repeat / buyers if buyers else None,
                orders=sum(p.orders for p in parts),
                revenue={p.currency: round(p.revenue, 2) for p in parts if p.buyers},
                aov={
                    p.currency: round(p.revenue / p.orders, 2)
                    for p in parts
                    if p.buyers and p.orders
                },
            )
        )
    return SegmentValueReport(segments=report)


def _money(amounts: dict[str, float]) -> str:
    if not amounts:
        return "-"
    return ", ".join(
        f"{amount:,.2f}" + (f" {currency}" if currency else "")
        for currency, amount in sorted(amounts.items())
    )


def print_segment_value(report: SegmentValueReport, console: Console) -> None:
    """The report as a table, a row per segment."""
    table = Table(
        "segment", "members", "buyers", "orders", "revenue", "AOV", "repeat rate", title="value"
    )
    for item in report.segments:
        rate = f"{item.repeat_rate:.0%}" if item.repeat_rate is not None else "-"
        table.add_row(
            escape(item.segment),
            str(item.members),
            str(item.buyers),
            str(item.orders),
            _money(item.revenue),
            _money(item.aov),
            f"{rate} ({item.repeat_buyers})" if item.buyers else rate,
        )
    console.print(table)


def describe_segment_value(item: SegmentValue) -> str:
    """One line for `cxflow segments show`."""
    if not item.buyers:
        return f"{item.members} members, no orders"
    rate = f"{item.repeat_rate:.0%}" if item.repeat_rate is not None else "-"
    return (
        f"{item.buyers} of {item.members} members ordered: {item.orders} orders, revenue "
        f"{_money(item.revenue)}, AOV {_money(item.aov)}, repeat rate {rate}"
    )
