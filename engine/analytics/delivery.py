"""What happened to the messages: per send step of a journey and per channel of the
workspace, how many were sent, delivered, bounced, complained about, opened and clicked,
with their rates (docs/analytics.md).

Engagement counts are distinct messages with at least one signal of the kind (a message
opened three times is one opened message). Rates over "delivered" fall back to "sent" when
the provider reports no deliveries at all (a webhook, SMTP without delivery reports): the
``base`` field says which one a figure used.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from dsl.compiled import CompiledJourney, SendNode
from engine.analytics.stats import rate
from engine.store import Store

Base = Literal["delivered", "sent"]


class Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class Engagement(Result):
    """Sent messages and what the provider and the customer did with them."""

    sent: int
    delivered: int
    bounced: int
    complained: int
    opened: int
    clicked: int
    base: Base  # the denominator of the open, click and complaint rates
    delivered_rate: float | None  # delivered / sent; None without delivery data
    bounce_rate: float | None  # bounced / sent
    complaint_rate: float | None  # complained / base
    open_rate: float | None  # opened / base
    click_rate: float | None  # clicked / base


class StepMessages(Engagement):
    """One send step of a journey: its messages, engagement, conversions and revenue."""

    step_id: str
    channel: str
    skipped: int
    failed: int
    converted: int  # conversions credited to this step (last touch, docs/analytics.md)
    conversion_rate: float | None  # converted / sent
    attributed_revenue: float | None  # the values of those conversions (with a goal value)
    reached_revenue: float | None  # the values of the conversions of runs that reached it


class ChannelRates(Engagement):
    """One channel of the workspace, over the messages sent in the period."""

    channel: str


def engagement(sent: int, counts: Mapping[str, int]) -> dict[str, object]:
    """The fields of :class:`Engagement` from ``sent`` and the per-kind message counts.

    A channel or step "has delivery data" when any of its messages got a delivered or a
    bounced signal; then open, click and complaint rates are over delivered messages,
    else over sent ones, and the delivered rate is unknown (None) rather than 0%.
    """
    delivered, bounced = counts.get("delivered", 0), counts.get("bounced", 0)
    reported = delivered + bounced > 0
    base_n = delivered if reported else sent
    return {
        "sent": sent,
        "delivered": delivered,
        "bounced": bounced,
        "complained": counts.get("complained", 0),
        "opened": counts.get("opened", 0),
        "clicked": counts.get("clicked", 0),
        "base": "delivered" if reported else "sent",
        "delivered_rate": rate(delivered, sent) if reported else None,
        "bounce_rate": rate(bounced, sent) if reported else None,
        "complaint_rate": rate(counts.get("complained", 0), base_n),
        "open_rate": rate(counts.get("opened", 0), base_n),
        "click_rate": rate(counts.get("clicked", 0), base_n),
    }


def step_messages(store: Store, journey: CompiledJourney) -> list[StepMessages]:
    """Every send step of the journey, in its written order, sent to or not."""
    statuses = store.reports.step_messages(journey.id)
    signals = store.engagement.step_counts(journey.id)
    credit = store.reports.step_credit(journey.id)
    valued = journey.goal is not None and journey.goal.value is not None
    reached = store.reports.step_revenue_reached(journey.id) if valued else {}
    steps = []
    for step_id, node in journey.steps.items():
        if not isinstance(node, SendNode):
            continue
        counts = statuses.get(step_id, {})
        sent = counts.get("sent", 0)
        credited = credit.get(step_id)
        converted = credited.conversions if credited else 0
        steps.append(
            StepMessages.model_validate(
                {
                    **engagement(sent, {str(k): n for k, n in signals.get(step_id, {}).items()}),
                    "step_id": step_id,
                    "channel": node.channel,
                    "skipped": counts.get("skipped", 0),
                    "failed": counts.get("failed", 0),
                    "converted": converted,
                    "conversion_rate": rate(converted, sent),
                    "attributed_revenue": (
                        round(credited.revenue if credited else 0.0, 2) if valued else None
                    ),
                    "reached_revenue": round(reached.get(step_id, 0.0), 2) if valued else None,
                }
            )
        )
    return steps


def channel_rates(
    store: Store, since: datetime | None = None, until: datetime | None = None
) -> list[ChannelRates]:
    """Per channel, the messages sent in ``[since, until)`` and their engagement."""
    return [
        ChannelRates.model_validate(
            {**engagement(counts.get("sent", 0), counts), "channel": channel}
        )
        for channel, counts in sorted(store.reports.channel_engagement(since, until).items())
    ]
