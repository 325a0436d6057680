"""`cxflow test` on cases that pass and cases that fail, each failure's words checked."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from tests.journey_tests.conftest import ANSWER

Run = Callable[..., subprocess.CompletedProcess[str]]

PASSING = f"""\
journey: nudge
answers:
  shop.create_discount: {ANSWER}
cases:
  - name: the code a day later, then the order
    customer: {{ traits: {{ email: ada@example.com, first_name: Ada }} }}
    timeline:
      - {{ at: 0, event: signed_up }}
      - {{ at: 1d2h, event: order.completed, properties: {{ total: 25.5 }} }}
    expect:
      steps: [hello, pause, coupon, offer, wait-order, done]
      messages:
        - {{ template: null, subject: Hello Ada, at: 0, to: ada@example.com }}
        - {{ subject: Your code NUDGE-10, body: Use it, at: 1d }}
      calls:
        - {{ call: shop.create_discount, with: {{ percent: 10 }}, at: 1d }}
      waiting:
        - {{ at: 12h, step: pause, waiting: timer, until: 1d }}
        - {{ at: 1d1h, step: wait-order, waiting: event, event: order.completed, until: 3d }}
      ends: completed
      reason: exit step done
      goal: {{ converted: true, value: 25.5 }}
      traits: {{ first_name: Ada, plan: null }}

  - name: a shop that cannot make codes gets the plain message
    start: "22:00"
    customer: {{ traits: {{ email: grace@example.com }} }}
    answers:
      shop.create_discount: {{ error: the shop refused the price rule }}
    timeline:
      - {{ at: 0, event: signed_up }}
    expect:
      messages:
        - {{ subject: Hello, at: 10h }}
        - {{ subject: Come back, step: plain }}
      waiting:
        - {{ at: 1h, step: hello, waiting: quiet_hours, until: 10h }}
      not_steps: [offer]
      ends: completed
      goal: {{ converted: false }}

  - name: no consent, no message
    customer: {{ traits: {{ email: lin@example.com }}, consent: {{ email: false }} }}
    timeline:
      - {{ at: 0, event: signed_up }}
      - {{ at: 1h, event: unsubscribed }}
    expect:
      messages:
        - {{ step: hello, status: skipped }}
      ends: exited
"""


def test_passing_cases_pass_with_a_coverage_line_and_junit(
    project: Callable[[str], Path], cxflow_test: Run, tmp_path: Path
) -> None:
    path = project(PASSING)
    junit = tmp_path / "junit.xml"
    result = cxflow_test(str(path.parent.parent), "--junit", str(junit))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "WARN" not in result.stdout + result.stderr
    assert "  ✓ the code a day later, then the order" in result.stdout
    assert "  ✓ a shop that cannot make codes gets the plain message" in result.stdout
    assert "  ✓ no consent, no message" in result.stdout
    assert "\ncoverage nudge: 7/7 steps\n" in result.stdout
    assert "3 case(s) in 1 file(s): 3 passed (" in result.stdout
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("3", "0")
    assert [c.get("name") for c in suite.iter("testcase")] == [
        "the code a day later, then the order",
        "a shop that cannot make codes gets the plain message",
        "no consent, no message",
    ]


FAILING = f"""\
journey: nudge
cases:
  - name: wrong steps
    answers: &coupon
      shop.create_discount: {ANSWER}
    timeline:
      - {{ at: 0, event: signed_up }}
    expect:
      steps: [hello, pause, plain, wait-order, done]
      not_steps: [coupon]

  - name: wrong messages
    answers: *coupon
    customer: {{ traits: {{ first_name: Ada, email: ada@example.com }} }}
    timeline:
      - {{ at: 0, event: signed_up }}
    expect:
      messages:
        - {{ subject: Hi Ada, body: Welcome, at: 1h }}
        - {{ subject: Your code NUDGE-10 }}
        - {{ subject: Come back }}

  - name: an unexpected message
    answers: *coupon
    customer: {{ traits: {{ email: bo@example.com }} }}
    timeline:
      - {{ at: 0, event: signed_up }}
    expect:
      messages:
        - {{ subject: Hello }}

  - name: wrong wait and ending
    answers: *coupon
    timeline:
      - {{ at: 0, event: signed_up }}
    expect:
      waiting:
        - {{ at: 2h, step: pause, waiting: timer, until: 2d }}
        - {{ at: 1d1h, step: pause }}
        - {{ at: 5d, step: done }}
      ends: exited
      goal: {{ converted: true }}
      variant: discount

  - name: quiet hours misread
    start: "22:00"
    answers: *coupon
    customer: {{ traits: {{ email: q@example.com }} }}
    timeline:
      - {{ at: 0, event: signed_up }}
    expect:
      waiting:
        - {{ at: 1h, step: hello, waiting: timer }}
      messages:
        - {{ subject: Hello, at: 0 }}
        - {{ subject: Your code }}

  - name: an unanswered call
    timeline:
      - {{ at: 0, event: signed_up }}
    expect:
      calls:
        - {{ call: shop.create_discount, with: {{ percent: 15 }} }}

  - name: a customer who should not enter
    answers: *coupon
    timeline:
      - {{ at: 0, event: signed_up }}
    expect:
      entered: false

  - name: a customer who should enter
    timeline:
      - {{ at: 0, event: signed_in }}
    expect:
      steps: [hello]

  - name: still running when the case ends
    until: 2h
    customer: {{ traits: {{ plan: free }} }}
    timeline:
      - {{ at: 0, event: signed_up }}
    expect:
      ends: completed
      traits: {{ plan: pro, first_name: Ada, tier: null }}
"""

EXPECTED_FAILURES = """\
  ✗ wrong steps
      - steps: expected hello → pause → plain → wait-order → done; the run took hello → pause → coupon → offer → wait-order → done (step 3 was coupon (at 1d), not plain)
      - the run took step coupon at 1d, which the case says it never takes
  ✗ wrong messages
      - message 1 (email from step hello, sent at 0): expected at 1h, it went at 0; expected the subject to contain 'Hi Ada'; it was 'Hello Ada'
      - message 3: expected a message, but the run sent only 2: email from step hello, sent at 0; email from step offer, sent at 1d
  ✗ an unexpected message
      - expected 1 message, but the run sent 2; not expected: email from step offer, sent at 1d
  ✗ wrong wait and ending
      - at 2h: expected the run in step pause, waiting for a timer until 2d; it was in step pause, waiting for a timer until 1d
      - at 1d1h: expected the run in step pause; it was in step wait-order, waiting for the event order.completed until 3d
      - at 5d: expected the run in step done; it had ended
      - expected the run to end exited; it ended completed (exit step done)
      - expected the goal reached; it was not
      - expected the variant discount; the run took no split
  ✗ quiet hours misread
      - message 1 (email from step hello, sent at 10h): expected at 0, it went at 10h
      - at 1h: expected the run in step hello, waiting for a timer; it was in step hello, waiting for the end of quiet hours until 10h
  ✗ an unanswered call
      - step coupon called shop.create_discount at 1d, but the test gives no answer for it: add `answers: {shop.create_discount: {...}}` to the case or the file
      - call 1 (shop.create_discount from step coupon at 1d): expected the input percent: 15, not 10
  ✗ a customer who should not enter
      - expected no run, but the customer entered: the run took hello → pause → coupon → offer → wait-order → done
  ✗ a customer who should enter
      - expected the customer to enter the journey, but no run started: check the trigger (its event and `when`), the entry rules and the timeline's events
  ✗ still running when the case ends
      - expected the run to end completed; it was still running (in step pause, waiting for a timer until 1d)
      - expected the trait plan: 'pro'; it is 'free'
      - expected the trait first_name: 'Ada'; it is unset
"""


def test_each_failure_says_what_was_expected_and_what_happened(
    project: Callable[[str], Path], cxflow_test: Run, tmp_path: Path
) -> None:
    path = project(FAILING)
    junit = tmp_path / "junit.xml"
    result = cxflow_test(str(path), "--junit", str(junit))
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    shown = result.stdout.split("\n", 1)[1].split("coverage", 1)[0]
    assert shown == EXPECTED_FAILURES
    assert "9 case(s) in 1 file(s): 0 passed, 9 failed (" in result.stderr
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "9"
    first = next(suite.iter("failure"))
    assert first.get("message", "").startswith("steps: expected hello → pause → plain")


FALLBACK = """\
journey: nudge
name: Nudge
trigger: { event: signed_up }
steps:
  - id: hello
    send: { channel: [sms, email], subject: Hello, body: "Hello {{ customer.id }}" }
"""

FALLBACK_CASES = """\
journey: nudge
cases:
  - name: a phone number gets the text
    customer: { id: ada, traits: { phone: "+447700900001", email: ada@example.com } }
    timeline: [{ at: 0, event: signed_up }]
    expect:
      messages: [{ channel: sms, to: "+447700900001", body: Hello ada }]
  - name: no phone, the email
    customer: { id: bob, traits: { email: bob@example.com } }
    timeline: [{ at: 0, event: signed_up }]
    expect:
      messages: [{ channel: email, to: bob@example.com }]
  - name: texts refused, the email
    customer: { id: cy, traits: { phone: "+447700900003", email: cy@example.com }, consent: { sms: false } }
    timeline: [{ at: 0, event: signed_up }]
    expect:
      messages: [{ channel: email, to: cy@example.com }]
  - name: nowhere to reach, skipped on the first channel
    customer: { id: dee }
    timeline: [{ at: 0, event: signed_up }]
    expect:
      messages: [{ channel: sms, status: skipped }]
"""


def test_a_send_goes_on_the_first_channel_the_customer_can_receive(
    project: Callable[..., Path], cxflow_test: Run
) -> None:
    result = cxflow_test(str(project(FALLBACK_CASES, FALLBACK)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 case(s) in 1 file(s): 4 passed" in result.stdout


CLOCKED = """\
journey: nudge
name: Nudge
trigger: { event: signed_up }
steps:
  - id: weekend
    branch:
      - when: now.getDayOfWeek() == 0 || now.getDayOfWeek() == 6
        next: weekend-hello
      - when: today == customer.traits.holiday
        next: weekend-hello
      - else: hello
  - id: hello
    send: { channel: email, subject: Hello, body: "Today is {{ today }}" }
    next: done
  - id: weekend-hello
    send: { channel: email, subject: Happy weekend, body: "Sent at {{ now }}" }
  - id: done
    exit: {}
"""

CLOCKED_CASES = """\
journey: nudge
cases:
  - name: on a Saturday, the weekend message
    start: "sat 10:00"
    customer: { traits: { email: ada@example.com } }
    timeline: [{ at: 0, event: signed_up }]
    expect:
      steps: [weekend, weekend-hello, done]
      messages: [{ subject: Happy weekend, body: "T10:00" }]
  - name: on a Monday, the weekday one, dated in the customer's zone
    start: "mon 10:00"
    customer: { traits: { email: bob@example.com }, timezone: Asia/Tokyo }
    timeline: [{ at: 0, event: signed_up }]
    expect:
      steps: [weekend, hello, done]
      messages: [{ subject: Hello, body: "Today is 20" }]
  - name: a holiday in the customer's zone is a weekend too (Tokyo is a day ahead of UTC)
    start: "2030-01-01 08:00"
    customer: { traits: { email: cy@example.com, holiday: "2030-01-01" }, timezone: Asia/Tokyo }
    timeline: [{ at: 0, event: signed_up }]
    expect:
      steps: [weekend, weekend-hello, done]
      messages: [{ subject: Happy weekend }]
"""


def test_conditions_and_texts_read_the_runs_clock(
    project: Callable[..., Path], cxflow_test: Run
) -> None:
    result = cxflow_test(str(project(CLOCKED_CASES, CLOCKED)))
    assert result.returncode == 0, result.stdout + result.stderr


DATED = """\
journey: nudge
name: Nudge
trigger: { event: subscribed }
settings: { timezone: customer, default_timezone: Europe/Paris }
steps:
  - id: before-renewal
    wait: { until: customer.traits.renewal_at, offset: -7d }
  - id: renewal-notice
    send: { channel: email, subject: Renewal soon, body: "Renews on {{ customer.traits.renewal_at }}" }
  - id: birthday
    wait: { until: customer.traits.birthday, every: year, at: "10:00" }
  - id: birthday-card
    send: { channel: email, subject: Happy birthday, body: "Today is {{ today }}" }
"""

DATED_CASES = """\
journey: nudge
cases:
  - name: a week before the renewal, then on the birthday
    start: "2030-03-01 10:00"
    customer:
      traits: { email: ada@example.com, renewal_at: "2030-03-20", birthday: "1990-04-02" }
    timeline: [{ at: 0, event: subscribed }]
    expect:
      waiting:
        - { at: 1d, step: before-renewal, waiting: timer, until: 11d23h }
      messages:
        - { subject: Renewal soon, at: 11d23h }
        # Paris moves to summer time on 31 March: 10:00 on 2 April is 31d23h after the start.
        - { subject: Happy birthday, at: 31d23h, body: "Today is 2030-04-02" }
  - name: a renewal already passed, the notice at once; no birthday, no wait
    start: "2030-03-01 10:00"
    customer: { traits: { email: bob@example.com, renewal_at: "2030-03-02" } }
    timeline: [{ at: 0, event: subscribed }]
    expect:
      messages:
        - { subject: Renewal soon, at: 0 }
        - { subject: Happy birthday, at: 0 }
  - name: a start in the past is refused
    start: "2020-01-01 10:00"
    timeline: [{ at: 0, event: subscribed }]
    expect: {}
"""


def test_waits_until_dates_in_the_customers_data(
    project: Callable[..., Path], cxflow_test: Run
) -> None:
    result = cxflow_test(str(project(DATED_CASES, DATED)))
    assert "  ✓ a week before the renewal, then on the birthday" in result.stdout, result.stdout
    assert "  ✓ a renewal already passed, the notice at once; no birthday, no wait" in result.stdout
    assert (
        "  ✗ a start in the past is refused\n      - the case starts at 2020-01-01 10:00, which "
        "has passed: the test server's clock only moves forward; give a later date\n"
    ) in result.stdout


LASTING = """\
journey: nudge
name: Nudge
trigger: { event: trial.started }
steps:
  - id: trial
    wait: { for: customer.traits.trial_days, at_least: 1d, at_most: 30d }
  - id: trial-over
    send: { channel: email, subject: Your trial ended, body: Upgrade now }
"""

LASTING_CASES = """\
journey: nudge
cases:
  - name: fourteen days of trial
    customer: { traits: { email: a@example.com, trial_days: 14 } }
    timeline: [{ at: 0, event: trial.started }]
    expect:
      waiting: [{ at: 1h, step: trial, waiting: timer, until: 14d }]
      messages: [{ subject: Your trial ended, at: 14d }]
  - name: a length written as text
    customer: { traits: { email: b@example.com, trial_days: 36h } }
    timeline: [{ at: 0, event: trial.started }]
    expect:
      messages: [{ at: 1d12h }]
  - name: no length, the shortest wait
    customer: { traits: { email: c@example.com } }
    timeline: [{ at: 0, event: trial.started }]
    expect:
      messages: [{ at: 1d }]
  - name: too long, the longest
    customer: { traits: { email: d@example.com, trial_days: 365 } }
    timeline: [{ at: 0, event: trial.started }]
    expect:
      messages: [{ at: 30d }]
"""


def test_waits_as_long_as_the_data_says_within_bounds(
    project: Callable[..., Path], cxflow_test: Run
) -> None:
    result = cxflow_test(str(project(LASTING_CASES, LASTING)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 case(s) in 1 file(s): 4 passed" in result.stdout
