"""The global control group's lift: what all journeys together add over sending nothing.

Customers in the global control group (``CXFLOW_GLOBAL_CONTROL_PERCENT``, sticky by hash:
engine.runtime.assignment.in_global_control) enter journeys like everyone else but get no
messages. Among the customers who entered any journey in the period, the treated (not in
the group) and the control (in it) are compared on the share who converted (any journey's
goal, in the period) and on revenue per customer; the difference, treated − control, is the
incremental effect of the messages (docs/analytics.md).
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from engine.analytics.stats import (
    mean_difference,
    mean_interval,
    proportion_difference,
    rate,
    wilson_interval,
)
from engine.runtime.assignment import in_global_control
from engine.store import Store


class Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class RevenuePerCustomer(Result):
    currency: str  # "" for values without one
    revenue: float
    per_customer: float
    low: float | None  # None with fewer than two customers: no spread to estimate
    high: float | None


class GroupFigures(Result):
    """One side of the comparison: the treated customers or the control group."""

    customers: int
    converted: int  # customers with at least one conversion in the period
    conversion_rate: float | None
    rate_low: float | None
    rate_high: float | None
    revenue: list[RevenuePerCustomer]


class RevenueLift(Result):
    currency: str
    difference: float  # treated − control revenue per customer (Welch's interval)
    low: float | None  # None when either group has fewer than two customers
    high: float | None


class GlobalControlLift(Result):
    percent: float
    treated: GroupFigures
    control: GroupFigures
    difference: float  # treated − control conversion rate (Newcombe's interval)
    difference_low: float
    difference_high: float
    relative_lift: float | None  # difference / control rate; None when that rate is 0
    revenue: list[RevenueLift]


def global_control_lift(
    store: Store, percent: float, since: datetime | None = None, until: datetime | None = None
) -> tuple[GlobalControlLift | None, str | None]:
    """The lift in ``[since, until)``, or None and the one-line reason there is none."""
    if percent <= 0:
        return None, (
            "no global control group: CXFLOW_GLOBAL_CONTROL_PERCENT is 0 (set it to hold out "
            "a share of customers and measure what all journeys add)"
        )
    conversions = store.reports.customer_conversions(since, until)
    raw = store.reports.entered_customers(since, until)
    # An id merged into another customer since counts as that customer, as its messages
    # were held out or sent as that customer's (JourneyActivities.deliver).
    person = store.resolve(set(raw) | {c.customer_id for c in conversions})
    entered = {person.get(c, c) for c in raw}
    control = {c for c in entered if in_global_control(c, percent)}
    treated = entered - control
    if not control:
        return None, (
            f"the global control group ({percent:g}%) has no customer who entered a journey "
            "in the period"
        )
    if not treated:
        return None, "every customer who entered a journey in the period is held out"
    converted: set[str] = set()
    worth: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for conversion in conversions:
        who = person.get(conversion.customer_id, conversion.customer_id)
        if who not in entered:
            continue
        converted.add(who)
        if conversion.value is not None:
            worth[conversion.currency or ""][who] += conversion.value
    currencies = sorted(worth)
    compared = proportion_difference(
        len(control & converted), len(control), len(treated & converted), len(treated)
    )
    if compared is None:  # not reached: both groups have customers
        return None, "no customers to compare"
    return (
        GlobalControlLift(
            percent=percent,
            treated=_group(treated, converted, worth, currencies),
            control=_group(control, converted, worth, currencies),
            difference=compared.difference,
            difference_low=compared.difference_interval.low,
            difference_high=compared.difference_interval.high,
            relative_lift=compared.relative,
            revenue=[
                _revenue_lift(currency, treated, control, worth[currency])
                for currency in currencies
            ],
        ),
        None,
    )


def _values(customers: set[str], worth: dict[str, float]) -> list[float]:
    """Each customer's revenue (0 without a conversion), in a stable order."""
    return [worth.get(customer, 0.0) for customer in sorted(customers)]


def _group(
    customers: set[str],
    converted: set[str],
    worth: dict[str, dict[str, float]],
    currencies: list[str],
) -> GroupFigures:
    n, c = len(customers), len(customers & converted)
    interval = wilson_interval(c, n) if n else None
    revenue = []
    for currency in currencies:
        values = _values(customers, worth[currency])
        mean = mean_interval(values)
        spread = len(values) >= 2
        revenue.append(
            RevenuePerCustomer(
                currency=currency,
                revenue=round(math.fsum(values), 2),
                per_customer=mean.mean,
                low=mean.interval.low if spread else None,
                high=mean.interval.high if spread else None,
            )
        )
    return GroupFigures(
        customers=n,
        converted=c,
        conversion_rate=rate(c, n),
        rate_low=interval.low if interval else None,
        rate_high=interval.high if interval else None,
        revenue=revenue,
    )


def _revenue_lift(
    currency: str, treated: set[str], control: set[str], worth: dict[str, float]
) -> RevenueLift:
    difference = mean_difference(_values(control, worth), _values(treated, worth))
    spread = len(control) >= 2 and len(treated) >= 2
    return RevenueLift(
        currency=currency,
        difference=difference.mean,
        low=difference.interval.low if spread else None,
        high=difference.interval.high if spread else None,
    )
