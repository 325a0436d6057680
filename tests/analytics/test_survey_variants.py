"""Survey scores per experiment variant: the journey report's survey metric from fixed
assignments and answers (the NPS difference itself is checked in test_stats.py)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from rich.console import Console

from engine.analytics.report import build_report, print_report, render_html
from engine.analytics.stats import net_promoter_difference
from engine.analytics.survey_variants import survey_metrics
from engine.analytics.voc import score_of
from engine.store import EventRecord, Store
from tests.analytics.conftest import T0, Ledger
from tests.runtime.conftest import compiled_text

DAY, MINUTE = timedelta(days=1), timedelta(minutes=1)

JOURNEY = """\
journey: onboarding
name: Onboarding
trigger: { event: signed.up }
steps:
  - id: test
    split:
      experiment: onboarding-2026
      variants:
        - { name: short, weight: 45, next: short }
        - { name: long, weight: 45, next: long }
        - { name: holdout, weight: 10, next: done }
  - id: short
    send: { channel: email, body: "Hi" }
    next: done
  - id: long
    send: { channel: email, body: "Hello there" }
  - id: done
    exit: {}
"""


def answer(n: int, customer: str, kind: str, score: int, at: timedelta) -> EventRecord:
    return EventRecord(
        message_id=f"answer-{n}",
        customer_id=customer,
        name="survey.responded",
        properties={"kind": kind, "score": score, "survey": "relationship"},
        timestamp=T0 + at,
        received_at=T0 + at,
    )


def fill(ledger: Ledger, store: Store) -> None:
    """Short: NPS 10, 9, 9, 3 (and one earlier answer, before the split, left out); long:
    CSAT answers only; holdout: NPS 10, 5, 6, 7 (one customer answered twice: the latest
    counts)."""
    groups = {"short": ["s1", "s2", "s3", "s4"], "long": ["l1", "l2"], "holdout": ["h1", "h2", "h3", "h4"]}  # fmt: skip
    for variant, customers in groups.items():
        for customer in customers:
            ledger.assign("onboarding-2026", customer, variant, T0)
    n = iter(range(100))
    events = [
        answer(next(n), "s1", "nps", 0, -DAY),  # before the assignment
        *(answer(next(n), c, "nps", s, DAY) for c, s in zip(groups["short"], [10, 9, 9, 3], strict=True)),
        answer(next(n), "l1", "csat", 5, DAY),
        answer(next(n), "l2", "csat", 2, DAY),
        answer(next(n), "h1", "nps", 0, DAY),
        answer(next(n), "h1", "nps", 10, 2 * DAY),  # h1's latest answer
        *(answer(next(n), c, "nps", s, DAY) for c, s in zip(groups["holdout"][1:], [5, 6, 7], strict=True)),
        answer(next(n), "stranger", "nps", 10, DAY),  # not in the experiment
    ]  # fmt: skip
    store.record_events(events)


def test_each_variant_gets_its_score_and_difference_from_the_holdout(
    ledger: Ledger, store: Store
) -> None:
    fill(ledger, store)
    metrics = {m.kind: m for m in survey_metrics(store, compiled_text(JOURNEY))}
    assert set(metrics) == {"nps", "csat"}  # no CES answers: no CES metric
    nps = metrics["nps"]
    assert (nps.experiment, nps.step_id, nps.baseline) == ("onboarding-2026", "test", "holdout")
    variants = {v.name: v for v in nps.variants}
    short, long, holdout = variants["short"], variants["long"], variants["holdout"]
    own = score_of("nps", [10, 9, 9, 3])
    assert (short.answers, short.score, short.low, short.high) == (4, own.score, own.low, own.high)
    assert (holdout.answers, holdout.score) == (4, pytest.approx(-25.0))  # 10, 5, 6, 7
    reference = net_promoter_difference((1, 1, 2), (3, 0, 1))
    assert reference is not None
    assert short.difference == pytest.approx(75.0)  # 50 − (−25)
    assert (short.difference_low, short.difference_high) == (
        pytest.approx(reference.interval.low),
        pytest.approx(reference.interval.high),
    )
    assert (long.answers, long.score, long.difference) == (0, None, None)
    assert holdout.difference is None  # the baseline
    csat = {v.name: v for v in metrics["csat"].variants}
    assert (csat["long"].answers, csat["long"].score) == (2, 50.0)
    assert csat["long"].difference is None  # the holdout has no CSAT answers


def test_the_report_shows_the_survey_metric(ledger: Ledger, store: Store) -> None:
    journey = compiled_text(JOURNEY)
    store.deploy_journey(journey)
    fill(ledger, store)
    report = build_report(store, journey)
    assert [m.kind for m in report.surveys] == ["nps", "csat"]
    buffer = io.StringIO()
    print_report(report, Console(file=buffer, width=200))
    assert "NPS per variant" in buffer.getvalue() and "minus holdout" in buffer.getvalue()
    page = render_html(report)
    assert "<h3>NPS per variant</h3>" in page and "<td>75.0</td>" in page
    assert (
        build_report(store, compiled_text(JOURNEY.replace("onboarding-2026", "other"))).surveys
        == []
    )
