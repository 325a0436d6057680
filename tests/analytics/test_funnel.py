"""Per-step funnels from real runs on the time-skipping server."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.analytics.report import build_report, render_html
from tests.runtime.conftest import Engine, compiled_text
from workflows.journey import workflow_id_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

ONBOARDING = """\
journey: onboarding
name: Onboarding
trigger: { event: signed.up }
exit_when:
  - event: account.closed
goal:
  event: order.completed
  within: 7d
steps:
  - id: welcome
    send: { channel: email, body: "Welcome" }
  - id: pause
    wait: 1d
  - id: plan-check
    branch:
      - when: event.properties.plan == 'pro'
        next: pro-tips
      - else: done
  - id: pro-tips
    send: { channel: email, body: "Pro tips" }
  - id: done
    exit: {}
"""


async def test_the_funnel_counts_runs_per_step_and_how_they_ended(engine: Engine) -> None:
    journey = engine.deploy(compiled_text(ONBOARDING))
    # Three pro customers (one buys), two free ones, one who closes the account at once.
    for customer, plan in [("p1", "pro"), ("p2", "pro"), ("p3", "pro"), ("f1", "free"),
                           ("f2", "free"), ("c1", "free")]:  # fmt: skip
        await engine.send(customer, "signed.up", plan=plan)
    await engine.env.sleep(timedelta(hours=1))  # every run now waits in `pause`
    await engine.send("c1", "account.closed")
    await engine.send("p1", "order.completed", total=30)
    for customer in ("p1", "p2", "p3", "f1", "f2", "c1"):
        await engine.outcome(workflow_id_for("onboarding", customer))

    report = build_report(engine.store, journey)

    assert report.summary.runs == 6 and report.summary.customers == 6
    assert report.summary.by_status == {"completed": 5, "exited": 1}
    funnel = {step.step_id: step for step in report.funnel}
    assert [step.step_id for step in report.funnel] == [
        "welcome", "pause", "plan-check", "pro-tips", "done",
    ]  # fmt: skip
    assert {k: s.runs for k, s in funnel.items()} == {
        "welcome": 6, "pause": 6, "plan-check": 5, "pro-tips": 3, "done": 5,
    }  # fmt: skip
    assert funnel["pause"].exited == 1 and funnel["pause"].completed == 5
    assert funnel["pro-tips"].kind == "send" and funnel["pro-tips"].completed == 3
    assert funnel["pro-tips"].converted == 1 and funnel["welcome"].converted == 1
    assert funnel["pro-tips"].reached_rate == pytest.approx(0.5)
    assert funnel["pro-tips"].conversion_rate == pytest.approx(1 / 3)
    assert funnel["welcome"].customers == 6
    page = render_html(report)
    assert "<h2>Funnel</h2>" in page and "aria-label='funnel'" in page
    assert "<td>pro-tips</td><td>send</td><td>3</td><td>50.0%</td>" in page


async def test_steps_nobody_reached_are_in_the_funnel_with_zero(engine: Engine) -> None:
    journey = engine.deploy(
        compiled_text(ONBOARDING.replace("journey: onboarding", "journey: ob2"))
    )
    await engine.send("f9", "signed.up", plan="free")
    await engine.outcome(workflow_id_for("ob2", "f9"))
    funnel = {step.step_id: step for step in build_report(engine.store, journey).funnel}
    assert funnel["pro-tips"].runs == 0
    assert funnel["pro-tips"].reached_rate == 0.0
    assert funnel["pro-tips"].conversion_rate is None
