"""Connectors that stand in for the installed ones in a rehearsal: nothing leaves.

Each installed connector with actions gets a double of the same name and the same
action specs, so a call's inputs are checked by the real input model and the test's
answer by the real output model; the answer is the case's, else the file's. One
double, ``rehearsal``, provides every installed channel and keeps what it is asked to
send (rendered subject, body, address) for the verdicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, JsonValue, ValidationError

from connectors.base import Connector
from connectors.builtin.console import SKIP_WITHOUT_ADDRESS
from connectors.errors import PermanentConnectorError, RetryableConnectorError
from connectors.hookspecs import hookimpl
from connectors.models import ActionSpec, CallRequest, CallResult, SendRequest, SendResult
from connectors.registry import ConnectorRegistry
from dsl.case_models import Failure
from engine.privacy.suppression import channel_address
from engine.rehearsal.journal import Journal

CHANNELS = "rehearsal"
UNANSWERED = "unanswered"

# Answers per customer (each case has its own), then per action (`shop.create_discount`).
AnswerBook = Mapping[str, Mapping[str, dict[str, JsonValue] | Failure]]


class ChannelDouble(Connector):
    """Every channel: keeps the rendered message, sends nothing."""

    name = CHANNELS
    description = "Keeps what a rehearsal sends (cxflow test): nothing is delivered."

    def __init__(self, channels: tuple[str, ...], journal: Journal) -> None:
        super().__init__(environ={})
        self.channels = channels
        self.journal = journal

    async def send(self, request: SendRequest) -> SendResult:
        """Keep the message; without an address on its channel, skip it as a provider
        (and the console connector) would."""
        recipient = request.recipient
        needed = SKIP_WITHOUT_ADDRESS.get(request.channel)
        if needed is not None and not (getattr(recipient, needed[0]) or "").strip():
            return SendResult(status="skipped", detail={"reason": needed[1]})
        self.journal.requests[request.idempotency_key] = {
            "subject": request.subject,
            "body": request.body,
            "html": request.html,
            "to": channel_address(request.channel, recipient.traits)
            or recipient.email
            or recipient.phone
            or recipient.handle,
        }
        return SendResult(
            status="sent", provider_message_id=f"rehearsal-{request.message_ref[:12]}"
        )


class ActionDouble(Connector):
    """An installed connector's actions, answered from the test's fixtures."""

    def __init__(
        self,
        original: Connector,
        answers: AnswerBook,
        journal: Journal,
        placeholders: bool = False,
    ) -> None:
        super().__init__(environ={})
        self.name = original.name
        self.description = f"{original.description} (answered by the test)"
        self.actions = dict(original.actions)
        self.answers = answers
        self.journal = journal
        self.placeholders = placeholders

    async def call(self, request: CallRequest) -> CallResult:
        self.journal.requests[request.idempotency_key] = {"inputs": dict(request.inputs)}
        return await super().call(request)

    async def run_action(
        self,
        action: ActionSpec,
        inputs: BaseModel | dict[str, JsonValue],
        request: CallRequest,
    ) -> BaseModel | Mapping[str, Any]:
        ref = f"{self.name}.{action.name}"
        answer = self.answers.get(request.customer_id, {}).get(ref)
        if answer is None and self.placeholders:
            answer = placeholder(action)
        if answer is None:
            self.journal.requests[request.idempotency_key][UNANSWERED] = True
            raise PermanentConnectorError(
                f"the test gives no answer for {ref}: add one under `answers:`",
                connector=self.name,
            )
        if isinstance(answer, Failure):
            kind = RetryableConnectorError if answer.retryable else PermanentConnectorError
            raise kind(answer.error, connector=self.name)
        return answer


def placeholder(action: ActionSpec) -> dict[str, JsonValue] | None:
    """An answer of the action's output shape (a backtest's dry run): each field its default,
    else `dry-run`, 0, false or empty; None when the model accepts no such answer."""
    model = action.output_model
    if model is None:
        return {}
    values = _shaped(model)
    try:
        model.model_validate(values)
    except ValidationError:
        return None
    return values


def _shaped(model: type[BaseModel]) -> dict[str, JsonValue]:
    """Each required field of ``model`` with a value of its type (nested models too)."""
    return {
        name: _value_of(field.annotation)
        for name, field in model.model_fields.items()
        if field.is_required()
    }


def _value_of(kind: Any) -> JsonValue:
    origin, args = get_origin(kind), get_args(kind)
    if origin is Literal:
        first: JsonValue = args[0]
        return first
    if origin in (Union, UnionType):
        return None if type(None) in args else _value_of(args[0])
    if origin is Annotated:
        return _value_of(args[0])
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return _shaped(kind)
    if kind is bool:
        return False
    if kind in (int, float):
        return 0
    if kind is datetime:
        return "2000-01-01T00:00:00Z"
    if origin is list or kind is list:
        return []
    if origin is dict or kind is dict:
        return {}
    return "dry-run"


def rehearsal_registry(
    installed: ConnectorRegistry,
    answers: AnswerBook,
    journal: Journal,
    *,
    placeholders: bool = False,
) -> ConnectorRegistry:
    """Doubles of every installed connector: the channels in one, each action set in its own.

    ``placeholders``: an action without an answer gets one of its output's shape.
    """
    doubles: list[Connector] = [ChannelDouble(tuple(sorted(installed.channels())), journal)]
    doubles += [ActionDouble(c, answers, journal, placeholders) for c in installed if c.actions]

    class Doubles:
        @hookimpl
        def cxflow_connectors(self) -> list[Connector]:
            return doubles

    return ConnectorRegistry(builtins=False, entry_points=False, plugins=[Doubles()])
