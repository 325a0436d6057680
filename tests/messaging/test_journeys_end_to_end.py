"""The abandoned-cart journey on the Temporal time-skipping server, sending its email over
SMTP (STARTTLS, AUTH) and its direct message through Mastodon, counted where they land.

A customer without consent gets nothing on that channel, whichever connector serves
it, and the message log says why.
"""

from __future__ import annotations

import pytest

from connectors.sandbox.postmark import PostmarkSandbox
from engine.runtime.assignment import assign_variant
from engine.store import EventRecord
from tests.messaging.conftest import SMTP_USER, Peers
from tests.runtime.conftest import Engine, compiled
from workflows.journey import workflow_id_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

VARIANTS = [("reminder", 45.0), ("discount", 45.0), ("holdout", 10.0)]


def vip_in_reminder(prefix: str) -> str:
    """A customer whose variant is `reminder`: an email, then (a VIP) a direct message."""
    return next(
        f"{prefix}-{n}"
        for n in range(10_000)
        if assign_variant("cart-offer-2026", f"{prefix}-{n}", VARIANTS) == "reminder"
    )


def vip(engine: Engine, customer: str, name: str) -> None:
    engine.store.upsert_customer(
        customer,
        {"first_name": name.title(), "email": f"{name}@example.com", "handle": f"@{name}"},
    )
    engine.store.set_segments(customer, {"vip"})


async def run_cart(engine: Engine, customer: str) -> None:
    await engine.send(customer, "cart.updated", item_count=2)
    result = await engine.outcome(workflow_id_for("abandoned-cart", customer))
    assert (result.status, result.reason) == ("completed", "exit step done")


def log(engine: Engine, customer: str) -> dict[str, tuple[str, str, dict[str, object]]]:
    return {m.step_id: (m.channel, m.status, m.detail) for m in engine.store.messages_for(customer)}


async def test_the_email_goes_over_smtp_and_the_dm_through_mastodon(
    engine: Engine, peers: Peers
) -> None:
    engine.deploy(compiled("abandoned-cart"))
    customer = vip_in_reminder("linus")
    vip(engine, customer, "linus")
    await run_cart(engine, customer)

    [mail] = peers.smtp.messages
    assert mail.rcpt_tos == ("linus@example.com",)
    assert mail.tls and mail.login == SMTP_USER
    message = mail.message()
    assert message["Subject"] == "Linus, you left something in your cart"
    unsubscribe = message["List-Unsubscribe"].strip("<>")
    assert "/v1/unsubscribe?token=" in unsubscribe
    assert f"Unsubscribe: {unsubscribe}" in mail.text()
    [dm] = peers.mastodon.direct_messages_to("linus")
    assert dm.text.startswith("@linus Hey Linus! Your cart is still waiting")
    assert len(peers.mastodon.statuses) == 1
    assert engine.outbox_messages() == []  # console served nothing

    sent = log(engine, customer)
    assert sent["plain-reminder"][:2] == ("email", "sent")
    assert sent["plain-reminder"][2]["smtp_host"] == "127.0.0.1"
    assert sent["social-nudge"][:2] == ("social", "sent")
    assert sent["social-nudge"][2]["provider_message_id"] == dm.id


async def test_a_customer_who_unsubscribed_from_everything_gets_nothing(
    engine: Engine, peers: Peers
) -> None:
    engine.deploy(compiled("abandoned-cart"))
    customer = vip_in_reminder("ada")
    vip(engine, customer, "ada")
    identify = EventRecord(
        message_id="identify-1",
        customer_id=customer,
        name="identify",
        properties={"unsubscribed": True},
        timestamp=engine.now(),
        received_at=engine.now(),
    )
    engine.store.record_identify(identify, {"unsubscribed": True})
    await run_cart(engine, customer)

    assert peers.smtp.messages == [] and peers.smtp.sessions == 0
    assert peers.mastodon.statuses == [] and peers.mastodon.requests == []
    skipped = log(engine, customer)
    assert {step: (channel, status) for step, (channel, status, _) in skipped.items()} == {
        "plain-reminder": ("email", "skipped"),
        "social-nudge": ("social", "skipped"),
    }
    for _channel, _status, detail in skipped.values():
        assert detail["reason"] == "no_consent"
        assert detail["why"] == "unsubscribed from every channel"
        assert detail["source"] == "identify"


async def test_consent_is_per_channel(engine: Engine, peers: Peers) -> None:
    engine.deploy(compiled("abandoned-cart"))
    customer = vip_in_reminder("linus-email-off")
    vip(engine, customer, "linus")
    engine.store.set_consent(customer, "email", False, "unsubscribe_link")
    await run_cart(engine, customer)

    assert peers.smtp.messages == []
    assert len(peers.mastodon.direct_messages_to("linus")) == 1
    statuses = {step: status for step, (_, status, _) in log(engine, customer).items()}
    assert statuses == {"plain-reminder": "skipped", "social-nudge": "sent"}
    detail = log(engine, customer)["plain-reminder"][2]
    assert (detail["reason"], detail["source"]) == ("no_consent", "unsubscribe_link")


async def test_postmark_takes_the_email_channel_when_it_is_the_one_configured(
    engine: Engine, postmark: PostmarkSandbox
) -> None:
    engine.deploy(compiled("abandoned-cart"))
    customer = vip_in_reminder("grace")
    engine.store.upsert_customer(customer, {"first_name": "Grace", "email": "grace@example.com"})
    await engine.send(customer, "cart.updated", item_count=1)
    await engine.outcome(workflow_id_for("abandoned-cart", customer))

    [message] = postmark.messages
    assert message.to == "Grace <grace@example.com>"
    assert message.subject == "Grace, you left something in your cart"
    assert message.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    sent = log(engine, customer)["plain-reminder"]
    assert sent[:2] == ("email", "sent")
    assert sent[2]["provider_message_id"] == message.message_id
