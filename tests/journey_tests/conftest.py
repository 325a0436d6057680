"""Journey test files on disk (a journey, its tests/ folder) and `cxflow test` as users run it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

CXFLOW = Path(sys.executable).parent / "cxflow"

# A small journey with one of each thing a case looks at: a send, a timer, a call with
# on_error, a wait_for with its timeout, an exit event, a goal with a value, quiet hours.
NUDGE = """\
journey: nudge
name: Nudge
trigger: { event: signed_up }
exit_when:
  - event: unsubscribed
goal: { event: order.completed, within: 7d, value: double(event.properties.total), currency: EUR }
settings:
  quiet_hours: { start: "21:00", end: "08:00" }
steps:
  - id: hello
    send: { channel: email, subject: "Hello {{ customer.first_name }}", body: Welcome aboard }
  - id: pause
    wait: 1d
  - id: coupon
    call: shop.create_discount
    with: { percent: 10 }
    save_as: coupon
    on_error: plain
  - id: offer
    send: { channel: email, subject: "Your code {{ coupon.code }}", body: Use it soon }
    next: wait-order
  - id: plain
    send: { channel: email, subject: Come back, body: We miss you }
  - id: wait-order
    wait_for: { event: order.completed, timeout: 2d }
    on_timeout: done
  - id: done
    exit: {}
"""

ANSWER = '{ code: NUDGE-10, price_rule_id: 7, expires_at: "2027-01-01T00:00:00Z" }'


@pytest.fixture
def project(tmp_path: Path) -> Callable[[str], Path]:
    """``journeys/nudge.yaml`` and the given text as ``journeys/tests/nudge.yaml``."""

    def write(tests: str, journey: str = NUDGE) -> Path:
        folder = tmp_path / "journeys"
        (folder / "tests").mkdir(parents=True, exist_ok=True)
        (folder / "nudge.yaml").write_text(journey, encoding="utf-8")
        path = folder / "tests" / "nudge.yaml"
        path.write_text(tests, encoding="utf-8")
        return path

    return write


@pytest.fixture
def cxflow_test() -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CXFLOW), "test", *args],
            capture_output=True,
            text=True,
            timeout=180,
            env={**os.environ, "COLUMNS": "300"},
        )

    return run
