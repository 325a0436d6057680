"""The webhook connector against a real HTTP receiver: payloads, signatures, idempotency, errors."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from connectors import PermanentConnectorError, RetryableConnectorError
from connectors.builtin.webhook import WebhookConnector, sign, verify_signature
from tests.connectors.support import call_request, send_request
from tests.peers.http_receiver import HttpReceiver, Reply

pytestmark = pytest.mark.asyncio

SECRET = "whsec_test_123"


def webhook(secret: str | None = SECRET) -> WebhookConnector:
    return WebhookConnector(environ={"CXFLOW_WEBHOOK_SECRET": secret} if secret else {})


# --- send -----------------------------------------------------------------------------------


async def test_send_posts_the_message_signed(receiver: HttpReceiver) -> None:
    connector = webhook()
    request = send_request(
        channel="webhook", params={"url": receiver.url("/hooks/cx"), "priority": "high"}
    )
    before = int(time.time())
    result = await connector.send(request)
    await connector.aclose()

    assert result.status == "sent"
    assert result.provider_message_id == "msg-1"  # the JSON `id` of the response
    assert result.detail == {"status_code": 200}
    seen = receiver.last()
    assert (seen.method, seen.path) == ("POST", "/hooks/cx")
    assert seen.header("Content-Type") == "application/json"
    assert seen.header("Idempotency-Key") == "run-1/hello"
    assert before <= int(seen.header("X-Cxflow-Timestamp") or 0) <= int(time.time())
    expected = hmac.new(SECRET.encode(), seen.body, hashlib.sha256).hexdigest()
    assert seen.header("X-Cxflow-Signature") == f"sha256={expected}"
    assert verify_signature(SECRET, seen.body, seen.header("X-Cxflow-Signature"))
    assert not verify_signature("another secret", seen.body, seen.header("X-Cxflow-Signature"))
    assert seen.json() == {
        "idempotency_key": "run-1/hello",
        "channel": "webhook",
        "journey_id": "welcome",
        "step_id": "hello",
        "recipient": {
            "customer_id": "c-1",
            "email": "jane@example.com",
            "phone": "+15550100",
            "handle": None,
            "traits": {},
        },
        "subject": "Welcome, Jane",
        "body": "Hi Jane,\nthanks for signing up.",
        "html": None,
        "params": {"priority": "high"},
        "unsubscribe_url": None,
    }


async def test_no_secret_no_signature(receiver: HttpReceiver) -> None:
    connector = webhook(secret=None)
    await connector.send(send_request(channel="webhook", params={"url": receiver.url()}))
    await connector.aclose()
    seen = receiver.last()
    assert seen.header("X-Cxflow-Signature") is None
    assert seen.header("X-Cxflow-Timestamp") is not None
    assert seen.header("Idempotency-Key") == "run-1/hello"


async def test_the_provider_id_comes_from_x_request_id_first(receiver: HttpReceiver) -> None:
    receiver.respond(Reply.of_json({"id": 42}, headers={"X-Request-Id": "req-abc"}))
    connector = webhook()
    sent = await connector.send(send_request(channel="webhook", params={"url": receiver.url()}))
    receiver.respond(Reply.of_json({"id": 42}))
    numbered = await connector.send(
        send_request(key="k-2", channel="webhook", params={"url": receiver.url()})
    )
    receiver.respond(Reply(status=204))
    empty = await connector.send(
        send_request(key="k-3", channel="webhook", params={"url": receiver.url()})
    )
    await connector.aclose()
    assert sent.provider_message_id == "req-abc"
    assert numbered.provider_message_id == "42"
    assert empty.provider_message_id is None and empty.detail == {"status_code": 204}


async def test_a_retried_send_is_delivered_once(receiver: HttpReceiver) -> None:
    connector = webhook()
    request = send_request(channel="webhook", params={"url": receiver.url()})
    receiver.fail_next(503, body="maintenance")
    with pytest.raises(RetryableConnectorError, match="HTTP 503"):
        await connector.send(request)
    first = await connector.send(request)
    second = await connector.send(request)  # say the activity timed out after delivery
    await connector.aclose()
    assert first == second
    keys = {r.header("Idempotency-Key") for r in receiver.requests}
    assert keys == {"run-1/hello"} and len(receiver.requests) == 3
    assert receiver.unique_deliveries == 1
    # The body and its signature are the same on every try: only the timestamp may change.
    assert len({(r.body, r.header("X-Cxflow-Signature")) for r in receiver.requests}) == 1


async def test_send_without_a_url_is_permanent() -> None:
    with pytest.raises(PermanentConnectorError) as raised:
        await webhook().send(send_request(channel="webhook"))
    assert str(raised.value) == (
        "webhook: the step 'hello' sends on the webhook channel without a URL: add "
        "`params: {url: https://...}`"
    )


@pytest.mark.parametrize("url", ["hooks.example.com/x", "file:///etc/passwd", "https://", ""])
async def test_a_url_that_is_not_http_is_permanent(url: str) -> None:
    with pytest.raises(PermanentConnectorError, match="is not an http\\(s\\) URL"):
        await webhook().send(send_request(channel="webhook", params={"url": url}))


# --- call: webhook.post ---------------------------------------------------------------------


async def test_call_posts_the_body_and_returns_the_response_json(receiver: HttpReceiver) -> None:
    receiver.respond(Reply.of_json({"ticket": {"id": "T-7"}, "queued": True}))
    connector = webhook()
    result = await connector.call(
        call_request("post", {"url": receiver.url("/crm"), "body": {"customer": "c-1", "n": 2}})
    )
    await connector.aclose()
    assert result.output == {"ticket": {"id": "T-7"}, "queued": True}
    seen = receiver.last()
    assert seen.path == "/crm"
    assert seen.json() == {"customer": "c-1", "n": 2}
    assert seen.header("Idempotency-Key") == "run-1/c"
    assert seen.header("X-Cxflow-Signature") == sign(SECRET, seen.body)


async def test_call_without_a_body_sends_the_ids(receiver: HttpReceiver) -> None:
    connector = webhook()
    result = await connector.call(call_request("post", {"url": receiver.url()}))
    await connector.aclose()
    assert receiver.last().json() == {"journey_id": "welcome", "step_id": "c", "customer_id": "c-1"}
    assert result.output == {"id": "msg-1"}


@pytest.mark.parametrize(
    ("reply", "output"),
    [
        (Reply.of_json([1, 2]), {"data": [1, 2]}),
        (Reply.of_json("ok"), {"data": "ok"}),
        (Reply(status=204), {}),
        (Reply(body=b"accepted", headers={"Content-Type": "text/plain"}), {"text": "accepted"}),
    ],
)
async def test_call_outputs_are_always_objects(
    receiver: HttpReceiver, reply: Reply, output: object
) -> None:
    receiver.respond(reply)
    connector = webhook()
    result = await connector.call(call_request("post", {"url": receiver.url(), "body": {}}))
    await connector.aclose()
    assert result.output == output


async def test_call_inputs_are_checked() -> None:
    with pytest.raises(PermanentConnectorError) as raised:
        await webhook().call(call_request("post", {"adress": "https://x.example.com"}))
    assert str(raised.value) == (
        "webhook.post: the inputs (`with:`) are not valid: url: Field required; "
        "adress: Extra inputs are not permitted"
    )


async def test_call_errors_are_mapped(receiver: HttpReceiver, closed_port: int) -> None:
    connector = webhook()
    receiver.fail_next(500)
    with pytest.raises(RetryableConnectorError):
        await connector.call(call_request("post", {"url": receiver.url()}))
    receiver.fail_next(400, body="unknown field 'customer'")
    with pytest.raises(PermanentConnectorError, match="unknown field 'customer'"):
        await connector.call(call_request("post", {"url": receiver.url()}))
    receiver.fail_next(429)
    with pytest.raises(RetryableConnectorError, match="HTTP 429"):
        await connector.call(call_request("post", {"url": receiver.url()}))
    with pytest.raises(RetryableConnectorError, match=r"could not reach 127\.0\.0\.1"):
        await connector.call(call_request("post", {"url": f"http://127.0.0.1:{closed_port}/"}))
    result = await connector.call(call_request("post", {"url": receiver.url()}))
    await connector.aclose()
    assert result.output == {"id": "msg-1"}
    assert receiver.unique_deliveries == 1


async def test_the_secret_is_not_in_any_message(receiver: HttpReceiver) -> None:
    connector = webhook()
    receiver.fail_next(401, body="bad signature")
    with pytest.raises(PermanentConnectorError) as raised:
        await connector.call(call_request("post", {"url": receiver.url()}))
    await connector.aclose()
    assert SECRET not in str(raised.value)
    assert SECRET not in repr(connector) + str(connector.info()) + str(connector.config.redacted())
