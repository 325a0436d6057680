"""Helpers for connector tests: request builders and a small "store" connector and plugin."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, JsonValue

from connectors import (
    ActionSpec,
    CallRequest,
    Connector,
    Recipient,
    SendRequest,
    SendResult,
    Setting,
    hookimpl,
)


def send_request(key: str = "run-1/hello", **changes: Any) -> SendRequest:
    fields: dict[str, Any] = {
        "idempotency_key": key,
        "channel": "email",
        "journey_id": "welcome",
        "step_id": "hello",
        "recipient": Recipient(customer_id="c-1", email="jane@example.com", phone="+15550100"),
        "subject": "Welcome, Jane",
        "body": "Hi Jane,\nthanks for signing up.",
    }
    return SendRequest(**{**fields, **changes})


def call_request(action: str, inputs: Mapping[str, JsonValue], key: str = "run-1/c") -> CallRequest:
    return CallRequest(
        idempotency_key=key,
        action=action,
        journey_id="welcome",
        step_id="c",
        customer_id="c-1",
        inputs=dict(inputs),
    )


# --- a connector for tests: a "store" with one typed action ----------------------------------


class DiscountInputs(BaseModel):
    percent: int
    customer_id: str


class Discount(BaseModel):
    code: str
    percent: int


class StoreConnector(Connector):
    """Answers from memory; ``answer`` lets a test make it return a wrong output."""

    name = "store"
    description = "A test store."
    channels = ("store-inbox",)
    actions: Mapping[str, ActionSpec] = {
        "create_discount": ActionSpec(
            name="create_discount",
            description="A discount code.",
            input_model=DiscountInputs,
            output_model=Discount,
        ),
        "ping": ActionSpec(name="ping", description="Echo the inputs."),
    }
    settings = (
        Setting(key="API_KEY", description="The store API key", required=True, secret=True),
        Setting(key="STORE", description="The store id", required=True),
        Setting(key="REGION", description="The region", default="eu"),
    )

    def __init__(self, answer: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.answer = answer
        self.sent: list[SendRequest] = []

    async def send(self, request: SendRequest) -> SendResult:
        self.sent.append(request)
        return SendResult(status="sent", provider_message_id=f"store-{len(self.sent)}")

    async def run_action(
        self,
        action: ActionSpec,
        inputs: BaseModel | dict[str, JsonValue],
        request: CallRequest,
    ) -> BaseModel | Mapping[str, Any]:
        if self.answer is not None:
            answer: BaseModel | Mapping[str, Any] = self.answer
            return answer
        if isinstance(inputs, DiscountInputs):
            return Discount(
                code=f"SAVE{inputs.percent}-{inputs.customer_id}", percent=inputs.percent
            )
        assert isinstance(inputs, dict)
        return {"echo": inputs}


class StorePlugin:
    """A plugin as an object with a hook method, as apps and tests register them."""

    @hookimpl
    def cxflow_connectors(self) -> list[Connector]:
        return [StoreConnector()]
