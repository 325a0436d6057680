"""Messages per send step and per channel: counts from fixed message-log and engagement
rows, their rates and denominators, conversions credited to each step, and revenue
credited versus revenue of the runs that reached a step (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from rich.console import Console

from engine.analytics.delivery import channel_rates, step_messages
from engine.analytics.report import build_report, print_report, render_html
from engine.store import Store
from tests.analytics.conftest import T0, Ledger
from tests.runtime.conftest import compiled_text

HOUR, DAY = timedelta(hours=1), timedelta(days=1)

JOURNEY = """\
journey: onboarding
name: Onboarding
trigger: { event: signed.up }
goal:
  event: order.completed
  within: 14d
  value: double(event.properties.total)
  currency: EUR
steps:
  - id: welcome
    send: { channel: email, subject: Welcome, body: "Hello" }
  - id: pause
    wait: 1d
  - id: make-link
    call: survey.link
    with: { survey: first-week, kind: nps, expires_in: 4d }
    save_as: survey
  - id: nudge
    send: { channel: sms, body: "Still there? {{ survey.url }}" }
  - id: ping
    send: { channel: webhook, body: "{}" }
  - id: done
    exit: {}
"""


def fill(ledger: Ledger) -> None:
    """Five runs: four welcome emails sent (one of them skipped for the fifth), two sms
    sent and one failed, one webhook; signals and conversions at fixed times."""
    runs = [ledger.run("onboarding", f"c{n}", T0 + n * HOUR) for n in range(5)]
    welcome = [ledger.message(r, "welcome", "email", r.started_at) for r in runs[:4]]
    ledger.message(runs[4], "welcome", "email", runs[4].started_at, status="skipped")
    for r in runs:
        ledger.visit(r, "welcome", r.started_at)
    for r in runs[:3]:
        ledger.visit(r, "nudge", r.started_at + DAY)
        ledger.message(r, "make-link", "survey.link", r.started_at + DAY)  # a call
    nudges = [ledger.message(r, "nudge", "sms", r.started_at + DAY) for r in runs[:2]]
    ledger.message(runs[2], "nudge", "sms", runs[2].started_at + DAY, status="failed")
    ledger.message(runs[0], "ping", "webhook", runs[0].started_at + DAY + HOUR)
    ledger.visit(runs[0], "ping", runs[0].started_at + DAY + HOUR)
    # The email provider reports delivery: three delivered, one bounced; c0 opened twice
    # (one opened message) and clicked, c1 opened and complained.
    for ref in welcome[:3]:
        ledger.signal(ref, "delivered", T0 + 2 * HOUR)
    ledger.signal(welcome[3], "bounced", T0 + 4 * HOUR)
    ledger.signal(welcome[0], "opened", T0 + 3 * HOUR)
    ledger.signal(welcome[0], "opened", T0 + 5 * HOUR)
    ledger.signal(welcome[0], "clicked", T0 + 5 * HOUR)
    ledger.signal(welcome[1], "opened", T0 + 6 * HOUR)
    ledger.signal(welcome[1], "complained", T0 + 7 * HOUR)
    # No delivery data for sms: one click.
    ledger.signal(nudges[1], "clicked", runs[1].started_at + DAY + HOUR)
    # c0 buys 2h after the webhook (credited to ping: `*=1d`); c1 buys 3h after its sms
    # was clicked (sms); c2 buys 3 days after its email (email, 5d); c3's email bounced
    # and it buys 6 days later (no touch within 5d); c4 got nothing and buys.
    ledger.convert(runs[0], runs[0].started_at + DAY + 3 * HOUR, value=100.0)
    ledger.convert(runs[1], runs[1].started_at + DAY + 2 * HOUR, value=30.0)
    ledger.convert(runs[2], runs[2].started_at + 3 * DAY, value=20.0)
    ledger.convert(runs[3], runs[3].started_at + 6 * DAY, value=10.0)
    ledger.convert(runs[4], runs[4].started_at + HOUR, value=5.0)


def test_each_send_step_counts_messages_engagement_and_credit(ledger: Ledger, store: Store) -> None:
    journey = compiled_text(JOURNEY)
    fill(ledger)
    steps = {s.step_id: s for s in step_messages(store, journey)}
    assert list(steps) == ["welcome", "nudge", "ping"]  # send steps only, written order
    welcome, nudge, ping = steps["welcome"], steps["nudge"], steps["ping"]
    assert (welcome.sent, welcome.skipped, welcome.failed) == (4, 1, 0)
    assert (welcome.delivered, welcome.bounced, welcome.complained) == (3, 1, 1)
    assert (welcome.opened, welcome.clicked, welcome.base) == (2, 1, "delivered")
    assert (welcome.delivered_rate, welcome.bounce_rate) == (0.75, 0.25)
    assert welcome.open_rate == pytest.approx(2 / 3)  # per delivered message
    assert welcome.click_rate == pytest.approx(1 / 3)
    assert welcome.complaint_rate == pytest.approx(1 / 3)
    assert (welcome.converted, welcome.conversion_rate) == (1, 0.25)  # c2's order
    assert (nudge.sent, nudge.failed, nudge.base) == (2, 1, "sent")  # no delivery data
    assert (nudge.delivered_rate, nudge.bounce_rate) == (None, None)
    assert (nudge.clicked, nudge.click_rate, nudge.open_rate) == (1, 0.5, 0.0)
    assert (nudge.converted, nudge.conversion_rate) == (1, 0.5)  # c1's order
    assert (ping.sent, ping.converted, ping.conversion_rate) == (1, 1, 1.0)  # c0's order
    # Credited revenue counts the conversions credited to the step; revenue of runs
    # reaching it counts every conversion of the runs that got there.
    assert (welcome.attributed_revenue, welcome.reached_revenue) == (20.0, 165.0)
    assert (nudge.attributed_revenue, nudge.reached_revenue) == (30.0, 150.0)
    assert (ping.attributed_revenue, ping.reached_revenue) == (100.0, 100.0)


def test_without_a_goal_value_there_is_no_revenue_per_step(ledger: Ledger, store: Store) -> None:
    journey = compiled_text(JOURNEY.replace("  value: double(event.properties.total)\n", ""))
    fill(ledger)
    for step in step_messages(store, journey):
        assert (step.attributed_revenue, step.reached_revenue) == (None, None)


def test_channel_rates_are_over_the_messages_sent_in_the_period(
    ledger: Ledger, store: Store
) -> None:
    fill(ledger)
    rates = {c.channel: c for c in channel_rates(store)}
    assert set(rates) == {"email", "sms", "webhook"}  # calls are no channel
    email = rates["email"]
    assert (email.sent, email.delivered, email.bounced, email.opened) == (4, 3, 1, 2)
    assert (email.delivered_rate, email.bounce_rate) == (0.75, 0.25)
    assert email.complaint_rate == pytest.approx(1 / 3)
    assert (rates["sms"].click_rate, rates["sms"].base) == (0.5, "sent")
    late = {c.channel: c for c in channel_rates(store, since=T0 + 2 * HOUR, until=T0 + DAY)}
    assert late["email"].sent == 2  # c2's and c3's emails, created in the period
    assert (late["email"].delivered, late["email"].bounced, late["email"].opened) == (1, 1, 0)
    assert "sms" not in late


def test_the_report_shows_the_steps_in_the_terminal_json_and_html(
    ledger: Ledger, store: Store
) -> None:
    journey = compiled_text(JOURNEY)
    store.deploy_journey(journey)
    fill(ledger)
    report = build_report(store, journey)
    assert [m.step_id for m in report.messages] == ["welcome", "nudge", "ping"]
    data = report.model_dump(mode="json")
    assert data["messages"][0]["open_rate"] == pytest.approx(2 / 3)
    buffer = io.StringIO()
    print_report(report, Console(file=buffer, width=250))
    text = buffer.getvalue()
    assert "messages per send step" in text and "revenue credited" in text
    assert "2 (66.7%)" in text and "1 (50.0%)*" in text  # welcome opens; nudge clicks
    page = render_html(report)
    assert "<h2>Messages</h2>" in page and "<td>welcome</td><td>email</td><td>4</td>" in page
    assert "<td>20.00</td><td>165.00</td>" in page
