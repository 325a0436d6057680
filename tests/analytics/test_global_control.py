"""The global control group's lift: treated against held-out customers among those who
entered a journey in the period, against hand-computed and scipy values; no section (and a
reason) when the group is off or empty; the overview, the command and the API show it."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from scipy import stats

from engine.analytics.control import global_control_lift
from engine.analytics.overview import overview_report
from engine.analytics.stats import proportion_difference
from engine.runtime.assignment import in_global_control
from engine.store import Store
from tests.analytics.conftest import T0, Ledger
from tests.api.conftest import ApiServer, api  # noqa: F401
from tests.cli.conftest import CXFLOW

PERCENT = 10.0
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
HELD = [f"g{n}" for n in range(400) if in_global_control(f"g{n}", PERCENT)]
SENT = [f"g{n}" for n in range(400) if not in_global_control(f"g{n}", PERCENT)]
Z = stats.norm.ppf(0.975)


def wilson(successes: int, n: int) -> tuple[float, float]:
    ci = stats.binomtest(successes, n).proportion_ci(0.95, method="wilson")
    return ci.low, ci.high


def fill(ledger: Ledger) -> tuple[list[str], list[str]]:
    """Three held-out and twelve messaged customers entering in the week from T0, with
    conversions in and out of the period and from customers who entered nothing."""
    held, sent = HELD[:3], SENT[:12]
    for n, customer in enumerate(held + sent):
        ledger.run("welcome" if n % 2 else "winback", customer, T0 + n * HOUR)
    ledger.run("welcome", HELD[3], T0 - DAY)  # entered before the period
    early = {c: ledger.run("promo", c, T0 + 2 * DAY) for c in held[:1] + sent[:6]}
    ledger.convert(early[held[0]], T0 + 3 * DAY, value=20.0)
    ledger.convert(early[held[0]], T0 + 3 * DAY, value=5.0, goal="review.posted")
    for customer, value in zip(sent[:6], [40.0, 10.0, None, 25.0, 60.0, 15.0], strict=True):
        ledger.convert(early[customer], T0 + 4 * DAY, value=value)
    late = ledger.run("promo", sent[7], T0 + 2 * DAY)
    ledger.convert(late, T0 + 8 * DAY, value=99.0)  # after the period
    stranger = ledger.run("promo", HELD[3], T0 - DAY)
    ledger.convert(stranger, T0 + DAY, value=70.0)  # entered nothing in the period
    return held, sent


def test_the_lift_against_hand_computed_and_scipy_values(ledger: Ledger, store: Store) -> None:
    fill(ledger)
    lift, note = global_control_lift(store, PERCENT, T0, T0 + 7 * DAY)
    assert lift is not None and note is None
    treated, control = lift.treated, lift.control
    assert (treated.customers, treated.converted, control.customers, control.converted) == (
        12, 6, 3, 1,
    )  # fmt: skip
    assert (treated.conversion_rate, control.conversion_rate) == (0.5, pytest.approx(1 / 3))
    assert (treated.rate_low, treated.rate_high) == pytest.approx(wilson(6, 12))
    assert (control.rate_low, control.rate_high) == pytest.approx(wilson(1, 3))
    reference = proportion_difference(1, 3, 6, 12)
    assert reference is not None
    assert lift.difference == pytest.approx(0.5 - 1 / 3)
    assert (lift.difference_low, lift.difference_high) == (
        pytest.approx(reference.difference_interval.low),
        pytest.approx(reference.difference_interval.high),
    )
    assert lift.relative_lift == pytest.approx((0.5 - 1 / 3) / (1 / 3))
    sent_values = [40.0, 10.0, 0.0, 25.0, 60.0, 15.0] + [0.0] * 6
    held_values = [25.0, 0.0, 0.0]
    [t_revenue], [c_revenue] = treated.revenue, control.revenue
    assert (t_revenue.currency, t_revenue.revenue, c_revenue.revenue) == ("EUR", 150.0, 25.0)
    mean = sum(sent_values) / 12
    assert (t_revenue.low, t_revenue.high) == pytest.approx(
        stats.norm.interval(0.95, loc=mean, scale=stats.sem(sent_values))
    )
    [more] = lift.revenue
    welch = stats.ttest_ind(sent_values, held_values, equal_var=False)
    expected = mean - 25.0 / 3
    se = expected / welch.statistic
    assert more.difference == pytest.approx(expected)
    assert (more.low, more.high) == (
        pytest.approx(expected - Z * se),
        pytest.approx(expected + Z * se),
    )


def test_no_section_when_the_group_is_off_or_empty(ledger: Ledger, store: Store) -> None:
    off, why = global_control_lift(store, 0.0)
    assert off is None and why is not None and "CXFLOW_GLOBAL_CONTROL_PERCENT is 0" in why
    for n, customer in enumerate(SENT[:5]):
        ledger.run("welcome", customer, T0 + n * HOUR)
    empty, why = global_control_lift(store, PERCENT)
    assert empty is None and why is not None and "has no customer who entered" in why
    report = overview_report(store, global_control_percent=PERCENT)
    assert report.global_control is None and report.global_control_note == why


def test_a_small_sample_keeps_its_uncertainty(ledger: Ledger, store: Store) -> None:
    held = ledger.run("welcome", HELD[0], T0)
    ledger.run("welcome", SENT[0], T0)
    ledger.convert(held, T0 + HOUR, value=30.0)
    lift, _ = global_control_lift(store, PERCENT)
    assert lift is not None
    assert (lift.control.conversion_rate, lift.treated.conversion_rate) == (1.0, 0.0)
    assert (lift.control.rate_low, lift.control.rate_high) == pytest.approx(wilson(1, 1))
    assert lift.difference == -1.0 and lift.relative_lift == -1.0
    assert lift.difference_low > -1 - 1e-9 and lift.difference_high > 0  # not a certainty
    [revenue] = lift.revenue
    assert (revenue.difference, revenue.low, revenue.high) == (-30.0, None, None)
    assert lift.control.revenue[0].low is None  # one customer: no spread to estimate


def test_the_overview_command_shows_the_lift(tmp_path: Path) -> None:
    database = tmp_path / "cxflow.db"
    store = Store.open(f"sqlite:///{database}")
    fill(Ledger(store))
    store.dispose()
    env = {
        **os.environ,
        "CXFLOW_DATABASE_URL": f"sqlite:///{database}",
        "CXFLOW_GLOBAL_CONTROL_PERCENT": str(PERCENT),
        "COLUMNS": "200",
    }
    shown = subprocess.run([str(CXFLOW), "report", "overview", "--json"], capture_output=True,
                           text=True, timeout=60, env=env)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["global_control"]["control"]["customers"] == 4  # all time: HELD[3] too
    assert data["global_control_note"] is None
    table = subprocess.run([str(CXFLOW), "report", "overview"], capture_output=True,
                           text=True, timeout=60, env=env)  # fmt: skip
    assert "global control group (10% held out" in table.stdout
    assert "incremental conversion rate" in table.stdout
    off = subprocess.run([str(CXFLOW), "report", "overview"], capture_output=True, text=True,
                         timeout=60, env={**env, "CXFLOW_GLOBAL_CONTROL_PERCENT": "0"})  # fmt: skip
    assert "no global control group" in off.stdout


@pytest.mark.asyncio(loop_scope="session")
async def test_the_api_serves_the_lift(
    api: ApiServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fill(Ledger(api.engine.store))
    read_key = api.engine.store.create_write_key("dashboard", "read")
    monkeypatch.setenv("CXFLOW_GLOBAL_CONTROL_PERCENT", str(PERCENT))
    async with httpx.AsyncClient(base_url=api.url, auth=(read_key, "")) as http:
        answer = await http.get(
            "/v1/reports/overview",
            params={"since": T0.isoformat(), "until": (T0 + 7 * DAY).isoformat()},
        )
    assert answer.status_code == 200, answer.text
    lift = answer.json()["global_control"]
    assert (lift["treated"]["customers"], lift["control"]["customers"]) == (12, 3)
    assert {c["channel"] for c in answer.json()["channels"]} == set()  # no message sent
