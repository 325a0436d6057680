"""Voice of the customer: NPS, CSAT and CES from `survey.responded` events.

Whatever sent the answers — cxflow's survey connector, or another tool's webhook mapped
to that event — an answer is an event with ``kind`` (``nps``, ``csat`` or ``ces``), a
numeric ``score`` and optionally ``survey``, ``journey_id`` and ``comment``. Each kind
has its standard figure (docs/analytics.md):

- NPS (0–10): % promoters (9–10) − % detractors (0–6), −100..100;
- CSAT (1–5): % satisfied (4–5);
- CES (1–7): the mean effort score.

Scores are broken down per survey, journey, experiment variant, segment, channel (of the
message that carried the survey link) and ISO week, and the latest comments are kept
beside their scores.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engine.analytics.stats import mean_interval, net_promoter, wilson_interval
from engine.store import EventRecord, MessageRecord, RunRecord, Store
from workflows.ids import workflow_id_for

SURVEY_EVENT = "survey.responded"
Kind = Literal["nps", "csat", "ces"]
KINDS: tuple[Kind, ...] = ("nps", "csat", "ces")
SCALES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
COMMENTS = 20
SURVEY_LINK = "survey.link"  # the call that makes a survey link (connectors.builtin.survey)
UNKNOWN_CHANNEL = "unknown"


class Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class Score(Result):
    """One kind's figure over a set of answers, with its 95% interval."""

    kind: Kind
    answers: int
    score: float | None  # None without answers
    low: float | None
    high: float | None
    # NPS: promoters, passives, detractors; CSAT: satisfied, not satisfied; CES: —
    counts: dict[str, int]


class Breakdown(Result):
    """The scores of the answers sharing one value (a survey, a journey, a week...)."""

    key: str
    scores: list[Score]


class Comment(Result):
    at: AwareDatetime
    customer_id: str
    kind: Kind
    score: float
    survey: str | None
    comment: str


class VocReport(Result):
    since: AwareDatetime | None
    until: AwareDatetime | None
    overall: list[Score]
    by_survey: list[Breakdown]
    by_journey: list[Breakdown]
    by_variant: list[Breakdown]
    by_segment: list[Breakdown]
    by_week: list[Breakdown]
    by_channel: list[Breakdown] = []  # the channel the link went by; `unknown` if not found
    comments: list[Comment]
    ignored: int  # answers without a known kind or a score on its scale


class Answer(Result):
    """One survey answer, as the reports read it from its event."""

    key: str  # the event's messageId
    at: AwareDatetime
    customer_id: str
    kind: Kind
    score: float
    survey: str | None
    journey_id: str | None
    step_id: str | None = None  # the step that made or sent the link, when the event says
    comment: str | None


def score_of(kind: Kind, scores: list[float]) -> Score:
    """The figure of one kind over these scores."""
    n = len(scores)
    if kind == "nps":
        promoters = sum(1 for s in scores if s >= 9)
        detractors = sum(1 for s in scores if s <= 6)
        counts = {
            "promoters": promoters,
            "passives": n - promoters - detractors,
            "detractors": detractors,
        }
        if not n:
            return Score(kind=kind, answers=0, score=None, low=None, high=None, counts=counts)
        nps = net_promoter(promoters, n - promoters - detractors, detractors)
        return Score(
            kind=kind,
            answers=n,
            score=nps.score,
            low=nps.interval.low,
            high=nps.interval.high,
            counts=counts,
        )
    if kind == "csat":
        satisfied = sum(1 for s in scores if s >= 4)
        counts = {"satisfied": satisfied, "not_satisfied": n - satisfied}
        if not n:
            return Score(kind=kind, answers=0, score=None, low=None, high=None, counts=counts)
        interval = wilson_interval(satisfied, n)
        return Score(
            kind=kind,
            answers=n,
            score=100 * satisfied / n,
            low=100 * interval.low,
            high=100 * interval.high,
            counts=counts,
        )
    if not n:
        return Score(kind=kind, answers=0, score=None, low=None, high=None, counts={})
    mean = mean_interval(scores)
    return Score(
        kind=kind,
        answers=n,
        score=mean.mean,
        low=mean.interval.low,
        high=mean.interval.high,
        counts={},
    )


class AnswerFilter(Result):
    """Which answers a report keeps: all of one journey, segment or experiment variant.

    ``segment`` is judged by the customer's membership now (as ``by_segment`` is);
    ``variant`` is a ``by_variant`` key, ``journey/variant``.
    """

    journey: str | None = None
    segment: str | None = None
    variant: str | None = None


def voc_report(
    store: Store,
    since: datetime | None = None,
    until: datetime | None = None,
    only: AnswerFilter | None = None,
) -> VocReport:
    """NPS, CSAT and CES of the answers in ``[since, until)`` (those ``only`` keeps), with
    their breakdowns."""
    answers, ignored = survey_answers(store, since, until)
    variants = _variants(store, answers)
    members = {s.id: set(store.segment_members(s.id)) for s in store.active_segments()}
    if only is not None:
        answers = filter_answers(answers, only, variants, members)
    channels = answer_channels(store, answers)
    return VocReport(
        since=since,
        until=until,
        overall=_scores(answers),
        by_survey=_breakdown(answers, lambda a: [a.survey or "(no survey id)"]),
        by_journey=_breakdown(answers, lambda a: [a.journey_id] if a.journey_id else []),
        by_variant=_breakdown(answers, lambda a: variants.get((a.customer_id, a.journey_id), [])),
        by_segment=_breakdown(
            answers, lambda a: [name for name, ids in members.items() if a.customer_id in ids]
        ),
        by_week=_breakdown(answers, lambda a: [iso_week(a.at)]),
        by_channel=_breakdown(answers, lambda a: [channels.get(a.key, UNKNOWN_CHANNEL)]),
        comments=[
            Comment(
                at=a.at,
                customer_id=a.customer_id,
                kind=a.kind,
                score=a.score,
                survey=a.survey,
                comment=a.comment,
            )
            for a in sorted(answers, key=lambda a: a.at, reverse=True)
            if a.comment
        ][:COMMENTS],
        ignored=ignored,
    )


def survey_answers(
    store: Store, since: datetime | None = None, until: datetime | None = None
) -> tuple[list[Answer], int]:
    """The answers in ``[since, until)``, oldest first, and how many events were ignored
    (no known kind, or a score off its scale)."""
    answers: list[Answer] = []
    ignored = 0
    for event in store.events.named(SURVEY_EVENT, since, until):
        answer = _answer(event)
        if answer is None:
            ignored += 1
        else:
            answers.append(answer)
    return answers, ignored


def filter_answers(
    answers: list[Answer],
    only: AnswerFilter,
    variants: dict[tuple[str, str | None], list[str]],
    members: dict[str, set[str]],
) -> list[Answer]:
    """The answers ``only`` keeps; ``variants`` and ``members`` as :func:`voc_report` reads
    them (the variant keys of (customer, journey), the customers of each segment)."""
    kept = []
    for answer in answers:
        if only.journey is not None and answer.journey_id != only.journey:
            continue
        if only.segment is not None and answer.customer_id not in members.get(only.segment, ()):
            continue
        if only.variant is not None and only.variant not in variants.get(
            (answer.customer_id, answer.journey_id), []
        ):
            continue
        kept.append(answer)
    return kept


def _answer(event: EventRecord) -> Answer | None:
    """The answer an event holds, if its kind is known and its score is on the scale."""
    properties = event.properties
    kind, score = properties.get("kind"), properties.get("score")
    if kind not in SCALES or isinstance(score, bool) or not isinstance(score, int | float):
        return None
    low, high = SCALES[kind]
    if not (math.isfinite(score) and low <= score <= high):
        return None
    text = properties.get("comment")
    survey, journey = properties.get("survey"), properties.get("journey_id")
    step = properties.get("step_id")
    return Answer(
        key=event.message_id,
        at=event.timestamp,
        customer_id=event.customer_id,
        kind=kind,
        score=float(score),
        survey=survey if isinstance(survey, str) else None,
        journey_id=journey if isinstance(journey, str) else None,
        step_id=step if isinstance(step, str) else None,
        comment=text if isinstance(text, str) and text.strip() else None,
    )


def _variants(store: Store, answers: list[Answer]) -> dict[tuple[str, str | None], list[str]]:
    """(customer, journey) -> the experiment variant of the customer's run before the
    answer (as ``journey/variant``)."""
    found: dict[tuple[str, str | None], list[str]] = {}
    for journey in {a.journey_id for a in answers if a.journey_id}:
        for run in store.get_runs(journey_id=journey, limit=1_000_000):
            if run.variant is not None:
                found[(run.customer_id, journey)] = [f"{journey}/{run.variant}"]
    return found


def answer_channels(store: Store, answers: list[Answer]) -> dict[str, str]:
    """answer key -> the channel of the message that carried its survey link.

    The answer names its journey (and may name a step); the customer's run of that journey
    that began last before the answer is the run the link came from. Its carrier is the
    first message the run sent after its latest ``survey.link`` call up to the answer (or,
    when the answer names a send step, that step's message). Answers whose run or message
    cannot be found are left out, and count as ``unknown``.
    """
    located = {a.key: workflow_id_for(a.journey_id, a.customer_id) for a in answers if a.journey_id}
    if not located:
        return {}
    runs: dict[str, list[RunRecord]] = defaultdict(list)
    for run in store.reports.runs_of(located.values()):
        runs[run.workflow_id].append(run)
    messages: dict[str, list[MessageRecord]] = defaultdict(list)
    for message in store.reports.messages_of(located.values()):
        messages[message.workflow_id].append(message)
    found = {}
    for answer in answers:
        workflow_id = located.get(answer.key)
        if workflow_id is None:
            continue
        started = [r for r in runs.get(workflow_id, []) if r.started_at <= answer.at]
        if not started:
            continue
        prefix = f"{workflow_id}/{started[-1].run_id}/"
        channel = _carrier(answer, [m for m in messages[workflow_id] if m.key.startswith(prefix)])
        if channel is not None:
            found[answer.key] = channel
    return found


def _carrier(answer: Answer, messages: list[MessageRecord]) -> str | None:
    """The channel of the run's message that carried the answer's link (see above)."""
    done = [m for m in messages if m.status == "sent" and m.created_at <= answer.at]
    sends = [m for m in done if "." not in m.channel]
    if answer.step_id is not None:
        own = [m for m in sends if m.step_id == answer.step_id]
        if own:
            return own[-1].channel
    links = [m for m in done if m.channel == SURVEY_LINK and answer.step_id in (None, m.step_id)]
    if not links:
        return None
    made = links[-1].created_at
    after = [m for m in sends if m.created_at >= made]
    return after[0].channel if after else None


def _scores(answers: Iterable[Answer]) -> list[Score]:
    by_kind: dict[str, list[float]] = defaultdict(list)
    for answer in answers:
        by_kind[answer.kind].append(answer.score)
    return [score_of(kind, by_kind[kind]) for kind in KINDS if by_kind.get(kind)]


def _breakdown(answers: list[Answer], keys_of: Callable[[Answer], list[str]]) -> list[Breakdown]:
    groups: dict[str, list[Answer]] = defaultdict(list)
    for answer in answers:
        for key in keys_of(answer):
            groups[key].append(answer)
    return [Breakdown(key=key, scores=_scores(groups[key])) for key in sorted(groups)]


def iso_week(moment: datetime) -> str:
    """The ISO week of a time, e.g. 2026-W48: the reports' unit of trend."""
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def print_voc(report: VocReport, console: Console) -> None:
    """The report for a terminal: the figures, then each breakdown, then comments."""
    period = f"{_day(report.since)} to {_day(report.until)}"
    console.print(f"[bold]Voice of the customer[/] ({period})")
    if not report.overall:
        console.print("no survey answers in the period")
    sections = [
        ("overall", [Breakdown(key="all answers", scores=report.overall)]),
        ("by survey", report.by_survey),
        ("by journey", report.by_journey),
        ("by variant", report.by_variant),
        ("by segment", report.by_segment),
        ("by channel", report.by_channel),
        ("by week", report.by_week),
    ]
    for title, rows in sections:
        if not rows or not report.overall:
            continue
        table = Table("", "NPS (95% CI)", "n", "CSAT % (95% CI)", "n", "CES (95% CI)", "n",
                      title=title)  # fmt: skip
        for row in rows:
            cells = {s.kind: s for s in row.scores}
            table.add_row(row.key, *(part for kind in KINDS for part in _cells(cells.get(kind))))
        console.print(table)
    for comment in report.comments:
        console.print(
            f"{_day(comment.at)} {comment.kind.upper()} {comment.score:g} "
            f"{escape(comment.survey or '')}: {escape(comment.comment)}"
        )
    if report.ignored:
        console.print(f"{report.ignored} answer(s) without a known kind or a score on its scale")


def _cells(score: Score | None) -> tuple[str, str]:
    if score is None or score.score is None:
        return "–", "0"
    digits = 2 if score.kind == "ces" else 0
    return (
        f"{score.score:.{digits}f} ({score.low:.{digits}f} to {score.high:.{digits}f})",
        str(score.answers),
    )


def _day(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment is not None else "–"
