"""The connector contract: settings from the environment, checked action inputs and outputs."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, JsonValue, ValidationError

from connectors import (
    CallResult,
    Connector,
    ConnectorPluginError,
    PermanentConnectorError,
    SendRequest,
)
from connectors.builtin.webhook import WebhookConnector
from connectors.http import HttpConnector
from tests.connectors.support import Discount, StoreConnector, call_request, send_request

pytestmark = pytest.mark.asyncio

CONFIGURED = {"CXFLOW_STORE_API_KEY": "sk_live_abc", "CXFLOW_STORE_STORE": "st-1"}


# --- settings -------------------------------------------------------------------------------


async def test_missing_settings_lists_the_variables_to_set() -> None:
    store = StoreConnector(environ={})
    assert store.settings_prefix == "CXFLOW_STORE_"
    assert store.missing_settings() == ["CXFLOW_STORE_API_KEY", "CXFLOW_STORE_STORE"]
    info = store.info()
    assert not info.configured
    assert info.missing_settings == ["CXFLOW_STORE_API_KEY", "CXFLOW_STORE_STORE"]
    assert info.actions == ["store.create_discount", "store.ping"]


async def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    store = StoreConnector()
    monkeypatch.setenv("CXFLOW_STORE_STORE", "st-9")
    monkeypatch.setenv("CXFLOW_STORE_API_KEY", "")  # empty counts as not set
    assert store.setting("STORE") == "st-9"
    assert store.setting("REGION") == "eu"  # the declared default
    assert store.missing_settings() == ["CXFLOW_STORE_API_KEY"]
    monkeypatch.setenv("CXFLOW_STORE_API_KEY", "sk_live_abc")
    assert store.missing_settings() == [] and store.info().configured


async def test_a_dash_in_the_name_becomes_an_underscore() -> None:
    class MyStore(StoreConnector):
        name = "my-store"

    assert MyStore(environ={"CXFLOW_MY_STORE_STORE": "x"}).setting("STORE") == "x"


async def test_a_missing_required_setting_names_the_variable() -> None:
    with pytest.raises(PermanentConnectorError) as raised:
        StoreConnector(environ={}).require_setting("API_KEY")
    assert str(raised.value) == "store: set CXFLOW_STORE_API_KEY (The store API key)"
    assert not raised.value.retryable


async def test_secrets_are_never_shown() -> None:
    store = StoreConnector(environ=CONFIGURED)
    assert store.config.redacted() == {
        "CXFLOW_STORE_API_KEY": "<set>",
        "CXFLOW_STORE_STORE": "st-1",
        "CXFLOW_STORE_REGION": "eu",
    }
    for shown in (repr(store), repr(store.config), str(store.info().model_dump())):
        assert "sk_live_abc" not in shown
    assert store.require_setting("API_KEY") == "sk_live_abc"  # only the connector reads it


async def test_reading_an_undeclared_setting_is_a_bug_in_the_connector() -> None:
    with pytest.raises(ConnectorPluginError, match="does not declare it in `settings`"):
        StoreConnector(environ=CONFIGURED).setting("API_TOKEN")


async def test_settings_of_base_classes_are_merged() -> None:
    assert [s.key for s in WebhookConnector.declared_settings()] == ["RATE_LIMIT", "SECRET"]
    assert [s.key for s in HttpConnector.declared_settings()] == ["RATE_LIMIT"]
    assert Connector.declared_settings() == ()


# --- send -----------------------------------------------------------------------------------


async def test_a_connector_without_channels_cannot_send() -> None:
    class ActionsOnly(Connector):
        name = "crm"
        description = "Actions only."

    with pytest.raises(PermanentConnectorError) as raised:
        await ActionsOnly().send(send_request())
    assert str(raised.value) == "connector crm has no channels: it cannot send on 'email'"


async def test_a_connector_with_channels_must_implement_send() -> None:
    class Forgetful(Connector):
        name = "forgetful"
        description = "Declares a channel only."
        channels = ("fax",)

    with pytest.raises(PermanentConnectorError, match="does not implement send"):
        await Forgetful().send(send_request(channel="fax"))


async def test_requests_reject_unknown_fields_and_empty_keys() -> None:
    with pytest.raises(ValidationError):
        send_request(priority="high")
    with pytest.raises(ValidationError):
        send_request(key="")
    request = send_request()
    assert SendRequest.model_validate_json(request.model_dump_json()) == request


# --- call -----------------------------------------------------------------------------------


async def test_call_validates_inputs_and_output() -> None:
    store = StoreConnector()
    result = await store.call(
        call_request("create_discount", {"percent": 10, "customer_id": "c-1"})
    )
    assert result == CallResult(output={"code": "SAVE10-c-1", "percent": 10})


async def test_call_without_models_passes_json_through() -> None:
    result = await StoreConnector().call(call_request("ping", {"a": [1, {"b": None}]}))
    assert result.output == {"echo": {"a": [1, {"b": None}]}}


async def test_invalid_inputs_are_a_permanent_error_that_says_which() -> None:
    with pytest.raises(PermanentConnectorError) as raised:
        await StoreConnector().call(call_request("create_discount", {"percent": "ten"}))
    assert str(raised.value) == (
        "store.create_discount: the inputs (`with:`) are not valid: percent: Input should be a "
        "valid integer, unable to parse string as an integer; customer_id: Field required"
    )
    assert "'ten'" not in str(raised.value)  # values may be personal data: never echoed


async def test_an_unknown_action_is_a_permanent_error() -> None:
    with pytest.raises(PermanentConnectorError) as raised:
        await StoreConnector().call(call_request("create_coupon", {}))
    assert str(raised.value) == (
        "connector store has no action 'create_coupon' "
        "(its actions: store.create_discount, store.ping)"
    )


class Loose(BaseModel):
    code: str
    percent: int
    extra: str = "x"


@pytest.mark.parametrize(
    ("answer", "output"),
    [
        ({"code": "A", "percent": 5}, {"code": "A", "percent": 5}),
        (Discount(code="B", percent=6), {"code": "B", "percent": 6}),
        (Loose(code="C", percent=7), {"code": "C", "percent": 7}),  # dropped to the model
    ],
)
async def test_outputs_are_shaped_by_the_output_model(answer: object, output: object) -> None:
    result = await StoreConnector(answer=answer).call(
        call_request("create_discount", {"percent": 1, "customer_id": "c"})
    )
    assert result.output == output


@pytest.mark.parametrize(
    ("action", "answer", "message"),
    [
        (
            "create_discount",
            {"code": "A"},
            "store.create_discount: the output is not what the action promises: "
            "percent: Field required",
        ),
        ("ping", {"when": object()}, "store.ping: the output is not what the action promises"),
        ("ping", ["not", "an", "object"], "store.ping: the output is not what the action promises"),
    ],
)
async def test_a_wrong_output_is_a_permanent_error(
    action: str, answer: object, message: str
) -> None:
    inputs: dict[str, JsonValue] = {}
    if action == "create_discount":
        inputs = {"percent": 1, "customer_id": "c"}
    with pytest.raises(PermanentConnectorError) as raised:
        await StoreConnector(answer=answer).call(call_request(action, inputs))
    assert str(raised.value).startswith(message)


async def test_an_action_without_run_action_is_reported() -> None:
    class Lazy(Connector):
        name = "lazy"
        description = "Declares but does not implement."
        actions = StoreConnector.actions

    with pytest.raises(PermanentConnectorError, match="does not implement run_action"):
        await Lazy().call(call_request("ping", {}))
