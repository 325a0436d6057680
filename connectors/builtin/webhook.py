"""The webhook connector: POST JSON to any URL, as a channel or as an action.

It is how a journey reaches a system cxflow has no connector for. Receivers can
trust what they get: with ``CXFLOW_WEBHOOK_SECRET`` set, each request is signed,
Stripe-style, over its timestamp and its exact body bytes::

    X-Cxflow-Signature: t=1767225600,v1=<hex HMAC-SHA256 of "1767225600.<body>">

so a captured request cannot be replayed once the receiver's tolerance (5 minutes,
:data:`DEFAULT_TOLERANCE`) has passed: :func:`verify_signature` checks both. The
``Idempotency-Key`` header is the same on every retry of a step (the signature is
not: each attempt has its own timestamp), so a receiver that remembers the key acts
once. (Before this format the header was ``sha256=<hex HMAC of the body>``: see
docs/connectors.md.)

The URLs come from journeys, often from event data, so every request goes through
the outbound guard (:mod:`connectors.outbound`): internal addresses are refused
unless ``CXFLOW_OUTBOUND_ALLOW`` lists them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from connectors.errors import PermanentConnectorError
from connectors.http import HttpConnector
from connectors.models import ActionSpec, CallRequest, SendRequest, SendResult, Setting

SIGNATURE_HEADER = "X-Cxflow-Signature"
TIMESTAMP_HEADER = "X-Cxflow-Timestamp"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE = 300
"""Seconds a receiver accepts a signature's timestamp away from its own clock."""
MAX_TEXT_OUTPUT = 10_000


class WebhookPostInputs(BaseModel):
    """The ``with:`` of ``call: webhook.post``."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="Where to POST: an http(s) URL.")
    body: JsonValue = Field(
        default=None,
        description="The JSON to send; without it, the journey, step and customer ids.",
    )


class WebhookConnector(HttpConnector):
    """Signed, idempotent JSON POSTs: the ``webhook`` channel and ``webhook.post``."""

    name = "webhook"
    description = "POSTs JSON to a URL, signed with HMAC-SHA256 when a secret is set."
    channels = ("webhook",)
    guard_outbound = True  # the URLs come from journeys and events
    actions: Mapping[str, ActionSpec] = {
        "post": ActionSpec(
            name="post",
            description="POST `body` as JSON to `url`; the JSON response is the result.",
            input_model=WebhookPostInputs,
        )
    }
    settings = (
        Setting(
            key="SECRET",
            description="The key receivers use to check X-Cxflow-Signature",
            secret=True,
        ),
    )

    async def send(self, request: SendRequest) -> SendResult:
        """POST the message to ``params.url``; the other params travel with it."""
        url = request.params.get("url")
        if not isinstance(url, str):
            raise PermanentConnectorError(
                f"webhook: the step '{request.step_id}' sends on the webhook channel without "
                "a URL: add `params: {url: https://...}`",
                connector=self.name,
            )
        payload = request.model_dump(mode="json")
        payload["params"] = {k: v for k, v in request.params.items() if k != "url"}
        response = await self.post(url, payload, request.idempotency_key)
        return SendResult(
            status="sent",
            provider_message_id=_provider_id(response),
            detail={"status_code": response.status_code},
        )

    async def run_action(
        self,
        action: ActionSpec,
        inputs: BaseModel | dict[str, JsonValue],
        request: CallRequest,
    ) -> dict[str, JsonValue]:
        assert isinstance(inputs, WebhookPostInputs)
        body = inputs.body
        if body is None:
            body = {
                "journey_id": request.journey_id,
                "step_id": request.step_id,
                "customer_id": request.customer_id,
            }
        return _output(await self.post(inputs.url, body, request.idempotency_key))

    async def post(self, url: str, payload: Any, idempotency_key: str) -> httpx.Response:
        """POST the JSON, signed and with its idempotency key; a 2xx response or an error."""
        _check_url(url)
        content = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp)}
        secret = self.setting("SECRET")
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, content, timestamp)
        return await self.http.request(
            "POST", url, idempotency_key=idempotency_key, headers=headers, content=content
        )


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256, under ``secret``, of ``"<timestamp>.<body>"``."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``X-Cxflow-Signature`` value: ``t=<unix seconds>,v1=<hex>`` (now, by default)."""
    when = int(time.time()) if timestamp is None else timestamp
    return f"t={when},{SIGNATURE_VERSION}={signature(secret, body, when)}"


def verify_signature(
    secret: str,
    body: bytes,
    header: str | None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """For receivers: is ``X-Cxflow-Signature`` valid for the raw body, and recent?

    True when one ``v1`` of the header matches (in constant time) and its ``t`` is
    within ``tolerance`` seconds of ``now``: an old request replayed is refused.
    """
    if not header:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif key == SIGNATURE_VERSION:
            candidates.append(value.strip())
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = signature(secret, body, timestamp).encode()
    # Compare every candidate, so the time taken does not say which one matched.
    matched = [hmac.compare_digest(expected, c.encode("utf-8", "replace")) for c in candidates]
    return any(matched)


def _check_url(url: str) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        shown = url if parsed is None or not parsed.userinfo else "(a URL with credentials)"
        raise PermanentConnectorError(
            f"webhook: {shown[:200]!r} is not an http(s) URL: write it in full, "
            "like https://hooks.example.com/cxflow",
            connector="webhook",
        )


def _provider_id(response: httpx.Response) -> str | None:
    request_id: str | None = response.headers.get("X-Request-Id")
    if request_id:
        return request_id
    data = _json_or_none(response)
    if isinstance(data, dict):
        value = data.get("id")
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    return None


def _output(response: httpx.Response) -> dict[str, JsonValue]:
    """The response JSON when it is an object; other JSON under ``data``; text under ``text``."""
    if not response.content.strip():
        return {}
    data = _json_or_none(response)
    if data is None:
        return {"text": response.text[:MAX_TEXT_OUTPUT]}
    if isinstance(data, dict):
        return data
    return {"data": data}


def _json_or_none(response: httpx.Response) -> JsonValue:
    try:
        data: JsonValue = response.json()
    except ValueError:
        return None
    return data
