"""Local-time waits and quiet hours end to end: the timer a run starts is the one the rule says.

The test server's clock starts at the real time, so each test picks a customer
time zone that puts the start where the rule matters, and reads the timer the
workflow started from its history.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.api.enums.v1 import EventType

from engine.runtime.localtime import next_local_time
from tests.runtime.conftest import Engine, compiled_text
from workflows.journey import workflow_id_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

QUIET = """\
journey: quiet
name: Quiet
trigger: { event: go }
settings:
  quiet_hours: { start: "21:00", end: "08:00" }
steps:
  - id: hello
    send: { channel: sms, body: "Good morning" }
"""

MORNING = """\
journey: morning
name: Morning
trigger: { event: go }
steps:
  - id: until-saturday-nine
    wait: { until: "09:00", weekdays: [sat] }
  - id: hello
    send: { channel: sms, body: "Saturday!" }
"""


def zone_where_it_is(hour: int, now: datetime) -> str:
    """A fixed-offset zone in which the local hour is ``hour`` right now."""
    for offset in range(-12, 15):
        if (now + timedelta(hours=offset)).hour == hour:
            return f"Etc/GMT{-offset:+d}" if offset else "UTC"  # Etc/GMT-2 is UTC+2
    raise AssertionError("no zone found")


async def timers(engine: Engine, workflow_id: str) -> list[tuple[datetime, timedelta]]:
    """Each timer the run started: when, and for how long."""
    history = await engine.client.get_workflow_handle(workflow_id).fetch_history()
    return [
        (
            e.event_time.ToDatetime(tzinfo=UTC),
            e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta(),
        )
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]


async def test_quiet_hours_hold_a_send_until_they_end(engine: Engine) -> None:
    engine.deploy(compiled_text(QUIET))
    zone = zone_where_it_is(23, await engine.env.get_current_time())
    engine.store.upsert_customer("night-owl", {"phone": "+15550100"}, timezone=zone)
    await engine.send("night-owl", "go")
    workflow_id = workflow_id_for("quiet", "night-owl")
    await engine.outcome(workflow_id)
    [(at, duration)] = await timers(engine, workflow_id)
    fires = (at + duration).astimezone(ZoneInfo(zone))
    assert abs(fires - next_local_time(at, ZoneInfo(zone), 8 * 60)) < timedelta(seconds=5)
    assert timedelta(hours=8) < duration <= timedelta(hours=9)
    assert [m["body"] for m in engine.outbox_messages()] == ["Good morning"]


async def test_no_wait_outside_quiet_hours(engine: Engine) -> None:
    engine.deploy(compiled_text(QUIET))
    zone = zone_where_it_is(12, await engine.env.get_current_time())
    engine.store.upsert_customer("noon", {}, timezone=zone)
    await engine.send("noon", "go")
    workflow_id = workflow_id_for("quiet", "noon")
    await engine.outcome(workflow_id)
    assert await timers(engine, workflow_id) == []


async def test_wait_until_a_local_time_on_a_weekday(engine: Engine) -> None:
    engine.deploy(compiled_text(MORNING))
    engine.store.upsert_customer("berliner", {}, timezone="Europe/Berlin")
    await engine.send("berliner", "go")
    workflow_id = workflow_id_for("morning", "berliner")
    await engine.outcome(workflow_id)
    [(at, duration)] = await timers(engine, workflow_id)
    berlin = ZoneInfo("Europe/Berlin")
    fires = (at + duration).astimezone(berlin)
    assert abs(fires - next_local_time(at, berlin, 9 * 60, [5])) < timedelta(seconds=5)
    assert (fires.weekday(), fires.hour, fires.minute) in ((5, 9, 0), (5, 8, 59))
