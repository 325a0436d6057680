"""Last-touch attribution per channel window: the rule on fixed touches, the setting that
configures it, and what the store credits when a conversion is recorded (SQLite and
PostgreSQL), by the router's path and by the run's own activity."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connectors.registry import ConnectorRegistry
from engine.analytics.attribution import (
    DEFAULT_WINDOWS,
    Touch,
    attribute,
    default_windows,
    parse_windows,
)
from engine.analytics.report import build_report
from engine.errors import SettingsError
from engine.runtime.activities import JourneyActivities
from engine.settings import Settings
from engine.store import Store
from tests.analytics.conftest import T0, Ledger
from tests.runtime.conftest import Engine, compiled_text
from workflows.ids import workflow_id_for
from workflows.models import ConversionInput, CustomerEvent, RunContext

DAY, HOUR, SECOND = timedelta(days=1), timedelta(hours=1), timedelta(seconds=1)
WINDOWS = parse_windows("email=5d,sms=1d,*=1d")


def touch(name: str, channel: str, sent_after: timedelta, *engaged: timedelta) -> Touch:
    return Touch(
        ref=name,
        step_id=name,
        channel=channel,
        sent_at=T0 + sent_after,
        engaged=tuple(T0 + e for e in engaged),
        key=name,
    )


def credited(touches: list[Touch], after: timedelta) -> str | None:
    chosen = attribute(touches, T0 + after, WINDOWS)
    return None if chosen is None else chosen.step_id


# --- the setting ---------------------------------------------------------------------------


def test_the_setting_is_parsed_into_windows_per_channel() -> None:
    windows = parse_windows(" sms=12h, email=5d ,*=1d")
    assert windows.window("email") == 5 * DAY and windows.window("sms") == 12 * HOUR
    assert windows.window("push") == DAY  # `*`: every channel not named
    assert windows.text() == "email=5d,sms=12h,*=1d"
    assert default_windows().text() == DEFAULT_WINDOWS == Settings().attribution_windows
    assert parse_windows("email=5d").window("sms") is None  # no `*`: never credited


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "is empty"),
        ("email", "'email' is not channel=duration"),
        ("email=", "'email=' is not channel=duration"),
        ("email=5 days", "is not a duration"),
        ("email=0d", "is zero"),
        ("Email=5d", "'Email' is not a channel name"),
        ("email=5d,email=2d", "'email' is given twice"),
    ],
)
def test_a_bad_setting_says_what_to_write(text: str, says: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"CXFLOW_ATTRIBUTION_WINDOWS": text})
    assert str(raised.value).startswith("CXFLOW_ATTRIBUTION_WINDOWS")
    assert says in str(raised.value)
    assert raised.value.code == "settings_invalid"


# --- the rule ------------------------------------------------------------------------------


def test_the_last_message_sent_within_its_window_wins() -> None:
    email, sms = touch("welcome", "email", 0 * HOUR), touch("nudge", "sms", 2 * HOUR)
    assert credited([email, sms], 3 * HOUR) == "nudge"
    assert credited([sms, email], 3 * HOUR) == "nudge"  # the order given does not matter
    later = touch("late", "sms", 4 * HOUR)  # sent after the conversion: never credited
    assert credited([email, sms, later], 3 * HOUR) == "nudge"


def test_each_channel_has_its_own_window_ends_included() -> None:
    email, sms = touch("welcome", "email", 0 * HOUR), touch("nudge", "sms", HOUR)
    assert credited([email, sms], HOUR + DAY) == "nudge"  # the sms window's last instant
    assert credited([email, sms], HOUR + DAY + SECOND) == "welcome"  # past it: the email
    assert credited([email], 5 * DAY) == "welcome"
    assert credited([email], 5 * DAY + SECOND) is None  # no touch: unattributed
    webhook = touch("ping", "webhook", 0 * HOUR)  # `*=1d`
    assert credited([webhook], DAY) == "ping" and credited([webhook], DAY + SECOND) is None
    assert attribute([webhook], T0 + HOUR, parse_windows("email=5d")) is None


def test_an_open_or_a_click_restarts_the_window() -> None:
    opened = touch("welcome", "email", 0 * HOUR, 4 * DAY)
    assert credited([opened], 9 * DAY) == "welcome"  # 5 days after the open
    assert credited([opened], 9 * DAY + SECOND) is None
    assert credited([touch("welcome", "email", 0 * HOUR)], 9 * DAY) is None  # without it
    clicked = touch("nudge", "sms", 0 * HOUR, 2 * DAY, 3 * DAY)  # the latest click counts
    assert credited([clicked], 4 * DAY) == "nudge"
    after = touch("welcome", "email", 0 * HOUR, 10 * DAY)  # opened after the conversion
    assert credited([after], 9 * DAY) is None


def test_an_engaged_older_message_beats_a_later_send_it_was_touched_after() -> None:
    email = touch("welcome", "email", 0 * HOUR, 2 * HOUR)  # clicked after the sms went
    sms = touch("nudge", "sms", HOUR)
    assert credited([email, sms], 3 * HOUR) == "welcome"
    assert credited([touch("welcome", "email", 0 * HOUR), sms], 3 * HOUR) == "nudge"


# --- what the store records -------------------------------------------------------------------


def test_a_conversion_is_credited_to_its_runs_last_touch(ledger: Ledger, store: Store) -> None:
    run = ledger.run("onboarding", "ada", T0, entry="first")
    ledger.message(run, "welcome", "email", T0)
    nudge = ledger.message(run, "nudge", "sms", T0 + HOUR)
    ledger.message(run, "make-link", "survey.link", T0 + 2 * HOUR)  # a call: no message
    ledger.message(run, "reminder", "sms", T0 + 2 * HOUR, status="failed")
    ledger.message(run, "extra", "sms", T0 + 2 * HOUR, status="skipped")
    again = ledger.run("onboarding", "ada", T0 + 90 * SECOND, entry="second")  # re-entry
    ledger.message(again, "welcome", "email", T0 + 2 * HOUR)  # another run's message
    conversion = ledger.convert(run, T0 + 3 * HOUR, value=40.0)
    assert (conversion.attributed_ref, conversion.attributed_step) == (nudge, "nudge")
    assert conversion.attributed_channel == "sms"
    assert conversion.value == 40.0


def test_opens_and_clicks_extend_the_window_in_the_store(ledger: Ledger, store: Store) -> None:
    run = ledger.run("onboarding", "bob", T0)
    welcome = ledger.message(run, "welcome", "email", T0)
    ledger.message(run, "nudge", "sms", T0 + HOUR)
    ledger.signal(welcome, "delivered", T0 + 8 * DAY)  # not a touch
    ledger.signal(welcome, "opened", T0 + 4 * DAY)
    ledger.signal(welcome, "clicked", T0 + 20 * DAY)  # after the conversion
    conversion = ledger.convert(run, T0 + 8 * DAY)
    assert (conversion.attributed_step, conversion.attributed_channel) == ("welcome", "email")


def test_no_message_within_a_window_leaves_the_conversion_unattributed(
    ledger: Ledger, store: Store
) -> None:
    run = ledger.run("onboarding", "cy", T0)
    ledger.message(run, "welcome", "email", T0)
    late = ledger.convert(run, T0 + 6 * DAY)
    assert (late.attributed_ref, late.attributed_step, late.attributed_channel) == (None,) * 3
    assert len(store.conversions("onboarding")) == 1  # still counted
    silent = ledger.run("onboarding", "dee", T0)  # a holdout's run: nothing sent
    assert ledger.convert(silent, T0 + HOUR).attributed_ref is None


def test_the_windows_given_decide_and_a_second_record_only_fills_a_gap(
    ledger: Ledger, store: Store
) -> None:
    run = ledger.run("onboarding", "eve", T0)
    ledger.message(run, "welcome", "email", T0)
    short = parse_windows("email=30m")
    assert ledger.convert(run, T0 + HOUR, windows=short).attributed_step is None
    # The run's own record (or a retry) with the default windows finds the email now.
    assert ledger.convert(run, T0 + HOUR).attributed_step == "welcome"
    ledger.message(run, "nudge", "sms", T0 + 30 * SECOND)
    assert ledger.convert(run, T0 + HOUR).attributed_step == "welcome"  # the first credit stays


@pytest.mark.asyncio(loop_scope="session")
async def test_the_runs_own_record_uses_the_workers_windows(ledger: Ledger, store: Store) -> None:
    run = ledger.run("onboarding", "fay", T0)
    ledger.message(run, "ping", "webhook", T0)
    settings = Settings(attribution_windows="webhook=2h")
    activities = JourneyActivities(store, ConnectorRegistry(entry_points=False), settings)
    context = RunContext(
        workflow_id=run.workflow_id, run_id="temporal-run", entry_id=run.run_id,
        journey_id=run.journey_id, version="v1", customer_id=run.customer_id,
    )  # fmt: skip
    await activities.record_conversion(
        ConversionInput(
            run=context, goal_event="order.completed", message_id="o-1", variant=None,
            at=T0 + 90 * timedelta(minutes=1),
        )
    )  # fmt: skip
    [conversion] = store.conversions("onboarding")
    assert (conversion.attributed_step, conversion.attributed_channel) == ("ping", "webhook")


CONSOLE_JOURNEY = """\
journey: thank-you
name: Thank you
trigger: { event: signed.up }
goal:
  event: order.completed
  within: 7d
  value: double(event.properties.total)
  currency: EUR
steps:
  - id: hello
    send: { channel: console, body: "Thanks for joining" }
  - id: done
    exit: {}
"""


@pytest.mark.asyncio(loop_scope="session")
async def test_the_router_credits_a_real_runs_message(dev_engine: Engine) -> None:
    # On the dev server (real time): the run's clock and the message log's agree, as in
    # production; the time-skipping server's clock runs ahead by what earlier tests skipped.
    engine = dev_engine
    journey = engine.deploy(compiled_text(CONSOLE_JOURNEY))
    await engine.send("gus", "signed.up")
    await engine.outcome(workflow_id_for("thank-you", "gus"))
    [run] = engine.store.get_runs(journey_id="thank-you", customer_id="gus")
    [sent] = engine.store.messages_for(customer_id="gus")
    assert sent.completed_at is not None
    at = max(run.started_at, sent.completed_at) + 2 * HOUR
    await engine.router.dispatch(
        CustomerEvent(
            message_id="order-1", customer_id="gus", name="order.completed",
            properties={"total": 12}, timestamp=at,
        )
    )  # fmt: skip
    [conversion] = engine.store.conversions("thank-you")
    assert (conversion.attributed_step, conversion.attributed_channel) == ("hello", "console")
    [hello] = build_report(engine.store, journey).messages
    assert (hello.sent, hello.converted, hello.attributed_revenue) == (1, 1, 12.0)
