"""Postmark's webhooks, as Postmark documents and sends them, become message engagement.

Records are Postmark's documented payloads (https://postmarkapp.com/developer/webhooks/),
posted with the webhook's HTTP Basic credentials, by the Postmark sandbox after a real
send through the ``postmark`` connector, to the real event API.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.builtin.postmark.webhooks import IgnoredRecordError, signal_for
from connectors.sandbox.postmark import PostmarkMessage, PostmarkSandbox
from tests.api.conftest import ApiServer
from tests.runtime.conftest import Engine, compiled_text
from workflows.ids import workflow_id_for

on_the_session_loop = pytest.mark.asyncio(loop_scope="session")

USER, PASSWORD = "postmark", "a long webhook password"
REF = "9f" * 32

JOURNEY = """
journey: pm-welcome
name: Welcome by Postmark
trigger: {event: signed.up}
steps:
  - id: welcome
    send:
      channel: email
      subject: "Welcome, {{ customer.traits.first_name }}"
      body: "Hello"
  - id: done
    exit: {}
"""

# Postmark's documented examples (trimmed of nothing cxflow reads), with the metadata
# the connector sends.
BOUNCE = {
    "RecordType": "Bounce",
    "ID": 42,
    "Type": "HardBounce",
    "TypeCode": 1,
    "Name": "Hard bounce",
    "Tag": "Test",
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "ServerID": 23,
    "MessageStream": "broadcast",
    "Description": "The server was unable to deliver your message (ex: unknown user).",
    "Details": "Test bounce details",
    "Email": "john@example.com",
    "From": "sender@example.com",
    "BouncedAt": "2014-08-01T13:28:10.2735393-04:00",
    "DumpAvailable": True,
    "Inactive": True,
    "CanActivate": True,
    "Subject": "Test subject",
    "Content": "Return-Path: ...",
    "Metadata": {"cxflow_key": REF, "journey": "welcome"},
}
DELIVERY = {
    "RecordType": "Delivery",
    "ServerID": 23,
    "MessageStream": "broadcast",
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "Recipient": "john@example.com",
    "Tag": "welcome-email",
    "DeliveredAt": "2014-08-01T13:28:10.2735393-04:00",
    "Details": "Test delivery webhook details",
    "Metadata": {"cxflow_key": REF},
}
CLICK = {
    "RecordType": "Click",
    "MessageStream": "broadcast",
    "Metadata": {"cxflow_key": REF},
    "Recipient": "john@example.com",
    "MessageID": "00000000-0000-0000-0000-000000000000",
    "ReceivedAt": "2017-10-25T15:21:11.0000000Z",
    "Platform": "Desktop",
    "ClickLocation": "HTML",
    "OriginalLink": "https://example.com",
    "Tag": "welcome-email",
    "UserAgent": "Mozilla/5.0",
    "OS": {"Name": "OS X 10.7 Lion", "Family": "OS X 10", "Company": "Apple Computer, Inc."},
    "Client": {"Name": "Chrome 35.0.1916.153", "Family": "Chrome", "Company": "Google"},
    "Geo": {"IP": "188.2.95.4", "City": "Novi Sad", "Country": "Serbia"},
}


def test_postmarks_documented_records_read_as_engagement() -> None:
    bounce = signal_for(BOUNCE)
    assert (bounce.kind, bounce.bounce, bounce.message_ref) == ("bounced", "hard", REF)
    assert bounce.address == "john@example.com"
    assert bounce.at is not None and bounce.at.isoformat() == "2014-08-01T13:28:10.273539-04:00"
    assert bounce.detail["Type"] == "HardBounce" and "Content" not in bounce.detail
    delivery = signal_for(DELIVERY)
    assert (delivery.kind, delivery.bounce, delivery.address) == (
        "delivered",
        None,
        BOUNCE["Email"],
    )
    click = signal_for(CLICK)
    assert (click.kind, click.url) == ("clicked", "https://example.com")
    assert click.at is not None and click.at.utcoffset() is not None
    # a retry of the same record is the same signal; another record is another
    assert signal_for(dict(BOUNCE)).dedupe_key == bounce.dedupe_key
    assert signal_for({**BOUNCE, "ID": 43}).dedupe_key != bounce.dedupe_key


def test_soft_bounces_notices_and_foreign_mail_are_told_apart() -> None:
    soft = signal_for({**BOUNCE, "Type": "SoftBounce", "TypeCode": 4096, "Inactive": False})
    assert soft.bounce == "soft"
    inactive = signal_for({**BOUNCE, "Type": "Blocked", "TypeCode": 100_000, "Inactive": True})
    assert inactive.bounce == "hard"  # Postmark deactivated the address: it is dead to us too
    complaint = signal_for({**BOUNCE, "RecordType": "SpamComplaint", "Type": "SpamComplaint"})
    assert complaint.kind == "complained"
    for record in (
        {**BOUNCE, "Type": "AutoResponder", "TypeCode": 64},
        {**BOUNCE, "Metadata": {}},
        {"RecordType": "SubscriptionChange", "MessageID": "x", "Metadata": {"cxflow_key": REF}},
    ):
        with pytest.raises(IgnoredRecordError):
            signal_for(record)


@pytest.fixture
def postmark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api: ApiServer
) -> Iterator[PostmarkSandbox]:
    """Postmark as the email provider, its webhook pointed at the event API."""
    with PostmarkSandbox(log=tmp_path / "postmark.jsonl") as sandbox:
        for name, value in {
            "CXFLOW_POSTMARK_API_URL": sandbox.url,
            "CXFLOW_POSTMARK_SERVER_TOKEN": sandbox.server_token,
            "CXFLOW_POSTMARK_FROM": "Shop <news@shop.example>",
            "CXFLOW_POSTMARK_WEBHOOK_PASSWORD": PASSWORD,
        }.items():
            monkeypatch.setenv(name, value)
        sandbox.webhook(f"{api.url}/v1/webhooks/postmark", USER, PASSWORD)
        yield sandbox


async def welcome(engine: Engine, postmark: PostmarkSandbox, customer: str) -> PostmarkMessage:
    """Run the welcome journey for ``customer``; the message Postmark accepted."""
    engine.store.upsert_customer(
        customer, {"first_name": "Ada", "email": f"{customer}@example.com"}
    )
    await engine.send(customer, "signed.up")
    await engine.outcome(workflow_id_for("pm-welcome", customer))
    return next(m for m in postmark.messages if m.to.endswith(f"<{customer}@example.com>"))


async def report(call: Any, *args: Any) -> httpx.Response:
    """A sandbox webhook call (blocking HTTP) off the loop that serves the API."""
    return await asyncio.to_thread(call, *args)


@on_the_session_loop
async def test_delivery_open_and_click_are_recorded_against_the_message(
    api: ApiServer, postmark: PostmarkSandbox
) -> None:
    engine = api.engine
    engine.deploy(compiled_text(JOURNEY))
    message = await welcome(engine, postmark, "ada")
    [sent] = [m for m in engine.store.messages_for(customer_id="ada") if m.step_id == "welcome"]
    assert message.metadata["cxflow_key"] == sent.ref

    for answer in (
        await report(postmark.deliver, message),
        await report(postmark.open, message),
        await report(postmark.click, message, "https://shop.example/new"),
    ):
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "recorded"
    kinds = {row.kind for row in engine.store.engagement.for_customer("ada")}
    assert kinds == {"delivered", "opened", "clicked"}
    events = [e.name for e in engine.store.events_for("ada")]
    assert {"message.delivered", "message.opened", "message.clicked"} <= set(events)


@on_the_session_loop
async def test_a_retried_record_is_recorded_once(api: ApiServer, postmark: PostmarkSandbox) -> None:
    engine = api.engine
    engine.deploy(compiled_text(JOURNEY))
    message = await welcome(engine, postmark, "grace")
    record = {**DELIVERY, "MessageID": message.message_id, "Metadata": message.metadata}
    first = await post(api, record)
    again = await post(api, record)
    assert (first.json()["status"], again.json()["status"]) == ("recorded", "duplicate")
    assert len(engine.store.engagement.for_customer("grace")) == 1


@on_the_session_loop
async def test_a_hard_bounce_suppresses_the_address_and_stops_the_next_send(
    api: ApiServer, postmark: PostmarkSandbox
) -> None:
    engine = api.engine
    engine.deploy(compiled_text(JOURNEY))
    message = await welcome(engine, postmark, "linus")
    answer = await report(postmark.bounce, message)
    assert answer.json() == {
        "status": "recorded",
        "kind": "bounced",
        "suppressed": True,
        "reason": None,
    }
    # Postmark forgets nothing either, but cxflow must not even ask it: a new run's send
    # is skipped before the connector is called.
    postmark.inactive.clear()
    before = len(postmark.messages)
    engine.deploy(compiled_text(JOURNEY.replace("pm-welcome", "pm-again")))
    await engine.send("linus", "signed.up")
    await engine.outcome(workflow_id_for("pm-again", "linus"))
    assert len(postmark.messages) == before
    [skipped] = [
        m
        for m in engine.store.messages_for(customer_id="linus")
        if m.workflow_id.startswith("journey:pm-again")
    ]
    assert (skipped.status, skipped.detail["reason"]) == ("skipped", "suppressed")


@on_the_session_loop
async def test_a_soft_bounce_suppresses_nothing(api: ApiServer, postmark: PostmarkSandbox) -> None:
    engine = api.engine
    engine.deploy(compiled_text(JOURNEY))
    message = await welcome(engine, postmark, "soft")
    answer = await report(postmark.bounce, message, "SoftBounce", 4096)
    assert (answer.json()["status"], answer.json()["suppressed"]) == ("recorded", False)
    [signal] = engine.store.engagement.for_customer("soft")
    assert (signal.kind, signal.detail["provider"]["Type"]) == ("bounced", "SoftBounce")


async def post(
    api: ApiServer, record: dict[str, Any], credentials: tuple[str, str] | None = (USER, PASSWORD)
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if credentials is not None:
        token = base64.b64encode(":".join(credentials).encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    async with httpx.AsyncClient(base_url=api.url) as client:
        return await client.post(
            "/v1/webhooks/postmark", content=json.dumps(record), headers=headers
        )


@on_the_session_loop
async def test_wrong_or_missing_credentials_change_nothing(
    api: ApiServer, postmark: PostmarkSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = api.engine
    engine.deploy(compiled_text(JOURNEY))
    message = await welcome(engine, postmark, "mallory")
    record = {**BOUNCE, "MessageID": message.message_id, "Metadata": message.metadata}
    for credentials in (None, (USER, "guess"), ("someone", PASSWORD)):
        answer = await post(api, record, credentials)
        assert answer.status_code == 401
        assert answer.json()["code"] == "credentials_invalid"
        assert PASSWORD not in answer.text
    assert engine.store.engagement.for_customer("mallory") == []
    monkeypatch.delenv("CXFLOW_POSTMARK_WEBHOOK_PASSWORD")
    answer = await post(api, record)
    assert (answer.status_code, answer.json()["code"]) == (401, "webhook_not_configured")
    assert "CXFLOW_POSTMARK_WEBHOOK_PASSWORD" in answer.json()["error"]


@on_the_session_loop
async def test_bad_bodies_and_foreign_records_get_clear_answers(
    api: ApiServer, postmark: PostmarkSandbox
) -> None:
    async with httpx.AsyncClient(base_url=api.url) as client:
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        answer = await client.post(
            "/v1/webhooks/postmark",
            content=b"[1, 2",
            headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
        )
    assert answer.status_code == 400 and "JSON object" in answer.json()["error"]
    unknown = await post(api, {**DELIVERY, "Metadata": {"cxflow_key": "0" * 64}})
    assert unknown.json()["status"] == "unknown_message"
    foreign = await post(api, {**DELIVERY, "Metadata": {"user_id": 43}})
    assert foreign.json()["status"] == "ignored"
