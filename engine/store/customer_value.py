"""Customer lifetime value: order figures per customer, kept current from their order events.

The ``customer_value`` table holds, per customer, the figures below, recomputed from the
customer's stored order events (``order.completed``, and Segment's ``Order Completed``)
in the same transaction that stores such an event, merges two customers or undoes a
merge, with the customer's row locked. Recomputing from the events (one query over the
``(customer_id, name, timestamp)`` index) rather than adding to a running total keeps
the figures right whatever arrives twice, late or out of order, and lets them follow the
events when identities are merged and unmerged.

What counts (docs/_drafts/customer-value.md says the same for marketers):

- **an order** is an order event; events naming the same ``properties.order_id`` (text,
  or a whole number) are one order, so a Shopify webhook and the site's track call for
  the same purchase count once; an event without one is an order of its own (its message
  id, which the store already keeps unique);
- **its value** is ``properties.revenue``, else ``properties.total`` (Segment's
  e-commerce spec; the Shopify connector sends ``total``), when it is a JSON number
  within ±10^15 (text, booleans, missing and absurd ones are no value); of an order
  reported twice, the first report with a value counts. An order without a value still
  counts as an order, and adds nothing to the revenue;
- **the currency** is that of the customer's first order with a value and a
  ``properties.currency``; an order with a value in another currency is counted as an
  order but its value is not added (sums of two currencies mean nothing); an order
  without a currency is taken to be in the customer's;
- **orders** is how many; **revenue** the sum of their values (to 2 decimals); **aov**
  revenue / orders (none without orders); **first_order_at** and **last_order_at** the
  event time of the first and last order; **days_between_orders** (last − first) /
  (orders − 1) in days (none below 2 orders); **repeat** orders ≥ 2.

Cancellations and refunds (``order.cancelled``, ``order.refunded``) are not subtracted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, union
from sqlalchemy.orm import Session

from dsl.segment_models import ORDER_EVENTS, AggregateSpec
from engine.store.customers import Customers
from engine.store.database import Database, _check_limit, _now
from engine.store.records import CustomerValue, Record
from engine.store.tables import CustomerValueRow, EventRow, SegmentMembershipRow

ORDER_ID = "order_id"
VALUE_PROPERTIES = ("revenue", "total")
CURRENCY = "currency"
DAY_SECONDS = 86_400.0
# An order value beyond this is a mistake (no order is worth 10^15 in any currency), and
# taking it would let sums overflow: it is no value.
MAX_AMOUNT = 1e15


class SegmentValueTotals(Record):
    """The members of one segment whose figures are in one currency ("" for none), added
    up: what engine.analytics.segment_value reports."""

    segment: str
    currency: str
    members: int
    buyers: int
    repeat_buyers: int
    orders: int
    revenue: float


@dataclass
class _Order:
    at: datetime
    value: float | None
    currency: str | None


def is_order(event_name: str) -> bool:
    """Whether an event of this name is an order (its figures change with it)."""
    return event_name in ORDER_EVENTS


# --- computing -------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """A JSON number within :data:`MAX_AMOUNT`, else None: no customer's data (an integer
    of a thousand digits, 1e308 twice) may make storing their events fail."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and abs(number) <= MAX_AMOUNT else None


def _order_key(order_id: Any, message_id: str) -> tuple[str, str]:
    if isinstance(order_id, str) and order_id.strip():
        return "order", order_id.strip()
    if isinstance(order_id, int) and not isinstance(order_id, bool):
        return "order", str(order_id)
    return "message", message_id


def _currency(value: Any) -> str | None:
    return value.strip().upper() if isinstance(value, str) and value.strip() else None


_READ = (ORDER_ID, *VALUE_PROPERTIES, CURRENCY)
# The JSON types (SQLite's json_type) of the elements the figures can use.
_SQLITE_KEPT = ("integer", "real", "text")


def _properties(dialect: str) -> list[ColumnElement[Any]]:
    """The properties the figures read, as columns: PostgreSQL's JSONB elements (decoded
    whole); SQLite's type and value of each, since its JSON element text cannot hold the
    numbers JSON can (an integer of 400 digits)."""
    if dialect == "postgresql":
        return [EventRow.properties[name] for name in _READ]
    columns: list[ColumnElement[Any]] = []
    for name in _READ:
        path = f'$."{name}"'
        columns += [
            func.json_type(EventRow.properties, path),
            func.json_extract(EventRow.properties, path),
        ]
    return columns


def _decoded(dialect: str, values: Sequence[Any]) -> list[Any]:
    if dialect == "postgresql":
        return list(values)
    pairs = zip(values[::2], values[1::2], strict=True)
    return [value if kind in _SQLITE_KEPT else None for kind, value in pairs]


def _orders(session: Session, customer_id: str) -> list[_Order]:
    """The customer's orders, deduplicated, in time order: one query over the customer's
    order events, reading only the four properties it needs."""
    dialect = session.get_bind().dialect.name
    statement = (
        select(EventRow.message_id, EventRow.timestamp, *_properties(dialect))
        .where(EventRow.customer_id == customer_id, EventRow.name.in_(ORDER_EVENTS))
        .order_by(EventRow.timestamp, EventRow.id)
    )
    orders: dict[tuple[str, str], _Order] = {}
    for message_id, at, *read in session.execute(statement):
        order_id, *amounts, currency = _decoded(dialect, read)
        value = next((v for v in map(_number, amounts) if v is not None), None)
        key = _order_key(order_id, message_id)
        known = orders.get(key)
        if known is None:
            orders[key] = _Order(at, value, _currency(currency))
        elif known.value is None and value is not None:  # a later report gives the value
            known.value, known.currency = value, _currency(currency)
    return list(orders.values())


@dataclass(frozen=True)
class _Totals:
    orders: int
    revenue: float
    currency: str | None
    first: datetime | None
    last: datetime | None


def _totals(orders: Sequence[_Order]) -> _Totals:
    currency = next((o.currency for o in orders if o.value is not None and o.currency), None)
    values = [
        o.value
        for o in orders
        if o.value is not None and (o.currency is None or o.currency == currency)
    ]
    times = [o.at for o in orders]
    return _Totals(
        orders=len(orders),
        revenue=round(math.fsum(values), 2),
        currency=currency,
        first=min(times, default=None),
        last=max(times, default=None),
    )


def figures(
    orders: int,
    revenue: float,
    currency: str | None,
    first: datetime | None,
    last: datetime | None,
) -> CustomerValue:
    """The stored totals with the figures derived from them."""
    if orders < 1:
        return CustomerValue()
    between = None
    if orders >= 2 and first is not None and last is not None:
        between = round((last - first).total_seconds() / DAY_SECONDS / (orders - 1), 2)
    return CustomerValue(
        orders=orders,
        revenue=revenue,
        currency=currency,
        aov=round(revenue / orders, 2),
        first_order_at=first,
        last_order_at=last,
        days_between_orders=between,
        repeat=orders >= 2,
    )


def _of_row(row: CustomerValueRow | None) -> CustomerValue:
    if row is None:
        return CustomerValue()
    return figures(row.orders, row.revenue, row.currency, row.first_order_at, row.last_order_at)


def recompute(session: Session, customer_id: str, now: datetime) -> CustomerValue:
    """Recompute the customer's figures from their order events, in the caller's
    transaction; the caller holds the customer's row lock (``Customers.lock``), so two
    orders of one customer are counted one after the other. No orders: no row."""
    totals = _totals(_orders(session, customer_id))
    row = session.get(CustomerValueRow, customer_id)
    if totals.orders == 0:
        if row is not None:
            session.delete(row)
            session.flush()
        return CustomerValue()
    if row is None:
        row = CustomerValueRow(customer_id=customer_id)
        session.add(row)
    row.orders, row.revenue, row.currency = totals.orders, totals.revenue, totals.currency
    row.first_order_at, row.last_order_at, row.updated_at = totals.first, totals.last, now
    session.flush()
    return _of_row(row)


def recompute_locked(
    session: Session, customers: Customers, customer_ids: Iterable[str], now: datetime
) -> None:
    """Lock each customer (in id order, as every multi-customer write does) and recompute."""
    for customer_id in sorted(set(customer_ids)):
        customers.lock(session, customer_id, now)
        recompute(session, customer_id, now)


def read(session: Session, customer_id: str) -> CustomerValue:
    """The customer's stored figures (empty ones when they never ordered)."""
    return _of_row(session.get(CustomerValueRow, customer_id))


def values_of(session: Session, customer_ids: Sequence[str]) -> dict[str, CustomerValue]:
    """The stored figures of these customers in one query; those who never ordered have
    none in the answer."""
    rows = session.scalars(
        select(CustomerValueRow).where(CustomerValueRow.customer_id.in_(list(customer_ids)))
    )
    return {row.customer_id: _of_row(row) for row in rows}


def value_aggregates(
    session: Session, customer_id: str, specs: Sequence[AggregateSpec], now: datetime
) -> dict[AggregateSpec, float | None]:
    """The figures `value:` segment conditions test, as numbers (``repeat`` is 1 or 0); a
    figure the customer has none of (the average of no orders) is None."""
    value = read(session, customer_id)
    numbers: dict[str, float | None] = {
        "orders": float(value.orders),
        "revenue": value.revenue,
        "aov": value.aov,
        "days_between_orders": value.days_between_orders,
        "repeat": 1.0 if value.repeat else 0.0,
        "days_since_last_order": _days_since(value.last_order_at, now),
        "days_since_first_order": _days_since(value.first_order_at, now),
    }
    return {spec: numbers.get(spec.property or "") for spec in specs}


def _days_since(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else (now - moment).total_seconds() / DAY_SECONDS


# --- the repository ----------------------------------------------------------------------


class CustomerValues:
    """The ``customer_value`` table: reads, recomputation on demand, and per-segment sums.

    The writes that keep it current happen inside the event, merge and unmerge
    transactions (engine.store.events, engine.store.identities), through :func:`recompute`.
    """

    def __init__(self, database: Database, customers: Customers) -> None:
        self._db = database
        self._customers = customers

    def get(self, customer_id: str) -> CustomerValue:
        """The customer's figures; for an id merged into another customer, that customer's."""
        with self._db.reads.begin() as session:
            row = self._customers.row(session, customer_id)
            return read(session, customer_id if row is None else row.id)

    def recompute(self, customer_id: str) -> CustomerValue:
        """Recompute one customer's figures from their events now."""
        with self._db.writes.begin() as session:
            now = _now()
            row = self._customers.lock_profile(session, customer_id, now)
            return recompute(session, row.id, now)

    def rebuild(self, after: str | None = None, limit: int = 500) -> tuple[int, str | None]:
        """Recompute the next ``limit`` customers (by id, after ``after``) that have order
        events or stored figures: for a store whose events came before the figures were
        kept. Returns how many were done and the last id (None when none were left)."""
        _check_limit(limit)
        ordered = select(EventRow.customer_id.label("id")).where(EventRow.name.in_(ORDER_EVENTS))
        kept = select(CustomerValueRow.customer_id.label("id"))
        ids = union(ordered, kept).subquery()
        statement = select(ids.c.id).order_by(ids.c.id).limit(limit)
        if after is not None:
            statement = statement.where(ids.c.id > after)
        with self._db.writes.begin() as session:
            page = list(session.scalars(statement))
            now = _now()
            for customer_id in page:
                self._customers.lock(session, customer_id, now)
                recompute(session, customer_id, now)
        return len(page), (page[-1] if page else None)

    def rebuild_all(self, page: int = 500) -> int:
        """:meth:`rebuild` every customer, a page per transaction; how many."""
        done, after = 0, None
        while True:
            count, after = self.rebuild(after, page)
            if after is None:
                return done
            done += count

    def segment_totals(self, segments: Sequence[str] | None = None) -> list[SegmentValueTotals]:
        """Per segment and currency, its members' figures added up; one query over the
        memberships joined to the figures. Segments without members have no row."""
        statement = (
            select(
                SegmentMembershipRow.segment,
                CustomerValueRow.currency,
                func.count(),
                func.count(CustomerValueRow.customer_id),
                func.count().filter(CustomerValueRow.orders >= 2),
                func.coalesce(func.sum(CustomerValueRow.orders), 0),
                func.coalesce(func.sum(CustomerValueRow.revenue), 0.0),
            )
            .outerjoin(
                CustomerValueRow, CustomerValueRow.customer_id == SegmentMembershipRow.customer_id
            )
            .group_by(SegmentMembershipRow.segment, CustomerValueRow.currency)
            .order_by(SegmentMembershipRow.segment, CustomerValueRow.currency)
        )
        if segments is not None:
            statement = statement.where(SegmentMembershipRow.segment.in_(list(segments)))
        with self._db.reads.begin() as session:
            return [
                SegmentValueTotals(
                    segment=segment,
                    currency=currency or "",
                    members=int(members),
                    buyers=int(buyers),
                    repeat_buyers=int(repeat),
                    orders=int(orders),
                    revenue=float(revenue),
                )
                for segment, currency, members, buyers, repeat, orders, revenue in (
                    session.execute(statement)
                )
            ]
