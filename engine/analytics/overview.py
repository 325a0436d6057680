"""The workspace at a glance: entries, messages, conversions, revenue and survey scores.

`cxflow report overview` and ``GET /v1/reports/overview``, over a period, with a row per
ISO week for the trend, delivery and engagement rates per channel, and the global control
group's lift (docs/analytics.md).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict
from rich.console import Console
from rich.table import Table

from engine.analytics.control import GlobalControlLift, global_control_lift
from engine.analytics.delivery import ChannelRates, channel_rates
from engine.analytics.voc import Score, iso_week, voc_report
from engine.store import Store


class Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class JourneyFigures(Result):
    journey_id: str
    entries: int
    conversions: int
    conversion_rate: float | None  # conversions / entries in the period
    revenue: dict[str, float]  # by currency ("" for values without one)


class WeekFigures(Result):
    week: str
    entries: int
    conversions: int
    revenue: dict[str, float]


class OverviewReport(Result):
    since: AwareDatetime | None
    until: AwareDatetime | None
    entries: int
    conversions: int
    revenue: dict[str, float]
    messages: dict[str, dict[str, int]]  # channel -> status -> count
    journeys: list[JourneyFigures]
    weeks: list[WeekFigures]
    voc: list[Score]
    channels: list[ChannelRates] = []  # delivery and engagement of the period's messages
    global_control: GlobalControlLift | None = None
    global_control_note: str | None = None  # why there is no global control figure


@dataclass
class _Tally:
    """Entries, conversions and revenue (by currency) of one journey or one week."""

    entries: int = 0
    conversions: int = 0
    revenue: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def money(self) -> dict[str, float]:
        return {currency: round(value, 2) for currency, value in sorted(self.revenue.items())}


def overview_report(
    store: Store,
    since: datetime | None = None,
    until: datetime | None = None,
    global_control_percent: float = 0.0,
) -> OverviewReport:
    """The workspace's figures in ``[since, until)`` (all time by default); the global
    control group's lift with the workspace's ``global_control_percent``."""
    journeys: dict[str, _Tally] = defaultdict(_Tally)
    weeks: dict[str, _Tally] = defaultdict(_Tally)
    total = _Tally()
    for journey, at in store.workspace.entries(since, until):
        for tally in (journeys[journey], weeks[iso_week(at)], total):
            tally.entries += 1
    for journey, at, value, currency in store.workspace.conversions(since, until):
        for tally in (journeys[journey], weeks[iso_week(at)], total):
            tally.conversions += 1
            if value is not None:
                tally.revenue[currency or ""] += value
    messages: dict[str, dict[str, int]] = defaultdict(dict)
    for channel, status, count in store.workspace.messages(since, until):
        messages[channel][status] = count
    control, note = global_control_lift(store, global_control_percent, since, until)
    return OverviewReport(
        since=since,
        until=until,
        entries=total.entries,
        conversions=total.conversions,
        revenue=total.money(),
        messages={channel: dict(sorted(c.items())) for channel, c in sorted(messages.items())},
        journeys=[
            JourneyFigures(
                journey_id=journey,
                entries=tally.entries,
                conversions=tally.conversions,
                conversion_rate=tally.conversions / tally.entries if tally.entries else None,
                revenue=tally.money(),
            )
            for journey, tally in sorted(journeys.items())
        ],
        weeks=[
            WeekFigures(
                week=week,
                entries=tally.entries,
                conversions=tally.conversions,
                revenue=tally.money(),
            )
            for week, tally in sorted(weeks.items())
        ],
        voc=voc_report(store, since, until).overall,
        channels=channel_rates(store, since, until),
        global_control=control,
        global_control_note=note,
    )


def print_overview(report: OverviewReport, console: Console) -> None:
    """The overview for a terminal."""
    money = ", ".join(f"{v:,.2f} {c}".strip() for c, v in report.revenue.items()) or "–"
    console.print(
        f"[bold]Workspace overview[/]: {report.entries} entries, {report.conversions} "
        f"conversions, revenue {money}"
    )
    journeys = Table("journey", "entries", "conversions", "rate", "revenue", title="journeys")
    for j in report.journeys:
        rate = "–" if j.conversion_rate is None else f"{j.conversion_rate * 100:.1f}%"
        revenue = ", ".join(f"{v:,.2f} {c}".strip() for c, v in j.revenue.items()) or "–"
        journeys.add_row(j.journey_id, str(j.entries), str(j.conversions), rate, revenue)
    console.print(journeys)
    if report.messages:
        statuses = sorted({s for counts in report.messages.values() for s in counts})
        table = Table("channel", *statuses, title="messages")
        for channel, counts in report.messages.items():
            table.add_row(channel, *(str(counts.get(s, 0)) for s in statuses))
        console.print(table)
    weeks = Table("week", "entries", "conversions", "revenue", title="by week")
    for w in report.weeks:
        revenue = ", ".join(f"{v:,.2f} {c}".strip() for c, v in w.revenue.items()) or "–"
        weeks.add_row(w.week, str(w.entries), str(w.conversions), revenue)
    console.print(weeks)
    for score in report.voc:
        console.print(
            f"{score.kind.upper()} {score.score:.1f} ({score.low:.1f} to {score.high:.1f}), "
            f"{score.answers} answers"
        )
    print_channels(report.channels, console)
    print_global_control(report, console)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def print_channels(channels: list[ChannelRates], console: Console) -> None:
    """Delivery and engagement per channel."""
    if not channels:
        return
    table = Table(
        "channel", "sent", "delivered", "bounced", "complained", "opened", "clicked",
        "per", title="delivery and engagement (messages sent in the period)",
    )  # fmt: skip
    for c in channels:
        table.add_row(
            c.channel, str(c.sent), _percent(c.delivered_rate), _percent(c.bounce_rate),
            _percent(c.complaint_rate), _percent(c.open_rate), _percent(c.click_rate), c.base,
        )  # fmt: skip
    console.print(table)


def print_global_control(report: OverviewReport, console: Console) -> None:
    """The global control group's comparison, or why there is none."""
    lift = report.global_control
    if lift is None:
        if report.global_control_note:
            console.print(f"[dim]{report.global_control_note}[/]")
        return
    table = Table(
        "", "customers", "converted", "rate (95% CI)",
        *(f"revenue/customer {r.currency}".strip() + " (95% CI)" for r in lift.treated.revenue),
        title=f"global control group ({lift.percent:g}% held out of every journey)",
    )  # fmt: skip
    for name, group in (("messaged", lift.treated), ("held out", lift.control)):
        table.add_row(
            name, str(group.customers), str(group.converted),
            f"{_percent(group.conversion_rate)} ({_percent(group.rate_low)}–"
            f"{_percent(group.rate_high)})",
            *(f"{r.per_customer:,.2f} ({_range(r.low, r.high)})" for r in group.revenue),
        )  # fmt: skip
    console.print(table)
    points = f"{lift.difference * 100:+.1f} points"
    console.print(
        f"incremental conversion rate: {points} ({lift.difference_low * 100:+.1f} to "
        f"{lift.difference_high * 100:+.1f})"
        + ("" if lift.relative_lift is None else f", lift {_percent(lift.relative_lift)}")
    )
    for r in lift.revenue:
        console.print(
            f"incremental revenue per customer: {r.difference:+,.2f} {r.currency}".rstrip()
            + f" ({_range(r.low, r.high, '+,.2f', ' to ')})"
        )


def _range(low: float | None, high: float | None, spec: str = ",.2f", to: str = "–") -> str:
    """An interval for the terminal; "no interval" when a group is too small for one."""
    if low is None or high is None:
        return "no interval"
    return f"{low:{spec}}{to}{high:{spec}}"
