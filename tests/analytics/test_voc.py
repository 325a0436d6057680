"""NPS, CSAT and CES: the figures against hand-computed and scipy values, and the report
over stored answers on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from scipy import stats

from engine.analytics.stats import net_promoter
from engine.analytics.voc import AnswerFilter, score_of, voc_report
from engine.store import EventRecord, RunRecord, Store
from tests.cli.conftest import CXFLOW
from tests.segments.conftest import segment
from tests.store.conftest import postgres_admin, store  # noqa: F401

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_nps_and_its_interval_by_hand() -> None:
    # 5 promoters, 3 passives, 2 detractors of 10: NPS 30; var = (0.5 + 0.2 - 0.3^2) / 10
    nps = net_promoter(5, 3, 2)
    spread = 100 * stats.norm.ppf(0.975) * math.sqrt((0.5 + 0.2 - 0.09) / 10)
    assert nps.score == pytest.approx(30.0)
    assert (nps.interval.low, nps.interval.high) == (
        pytest.approx(30 - spread),
        pytest.approx(30 + spread),
    )
    assert net_promoter(3, 0, 0).interval.high == 100.0  # clipped to the scale
    score = score_of("nps", [10, 9, 9, 10, 9, 8, 7, 7, 6, 0])
    assert (score.score, score.counts) == (
        pytest.approx(30.0),
        {"promoters": 5, "passives": 3, "detractors": 2},
    )


def test_csat_is_the_share_satisfied_with_wilsons_interval() -> None:
    scores = [5, 4, 4, 3, 5, 1, 2, 5]  # 5 of 8 satisfied
    csat = score_of("csat", scores)
    ci = stats.binomtest(5, 8).proportion_ci(method="wilson")
    assert csat.score == pytest.approx(62.5)
    assert (csat.low, csat.high) == (pytest.approx(100 * ci.low), pytest.approx(100 * ci.high))


def test_ces_is_the_mean_effort_with_a_normal_interval() -> None:
    scores = [7.0, 6.0, 5.0, 7.0, 2.0]
    ces = score_of("ces", scores)
    low, high = stats.norm.interval(0.95, loc=5.4, scale=stats.sem(scores))
    assert ces.score == pytest.approx(5.4)
    assert (ces.low, ces.high) == (pytest.approx(low), pytest.approx(high))


@pytest.mark.parametrize("kind", ["nps", "csat", "ces"])
def test_no_answers_have_no_score(kind: str) -> None:
    empty = score_of(kind, [])  # type: ignore[arg-type]
    assert (empty.answers, empty.score, empty.low, empty.high) == (0, None, None, None)


def _answer(n: int, customer: str, kind: str, score: object, **extra: object) -> EventRecord:
    return EventRecord(
        message_id=f"answer-{n}",
        customer_id=customer,
        name="survey.responded",
        properties={"kind": kind, "score": score, **extra},
        timestamp=NOW - timedelta(days=n),
        received_at=NOW,
    )


def _fill(into: Store) -> None:
    into.record_events(
        [
            _answer(1, "ada", "nps", 10, survey="post-purchase", journey_id="thanks",
                    comment="Quick delivery"),
            _answer(2, "bob", "nps", 3, survey="post-purchase", journey_id="thanks",
                    comment="Box was damaged"),
            _answer(3, "cy", "nps", 8, survey="post-purchase", journey_id="thanks"),
            _answer(9, "ada", "csat", 5, survey="support"),
            _answer(10, "dee", "csat", 2, survey="support"),
            _answer(11, "eve", "ces", 6, survey="checkout"),
            _answer(12, "eve", "nps", 42),  # off the scale: ignored
            _answer(13, "eve", "mood", 5),  # not a kind: ignored
        ]
    )  # fmt: skip
    for customer, variant in (("ada", "reminder"), ("bob", "holdout"), ("cy", "reminder")):
        into.run_started(
            RunRecord(
                workflow_id=f"journey:thanks:{customer}", run_id=f"r-{customer}",
                journey_id="thanks", version="v1", customer_id=customer, status="completed",
                current_step=None, started_at=NOW - timedelta(days=20), ended_at=None,
                variant=variant, exit_reason=None, trigger_message_id=None,
            )
        )  # fmt: skip
    into.deploy_segment(segment("segment: vip\nname: VIP\nmatch: { trait: vip, equals: true }\n"))
    into.set_segments("ada", {"vip"})


def test_the_report_breaks_scores_down(store: Store) -> None:  # noqa: F811
    _fill(store)
    report = voc_report(store)
    overall = {s.kind: s for s in report.overall}
    assert overall["nps"].counts == {"promoters": 1, "passives": 1, "detractors": 1}
    assert overall["nps"].score == pytest.approx(0.0)
    assert (overall["csat"].score, overall["ces"].score) == (50.0, 6.0)
    assert report.ignored == 2
    assert [b.key for b in report.by_survey] == ["checkout", "post-purchase", "support"]
    variants = {b.key: b.scores[0].score for b in report.by_variant}
    assert variants == {"thanks/holdout": pytest.approx(-100.0), "thanks/reminder": 50.0}
    [vip] = report.by_segment
    assert vip.key == "vip" and {s.kind: s.answers for s in vip.scores} == {"nps": 1, "csat": 1}
    assert [c.comment for c in report.comments] == ["Quick delivery", "Box was damaged"]
    recent = voc_report(store, since=NOW - timedelta(days=5))
    assert [s.answers for s in recent.overall] == [3]
    weeks = [b.key for b in report.by_week]
    assert weeks == sorted(weeks) and weeks[-1] == "2026-W48"


def test_the_report_keeps_only_the_answers_of_a_journey_segment_or_variant(
    store: Store,  # noqa: F811
) -> None:
    _fill(store)
    journey = voc_report(store, only=AnswerFilter(journey="thanks"))
    assert [(s.kind, s.answers) for s in journey.overall] == [("nps", 3)]
    assert [b.key for b in journey.by_survey] == ["post-purchase"]
    vip = voc_report(store, only=AnswerFilter(segment="vip"))
    assert {s.kind: s.answers for s in vip.overall} == {"nps": 1, "csat": 1}
    assert [c.customer_id for c in vip.comments] == ["ada"]
    reminder = voc_report(store, only=AnswerFilter(variant="thanks/reminder"))
    [nps] = reminder.overall
    assert (nps.answers, nps.score) == (2, pytest.approx(50.0))
    both = voc_report(store, only=AnswerFilter(variant="thanks/reminder", segment="vip"))
    assert [s.answers for s in both.overall] == [1]
    assert voc_report(store, only=AnswerFilter(journey="elsewhere")).overall == []
    assert voc_report(store, only=AnswerFilter()).overall == voc_report(store).overall


def test_cxflow_report_voc_prints_json(tmp_path: Path) -> None:
    database = tmp_path / "cxflow.db"
    filled = Store.open(f"sqlite:///{database}")
    _fill(filled)
    filled.dispose()
    env = {**os.environ, "CXFLOW_DATABASE_URL": f"sqlite:///{database}", "COLUMNS": "200"}
    shown = subprocess.run([str(CXFLOW), "report", "voc", "--json"], capture_output=True,
                           text=True, timeout=60, env=env)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert {s["kind"]: s["answers"] for s in json.loads(shown.stdout)["overall"]} == {
        "nps": 3, "csat": 2, "ces": 1,
    }  # fmt: skip
    table = subprocess.run([str(CXFLOW), "report", "voc"], capture_output=True, text=True,
                           timeout=60, env=env)  # fmt: skip
    assert "Box was damaged" in table.stdout and "by variant" in table.stdout
    overview = subprocess.run([str(CXFLOW), "report", "overview", "--json"],
                              capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    assert overview.returncode == 0, overview.stderr
    assert json.loads(overview.stdout)["entries"] == 3  # the three runs of `thanks`
    bad = subprocess.run([str(CXFLOW), "report", "voc", "--since", "soon"], capture_output=True,
                         text=True, timeout=60, env=env)  # fmt: skip
    assert bad.returncode != 0 and "is not a duration" in bad.stderr
