"""Intake.engagement: a provider's signal about a message becomes an engagement row, the
customer event ``message.<kind>``, and after a hard bounce or a complaint a suppression.

The intake is the runtime's own (a real store, router and Temporal test server)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from engine.store.engagement import address_hash
from tests.engagement.conftest import sent_message, signal
from tests.runtime.conftest import Engine

pytestmark = pytest.mark.asyncio(loop_scope="session")

ADA = "ada"


async def test_a_signal_about_no_message_stores_nothing(engine: Engine) -> None:
    unknown = hashlib.sha256(b"another system's mail").hexdigest()
    outcome = await engine.intake.engagement(signal(unknown, "delivered"))
    assert outcome.status == "unknown_message" and not outcome.suppressed
    assert engine.store.engagement.channel_counts() == {}


async def test_an_open_is_recorded_and_emitted_as_message_opened(engine: Engine) -> None:
    engine.store.upsert_customer(ADA, {"email": "ada@example.com"})
    message = sent_message(engine.store, ADA, "welcome")
    at = engine.now() - timedelta(minutes=5)

    outcome = await engine.intake.engagement(
        signal(message, "opened", "postmark:open:1", at=at, source="tracking")
    )

    assert outcome.status == "recorded" and not outcome.suppressed
    [row] = engine.store.engagement.for_customer(ADA)
    assert (row.kind, row.journey_id, row.step_id, row.channel) == (
        "opened",
        "onboarding",
        "welcome",
        "email",
    )
    assert row.message_ref == message.ref and row.at == at
    [event] = engine.store.events_for(ADA, name="message.opened")
    assert event.properties == {
        "message": message.ref,
        "journey": "onboarding",
        "step": "welcome",
        "channel": "email",
        "source": "tracking",
    }
    assert event.timestamp == at
    assert event.message_id == "engagement:" + hashlib.sha256(b"postmark:open:1").hexdigest()


async def test_a_click_and_a_bounce_carry_their_url_and_bounce_kind(engine: Engine) -> None:
    message = sent_message(engine.store, ADA, "welcome")
    await engine.intake.engagement(signal(message, "clicked", url="https://shop.example/a"))
    await engine.intake.engagement(signal(message, "bounced", bounce="soft"))
    [click] = engine.store.events_for(ADA, name="message.clicked")
    assert click.properties["url"] == "https://shop.example/a"
    [bounce] = engine.store.events_for(ADA, name="message.bounced")
    assert bounce.properties["bounce"] == "soft" and "url" not in bounce.properties


async def test_a_redelivered_signal_is_a_duplicate_and_adds_nothing(engine: Engine) -> None:
    message = sent_message(engine.store, ADA, "welcome")
    first = await engine.intake.engagement(signal(message, "delivered", "pm:delivery:7"))
    again = await engine.intake.engagement(signal(message, "delivered", "pm:delivery:7"))
    other = await engine.intake.engagement(signal(message, "delivered", "pm:delivery:8"))
    assert (first.status, again.status, other.status) == ("recorded", "duplicate", "recorded")
    assert len(engine.store.engagement.for_customer(ADA)) == 2
    assert len(engine.store.events_for(ADA, name="message.delivered")) == 2
    # Two signals, one message: the reports count messages.
    assert engine.store.engagement.step_counts("onboarding") == {"welcome": {"delivered": 1}}


async def test_a_signal_about_an_erased_customers_message_is_unknown(engine: Engine) -> None:
    engine.store.upsert_customer(ADA, {"email": "ada@example.com"})
    message = sent_message(engine.store, ADA, "welcome")
    engine.store.erase_customer(ADA)

    outcome = await engine.intake.engagement(signal(message, "bounced", bounce="hard"))

    assert outcome.status == "unknown_message" and not outcome.suppressed
    assert engine.store.engagement.channel_counts() == {}
    assert engine.store.suppressions.list() == []
    assert engine.store.get_customer(ADA) is None  # the event did not recreate the customer


async def test_a_hard_bounce_suppresses_the_address_the_provider_names(engine: Engine) -> None:
    engine.store.upsert_customer(ADA, {"email": "ada@old.example"})
    message = sent_message(engine.store, ADA, "welcome")

    outcome = await engine.intake.engagement(
        signal(
            message,
            "bounced",
            bounce="hard",
            address=" Ada@Example.com",
            detail={"Type": "HardBounce"},
        )
    )

    assert outcome.status == "recorded" and outcome.suppressed
    suppression = engine.store.suppressions.check("email", "ada@example.com")
    assert suppression is not None
    assert (suppression.reason, suppression.customer_id, suppression.source) == (
        "hard_bounce",
        ADA,
        "postmark",
    )
    assert suppression.address == address_hash("ada@example.com")
    assert suppression.message_ref == message.ref
    assert engine.store.suppressions.check("email", "ada@old.example") is None


async def test_a_complaint_suppresses_the_customers_address(engine: Engine) -> None:
    """Without an address in the signal, the customer's address on the channel is taken."""
    engine.store.upsert_customer(ADA, {"email": "ada@example.com", "phone": "+33600000000"})
    message = sent_message(engine.store, ADA, "welcome")

    outcome = await engine.intake.engagement(signal(message, "complained"))

    assert outcome.suppressed
    [suppression] = engine.store.suppressions.for_customer(ADA)
    assert (suppression.channel, suppression.reason) == ("email", "spam_complaint")
    assert suppression.address == address_hash("ada@example.com")


async def test_an_sms_complaint_suppresses_the_phone_number(engine: Engine) -> None:
    engine.store.upsert_customer(ADA, {"email": "ada@example.com", "phone": "+33600000000"})
    message = sent_message(engine.store, ADA, "reminder", channel="sms")
    assert (await engine.intake.engagement(signal(message, "complained"))).suppressed
    assert engine.store.suppressions.check("sms", "+33600000000") is not None
    assert engine.store.suppressions.check("email", "ada@example.com") is None


async def test_a_soft_bounce_or_an_open_suppresses_nothing(engine: Engine) -> None:
    engine.store.upsert_customer(ADA, {"email": "ada@example.com"})
    message = sent_message(engine.store, ADA, "welcome")
    for kind, extra in (("bounced", {"bounce": "soft"}), ("opened", {}), ("delivered", {})):
        outcome = await engine.intake.engagement(
            signal(message, kind, address="ada@example.com", **extra)  # type: ignore[arg-type]
        )
        assert outcome.status == "recorded" and not outcome.suppressed
    assert engine.store.suppressions.list() == []


async def test_a_suppression_keeps_its_first_reason(engine: Engine) -> None:
    engine.store.upsert_customer(ADA, {"email": "ada@example.com"})
    message = sent_message(engine.store, ADA, "welcome")
    await engine.intake.engagement(signal(message, "bounced", "b-1", bounce="hard"))
    await engine.intake.engagement(signal(message, "complained", "c-1"))
    [suppression] = engine.store.suppressions.list()
    assert suppression.reason == "hard_bounce"


async def test_nothing_to_suppress_without_an_address(engine: Engine) -> None:
    """A webhook message has no address of the customer's: the bounce is recorded only."""
    engine.store.upsert_customer(ADA, {"email": "ada@example.com"})
    message = sent_message(engine.store, ADA, "notify", channel="webhook")
    outcome = await engine.intake.engagement(signal(message, "bounced", bounce="hard"))
    assert outcome.status == "recorded" and not outcome.suppressed
    assert engine.store.suppressions.list() == []
