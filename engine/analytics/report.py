"""`cxflow report`: a journey's runs and experiment results, in the terminal or as one HTML page.

The HTML page is self-contained (inline CSS and SVG, no scripts, no network),
so it can be mailed or attached to a ticket and still render.
"""

from __future__ import annotations

import html
import math
from collections import Counter

from pydantic import BaseModel, ConfigDict
from rich.console import Console
from rich.table import Table

from dsl.compiled import CompiledJourney
from engine.analytics.delivery import StepMessages, step_messages
from engine.analytics.experiments import ExperimentResult, experiment_results
from engine.analytics.stats import rate
from engine.analytics.survey_variants import SurveyMetric, survey_metrics
from engine.store import Store


class RunSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    runs: int
    customers: int
    by_status: dict[str, int]
    waiting_at: dict[str, int]
    conversions: int
    revenue: float | None = None  # the goal values of the conversions, with a goal `value`
    currency: str | None = None


class FunnelStep(BaseModel):
    """One step of the funnel: the runs that reached it, as a share of all runs."""

    model_config = ConfigDict(frozen=True)

    step_id: str
    kind: str
    runs: int
    customers: int
    reached_rate: float | None
    completed: int
    exited: int
    failed: int
    running: int
    converted: int
    conversion_rate: float | None


class JourneyReport(BaseModel):
    """Everything the report shows; also what the JSON endpoint serves."""

    model_config = ConfigDict(frozen=True)

    journey_id: str
    name: str
    version: str
    summary: RunSummary
    funnel: list[FunnelStep]
    experiments: list[ExperimentResult]
    # Per send step: messages, engagement, conversions credited and revenue.
    messages: list[StepMessages] = []
    # Survey scores per variant of each split, with their difference from the baseline.
    surveys: list[SurveyMetric] = []


def build_funnel(store: Store, journey: CompiledJourney, runs: int) -> list[FunnelStep]:
    """Every step of the journey in its written order, reached or not."""
    visits = {record.step_id: record for record in store.step_funnel(journey.id)}
    steps = []
    for step_id, node in journey.steps.items():
        record = visits.get(step_id)
        reached = record.runs if record else 0
        converted = record.converted if record else 0
        steps.append(
            FunnelStep(
                step_id=step_id,
                kind=node.kind,
                runs=reached,
                customers=record.customers if record else 0,
                reached_rate=rate(reached, runs),
                completed=record.completed if record else 0,
                exited=record.exited if record else 0,
                failed=record.failed if record else 0,
                running=record.running if record else 0,
                converted=converted,
                conversion_rate=rate(converted, reached),
            )
        )
    return steps


def build_report(store: Store, journey: CompiledJourney, limit: int = 100_000) -> JourneyReport:
    runs = store.get_runs(journey_id=journey.id, limit=limit)
    conversions = store.conversions(journey.id)
    summary = RunSummary(
        runs=len(runs),
        customers=len({r.customer_id for r in runs}),
        by_status=dict(Counter(r.status for r in runs)),
        waiting_at=dict(
            Counter(r.current_step for r in runs if r.status == "running" and r.current_step)
        ),
        conversions=len(conversions),
        revenue=(
            round(math.fsum(c.value or 0.0 for c in conversions), 2)
            if journey.goal is not None and journey.goal.value is not None
            else None
        ),
        currency=journey.goal.currency if journey.goal is not None else None,
    )
    return JourneyReport(
        journey_id=journey.id,
        name=journey.name,
        version=journey.version,
        summary=summary,
        funnel=build_funnel(store, journey, summary.runs),
        experiments=experiment_results(store, journey),
        messages=step_messages(store, journey),
        surveys=survey_metrics(store, journey),
    )


def _money(value: float | None) -> str:
    return "–" if value is None else f"{value:,.2f}"


def _revenue_text(summary: RunSummary) -> str:
    if summary.revenue is None:
        return ""
    return f", revenue {_money(summary.revenue)}" + (
        f" {summary.currency}" if summary.currency else ""
    )


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def print_report(report: JourneyReport, console: Console) -> None:
    summary = report.summary
    console.print(f"[bold]{report.name}[/] ({report.journey_id} {report.version})")
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_status.items())) or "none"
    console.print(
        f"{summary.runs} runs of {summary.customers} customers ({statuses}); "
        f"{summary.conversions} conversions" + _revenue_text(summary)
    )
    if summary.waiting_at:
        waiting = ", ".join(f"{k} {v}" for k, v in sorted(summary.waiting_at.items()))
        console.print(f"running now at: {waiting}")
    funnel = Table(
        "step", "kind", "runs", "reached", "customers", "running", "completed", "exited",
        "failed", "converted", "conv. rate", title="funnel (runs that reached each step)",
    )  # fmt: skip
    for step in report.funnel:
        funnel.add_row(
            step.step_id, step.kind, str(step.runs), _percent(step.reached_rate),
            str(step.customers), str(step.running), str(step.completed), str(step.exited),
            str(step.failed), str(step.converted), _percent(step.conversion_rate),
        )  # fmt: skip
    console.print(funnel)
    print_messages(report, console)
    for experiment in report.experiments:
        table = Table(
            "variant", "exposures", "conversions", "rate (95% CI)", "lift", "P(beats " +
            experiment.baseline + ")",
            title=f"experiment {experiment.experiment} (step {experiment.step_id})",
        )  # fmt: skip
        for v in experiment.variants:
            table.add_row(
                v.name + (" (holdout)" if v.holdout else ""),
                str(v.exposures),
                str(v.conversions),
                f"{_percent(v.rate)} ({_percent(v.rate_low)}–{_percent(v.rate_high)})",
                _percent(v.lift),
                _percent(v.probability_to_beat_baseline),
            )
        console.print(table)
        if any(v.revenue is not None for v in experiment.variants):
            money = Table(
                "variant", "revenue", "per exposure (95% CI)",
                f"more per exposure than {experiment.baseline} (95% CI)",
                title=f"revenue ({summary.currency or 'goal value'})",
            )  # fmt: skip
            for v in experiment.variants:
                money.add_row(
                    v.name,
                    _money(v.revenue),
                    f"{_money(v.revenue_per_exposure)} ({_money(v.revenue_per_exposure_low)}"
                    f"–{_money(v.revenue_per_exposure_high)})",
                    "–"
                    if v.incremental_revenue_per_exposure is None
                    else f"{_money(v.incremental_revenue_per_exposure)} "
                    f"({_money(v.incremental_low)}–{_money(v.incremental_high)})",
                )
            console.print(money)
        verdict = (
            "[red]sample-ratio mismatch: the split does not match the weights; do not trust "
            "these results[/]"
            if experiment.sample_ratio_mismatch
            else f"chi-square p = {experiment.p_value:.3g}"
        )
        console.print(verdict)
        for metric in report.surveys:
            if metric.experiment == experiment.experiment:
                print_survey_metric(metric, console)


def _share(count: int, rate: float | None) -> str:
    return f"{count} ({_percent(rate)})" if rate is not None else str(count)


def print_messages(report: JourneyReport, console: Console) -> None:
    """The send steps: messages, engagement, conversions credited and revenue."""
    if not report.messages:
        return
    valued = report.summary.revenue is not None
    table = Table(
        "step", "channel", "sent", "skipped", "failed", "delivered", "bounced", "complained",
        "opened", "clicked", "converted",
        *(("revenue credited", "revenue of runs reaching it") if valued else ()),
        title="messages per send step (opens, clicks, complaints per delivered message; "
        "* per sent message: no delivery data)",
    )  # fmt: skip
    for m in report.messages:
        mark = "*" if m.base == "sent" else ""
        table.add_row(
            m.step_id, m.channel, str(m.sent), str(m.skipped), str(m.failed),
            _share(m.delivered, m.delivered_rate), _share(m.bounced, m.bounce_rate),
            _share(m.complained, m.complaint_rate) + mark, _share(m.opened, m.open_rate) + mark,
            _share(m.clicked, m.click_rate) + mark, _share(m.converted, m.conversion_rate),
            *((_money(m.attributed_revenue), _money(m.reached_revenue)) if valued else ()),
        )  # fmt: skip
    console.print(table)


def _score(value: float | None, kind: str) -> str:
    return "–" if value is None else f"{value:.2f}" if kind == "ces" else f"{value:.1f}"


def _range(low: float | None, high: float | None, kind: str) -> str:
    if low is None or high is None:
        return "–"
    return f"{_score(low, kind)} to {_score(high, kind)}"


def survey_label(metric: SurveyMetric) -> str:
    return {"nps": "NPS", "csat": "CSAT % satisfied", "ces": "CES (mean)"}[metric.kind]


def print_survey_metric(metric: SurveyMetric, console: Console) -> None:
    """One kind of survey score per variant, against the baseline."""
    label = survey_label(metric)
    table = Table(
        "variant", "answers", f"{label} (95% CI)", f"minus {metric.baseline} (95% CI)",
        title=f"{label} per variant (customers' latest answer after assignment)",
    )  # fmt: skip
    for v in metric.variants:
        table.add_row(
            v.name + (" (holdout)" if v.holdout else ""),
            str(v.answers),
            f"{_score(v.score, metric.kind)} ({_range(v.low, v.high, metric.kind)})",
            "–"
            if v.difference is None
            else f"{_score(v.difference, metric.kind)} "
            f"({_range(v.difference_low, v.difference_high, metric.kind)})",
        )
    console.print(table)


def render_html(report: JourneyReport) -> str:
    """A self-contained HTML page a marketer can open anywhere."""
    e = html.escape
    summary = report.summary
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(report.name)} — cxflow report</title>",
        "<style>body{font:15px/1.45 system-ui,sans-serif;margin:2rem;max-width:60rem;color:#222}"
        "table{border-collapse:collapse;margin:1rem 0}td,th{padding:.35rem .7rem;border-bottom:"
        "1px solid #ddd;text-align:right}th:first-child,td:first-child{text-align:left}"
        ".warn{color:#b00020;font-weight:600}.muted{color:#666}</style></head><body>",
        f"<h1>{e(report.name)}</h1>",
        f"<p class='muted'>{e(report.journey_id)} · version {e(report.version)}</p>",
        f"<p>{summary.runs} runs of {summary.customers} customers · "
        f"{summary.conversions} conversions{e(_revenue_text(summary))}</p>",
    ]
    if summary.by_status:
        parts.append("<table><tr><th>status</th><th>runs</th><th>share</th></tr>")
        parts += [
            f"<tr><td>{e(k)}</td><td>{v}</td><td>{_percent(rate(v, summary.runs))}</td></tr>"
            for k, v in sorted(summary.by_status.items())
        ]
        parts.append("</table>")
    parts.append("<h2>Funnel</h2>")
    parts.append(_funnel_chart(report.funnel))
    parts.append(
        "<table><tr><th>step</th><th>kind</th><th>runs</th><th>reached</th><th>customers</th>"
        "<th>running</th><th>completed</th><th>exited</th><th>failed</th><th>converted</th>"
        "<th>conversion rate</th></tr>"
    )
    parts += [
        f"<tr><td>{e(s.step_id)}</td><td>{e(s.kind)}</td><td>{s.runs}</td>"
        f"<td>{_percent(s.reached_rate)}</td><td>{s.customers}</td><td>{s.running}</td>"
        f"<td>{s.completed}</td><td>{s.exited}</td><td>{s.failed}</td><td>{s.converted}</td>"
        f"<td>{_percent(s.conversion_rate)}</td></tr>"
        for s in report.funnel
    ]
    parts.append("</table>")
    parts.append(_messages_html(report))
    for experiment in report.experiments:
        parts.append(f"<h2>Experiment {e(experiment.experiment)}</h2>")
        parts.append(
            "<table><tr><th>variant</th><th>exposures</th><th>conversions</th><th>rate</th>"
            f"<th>95% CI</th><th>lift</th><th>P(beats {e(experiment.baseline)})</th></tr>"
        )
        for v in experiment.variants:
            parts.append(
                f"<tr><td>{e(v.name)}{' (holdout)' if v.holdout else ''}</td>"
                f"<td>{v.exposures}</td><td>{v.conversions}</td><td>{_percent(v.rate)}</td>"
                f"<td>{_percent(v.rate_low)}–{_percent(v.rate_high)}</td>"
                f"<td>{_percent(v.lift)}</td><td>{_percent(v.probability_to_beat_baseline)}</td></tr>"
            )
        parts.append("</table>")
        parts.append(_revenue_html(experiment, summary.currency))
        parts.append(_rate_chart(experiment))
        if experiment.sample_ratio_mismatch:
            parts.append(
                "<p class='warn'>Sample-ratio mismatch: the split does not match the configured "
                "weights. Something is wrong with assignment or logging; do not trust these "
                "results.</p>"
            )
        else:
            parts.append(f"<p>Chi-square test across variants: p = {experiment.p_value:.3g}.</p>")
        parts += [
            _survey_html(metric)
            for metric in report.surveys
            if metric.experiment == experiment.experiment
        ]
    parts.append("</body></html>")
    return "\n".join(parts)


def _messages_html(report: JourneyReport) -> str:
    """The send steps' table: messages, engagement, conversions credited and revenue."""
    if not report.messages:
        return ""
    e = html.escape
    valued = report.summary.revenue is not None
    money = e(report.summary.currency or "goal value")
    head = (
        "<h2>Messages</h2><p class='muted'>Opens, clicks and complaints are per delivered "
        "message; * per sent message, where the channel reports no deliveries. Converted: "
        "conversions credited to the step (last touch within the channel's window). "
        "Revenue credited counts those conversions only; revenue of runs reaching the step "
        "counts every conversion of the runs that got there, so the two differ.</p>"
        "<table><tr><th>step</th><th>channel</th><th>sent</th><th>skipped</th><th>failed</th>"
        "<th>delivered</th><th>bounced</th><th>complained</th><th>opened</th><th>clicked</th>"
        "<th>converted</th>"
        + (
            f"<th>revenue credited ({money})</th><th>revenue of runs reaching it</th>"
            if valued
            else ""
        )
        + "</tr>"
    )
    rows = [head]
    for m in report.messages:
        mark = "*" if m.base == "sent" else ""
        rows.append(
            f"<tr><td>{e(m.step_id)}</td><td>{e(m.channel)}</td><td>{m.sent}</td>"
            f"<td>{m.skipped}</td><td>{m.failed}</td>"
            f"<td>{_share(m.delivered, m.delivered_rate)}</td>"
            f"<td>{_share(m.bounced, m.bounce_rate)}</td>"
            f"<td>{_share(m.complained, m.complaint_rate)}{mark}</td>"
            f"<td>{_share(m.opened, m.open_rate)}{mark}</td>"
            f"<td>{_share(m.clicked, m.click_rate)}{mark}</td>"
            f"<td>{_share(m.converted, m.conversion_rate)}</td>"
            + (
                f"<td>{_money(m.attributed_revenue)}</td><td>{_money(m.reached_revenue)}</td>"
                if valued
                else ""
            )
            + "</tr>"
        )
    return "".join(rows) + "</table>"


def _survey_html(metric: SurveyMetric) -> str:
    """One kind of survey score per variant of an experiment, against the baseline."""
    e = html.escape
    label, kind = survey_label(metric), metric.kind
    rows = [
        f"<h3>{e(label)} per variant</h3><p class='muted'>Each customer's latest answer "
        "after their assignment, any survey.</p><table><tr><th>variant</th><th>answers</th>"
        f"<th>{e(label)}</th><th>95% CI</th><th>minus {e(metric.baseline)}</th>"
        "<th>95% CI</th></tr>"
    ]
    for v in metric.variants:
        rows.append(
            f"<tr><td>{e(v.name)}{' (holdout)' if v.holdout else ''}</td><td>{v.answers}</td>"
            f"<td>{_score(v.score, kind)}</td><td>{_range(v.low, v.high, kind)}</td>"
            f"<td>{_score(v.difference, kind)}</td>"
            f"<td>{_range(v.difference_low, v.difference_high, kind)}</td></tr>"
        )
    return "".join(rows) + "</table>"


def _revenue_html(experiment: ExperimentResult, currency: str | None) -> str:
    """The revenue table of an experiment, when its journey's goal has a value."""
    if all(v.revenue is None for v in experiment.variants):
        return ""
    e = html.escape
    rows = [
        f"<table><tr><th>variant</th><th>revenue ({e(currency or 'goal value')})</th>"
        f"<th>per exposure</th><th>95% CI</th><th>more per exposure than "
        f"{e(experiment.baseline)}</th><th>95% CI</th></tr>"
    ]
    for v in experiment.variants:
        more = v.incremental_revenue_per_exposure
        rows.append(
            f"<tr><td>{e(v.name)}</td><td>{_money(v.revenue)}</td>"
            f"<td>{_money(v.revenue_per_exposure)}</td>"
            f"<td>{_money(v.revenue_per_exposure_low)}–{_money(v.revenue_per_exposure_high)}</td>"
            f"<td>{_money(more)}</td><td>"
            + ("–" if more is None else f"{_money(v.incremental_low)}–{_money(v.incremental_high)}")
            + "</td></tr>"
        )
    return "".join(rows) + "</table>"


def _rate_chart(experiment: ExperimentResult) -> str:
    """Bars of conversion rates with their 95% intervals, as inline SVG."""
    width, row = 520, 34
    top = max([v.rate_high for v in experiment.variants] + [0.01])
    height = row * len(experiment.variants) + 10
    parts = [f"<svg width='{width + 160}' height='{height}' role='img' aria-label='rates'>"]
    for index, v in enumerate(experiment.variants):
        y = 5 + index * row
        bar = v.rate / top * width
        low, high = v.rate_low / top * width, v.rate_high / top * width
        parts.append(
            f"<text x='0' y='{y + 18}' font-size='13'>{html.escape(v.name)}</text>"
            f"<rect x='110' y='{y + 4}' width='{bar:.1f}' height='18' fill='#5b8def'/>"
            f"<line x1='{110 + low:.1f}' x2='{110 + high:.1f}' y1='{y + 13}' y2='{y + 13}' "
            "stroke='#222' stroke-width='2'/>"
            f"<text x='{118 + max(bar, high):.1f}' y='{y + 18}' font-size='12'>"
            f"{_percent(v.rate)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _funnel_chart(funnel: list[FunnelStep]) -> str:
    """Horizontal bars of runs per step (converted runs darker), as inline SVG."""
    width, row = 520, 26
    top = max([step.runs for step in funnel] + [1])
    height = row * len(funnel) + 10
    parts = [f"<svg width='{width + 260}' height='{height}' role='img' aria-label='funnel'>"]
    for index, step in enumerate(funnel):
        y = 5 + index * row
        bar, converted = step.runs / top * width, step.converted / top * width
        parts.append(
            f"<text x='0' y='{y + 15}' font-size='13'>{html.escape(step.step_id)}</text>"
            f"<rect x='170' y='{y + 3}' width='{bar:.1f}' height='16' fill='#a9c1f5'/>"
            f"<rect x='170' y='{y + 3}' width='{converted:.1f}' height='16' fill='#2f6ad9'/>"
            f"<text x='{178 + bar:.1f}' y='{y + 15}' font-size='12'>{step.runs} "
            f"({_percent(step.reached_rate)})</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
