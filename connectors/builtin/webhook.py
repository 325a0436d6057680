"""The webhook connector: POST JSON to any URL, as a channel or as an action.

It is how a journey reaches a system cxflow has no connector for. Receivers can
trust what they get: with ``CXFLOW_WEBHOOK_SECRET`` set, the exact body bytes are
signed (``X-Cxflow-Signature: sha256=<hex HMAC-SHA256>``), and the
``Idempotency-Key`` header is the same on every retry of a step, so a receiver
that remembers it acts once.
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
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(int(time.time())),
        }
        secret = self.setting("SECRET")
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, content)
        return await self.http.request(
            "POST", url, idempotency_key=idempotency_key, headers=headers, content=content
        )


def sign(secret: str, body: bytes) -> str:
    """The ``X-Cxflow-Signature`` value of a body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """For receivers: does ``X-Cxflow-Signature`` match the raw body (in constant time)?"""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


def _check_url(url: str) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise PermanentConnectorError(
            f"webhook: {url!r} is not an http(s) URL: write it in full, "
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
