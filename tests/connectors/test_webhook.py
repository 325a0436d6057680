"""The webhook connector against a real HTTP receiver: payloads, signatures, idempotency, errors."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from connectors import PermanentConnectorError, RetryableConnectorError
from connectors.builtin.webhook import DEFAULT_TOLERANCE, WebhookConnector, sign, verify_signature
from tests.connectors.support import call_request, send_request
from tests.peers.http_receiver import HttpReceiver, Reply

pytestmark = pytest.mark.asyncio

SECRET = "whsec_test_123"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "connectors.md"
# The receiver is on loopback, which the outbound guard refuses unless allowed.
LOOPBACK = "127.0.0.1"


def webhook(secret: str | None = SECRET) -> WebhookConnector:
    environ = {"CXFLOW_OUTBOUND_ALLOW": LOOPBACK}
    if secret:
        environ["CXFLOW_WEBHOOK_SECRET"] = secret
    return WebhookConnector(environ=environ)


def parts(header: str | None) -> dict[str, str]:
    assert header is not None
    return dict(item.split("=", 1) for item in header.split(","))


def documented_verifier() -> Callable[..., bool]:
    """The receivers' snippet of docs/connectors.md, run as it is written there."""
    text = DOCS.read_text(encoding="utf-8")
    found = re.search(r"```python\n(# Verify a cxflow webhook.*?)```", text, re.S)
    assert found is not None, "docs/connectors.md lost the verification snippet"
    namespace: dict[str, Any] = {}
    exec(compile(found[1], str(DOCS), "exec"), namespace)
    return cast(Callable[..., bool], namespace["verify_cxflow_signature"])


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
    stamp = seen.header("X-Cxflow-Timestamp")
    assert stamp is not None and before <= int(stamp) <= int(time.time())
    # t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">: the timestamp is signed.
    signed = parts(seen.header("X-Cxflow-Signature"))
    assert signed["t"] == stamp
    expected = hmac.new(SECRET.encode(), f"{stamp}.".encode() + seen.body, hashlib.sha256)
    assert signed == {"t": stamp, "v1": expected.hexdigest()}
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
    # The body is the same on every try; each try is signed with its own timestamp.
    assert len({r.body for r in receiver.requests}) == 1
    for seen in receiver.requests:
        assert parts(seen.header("X-Cxflow-Signature"))["t"] == seen.header("X-Cxflow-Timestamp")
        assert verify_signature(SECRET, seen.body, seen.header("X-Cxflow-Signature"))


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
    header = seen.header("X-Cxflow-Signature")
    assert header == sign(SECRET, seen.body, int(parts(header)["t"]))


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


# --- signatures cover a timestamp: receivers refuse replays ---------------------------------


async def test_the_documented_snippet_verifies_a_real_delivery(receiver: HttpReceiver) -> None:
    connector = webhook()
    await connector.call(call_request("post", {"url": receiver.url(), "body": {"n": 1}}))
    await connector.aclose()
    seen = receiver.last()
    header = seen.header("X-Cxflow-Signature")
    assert header is not None
    verify = documented_verifier()
    assert verify(SECRET, seen.body, header)
    assert not verify("another secret", seen.body, header)
    assert not verify(SECRET, seen.body + b" ", header)  # the exact bytes are signed
    t = int(parts(header)["t"])
    # A captured request replayed later than the tolerance is refused, by both verifiers.
    later = t + DEFAULT_TOLERANCE + 1
    assert not verify(SECRET, seen.body, header, now=later)
    assert not verify_signature(SECRET, seen.body, header, now=later)
    assert verify(SECRET, seen.body, header, now=t + DEFAULT_TOLERANCE)
    assert verify_signature(SECRET, seen.body, header, now=t + DEFAULT_TOLERANCE)


async def test_the_timestamp_is_part_of_the_signature() -> None:
    body = b'{"customer":"c-1"}'
    t = int(time.time())
    header = sign(SECRET, body, t)
    v1 = parts(header)["v1"]
    verify = documented_verifier()
    # The old form (a signature of the body alone) and a fresh t on an old v1 both fail:
    # a replayer cannot move the timestamp forward without the secret.
    body_only = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    for forged in (f"t={t},v1={body_only}", f"t={t + 60},v1={v1}", f"sha256={body_only}"):
        assert not verify_signature(SECRET, body, forged), forged
        assert not verify(SECRET, body, forged), forged
    assert v1 != parts(sign(SECRET, body, t + 1))["v1"]
    for malformed in ("", "t=,v1=", f"v1={v1}", f"t={t}", f"t=abc,v1={v1}", f"t={t},v1=é"):
        assert not verify_signature(SECRET, body, malformed), malformed
        assert not verify(SECRET, body, malformed), malformed
    # A receiver rotating secrets can accept one of several v1 values.
    other = parts(sign("old secret", body, t))["v1"]
    assert verify_signature(SECRET, body, f"t={t},v1={other},v1={v1}")


async def test_the_documented_example_signature_is_right() -> None:
    text = DOCS.read_text(encoding="utf-8")
    found = re.search(r"X-Cxflow-Signature: (t=\d+,v1=[0-9a-f]{64})", text)
    assert found is not None
    assert found[1] == sign("whsec_example", b'{"id":1}', 1767225600)
    assert documented_verifier()("whsec_example", b'{"id":1}', found[1], now=1767225600)
