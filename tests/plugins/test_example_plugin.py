"""The example plugin (examples/cxflow-ntfy), installed by `make install-test`: found through
its entry point, listed by `cxflow connectors list`, and sending from a journey on Temporal."""

from __future__ import annotations

import os
import subprocess
from importlib import metadata

import httpx
import pytest
from cxflow_ntfy import NtfyConnector

from connectors import (
    CallRequest,
    ConnectorRegistry,
    PermanentConnectorError,
    Recipient,
    RetryableConnectorError,
    SendRequest,
)
from connectors.registry import ENTRY_POINT_GROUP
from engine.api.app import create_app
from tests.api.conftest import serve
from tests.cli.conftest import CXFLOW
from tests.peers.http_receiver import HttpReceiver, Reply
from tests.plugins.conftest import NTFY_ID, NTFY_TIME
from tests.runtime.conftest import Engine, compiled_text
from workflows.journey import workflow_id_for

NOTIFY = """\
journey: vip-ping
name: Tell a VIP and the team
trigger: { event: vip.upgraded }
steps:
  - id: tell-customer
    send:
      channel: ntfy
      subject: "Welcome to VIP"
      body: "{{ customer.first_name }}, free express shipping is yours."
      params: { click: "https://shop.example.com/vip" }
  - id: tell-team
    call: ntfy.notify_team
    with:
      title: "New VIP"
      message: "{{ customer.first_name }} ({{ customer.id }}) is VIP now"
      priority: 4
      tags: [star]
    save_as: notice
"""


def test_the_plugin_is_installed_under_the_entry_point_group() -> None:
    [entry_point] = [
        ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == "ntfy"
    ]
    assert entry_point.value == "cxflow_ntfy"
    assert entry_point.dist is not None and entry_point.dist.name == "cxflow-ntfy"


def test_the_default_registry_finds_it() -> None:
    registry = ConnectorRegistry()
    assert "ntfy" in registry
    assert registry.plugin_of("ntfy") == "'ntfy' (from cxflow-ntfy 0.1.0)"
    assert registry.for_channel("ntfy").name == "ntfy"
    assert "ntfy.notify_team" in registry.actions()
    assert "ntfy" not in ConnectorRegistry(entry_points=False)


def test_cxflow_connectors_list_shows_it() -> None:
    env = {**os.environ, "COLUMNS": "250"}
    env.pop("CXFLOW_NTFY_TEAM_TOPIC", None)
    listed = subprocess.run(
        [str(CXFLOW), "connectors", "list"], capture_output=True, text=True, env=env, timeout=60
    )
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines() if line.startswith("│ ntfy ")]
    cells = [cell.strip() for cell in row.strip("│").split("│")]
    assert cells == ["ntfy", "ntfy", "ntfy.notify_team", "yes"]


def send_request(key: str = "journey:j:ada/r/tell/1", **traits: object) -> SendRequest:
    return SendRequest(
        idempotency_key=key,
        channel="ntfy",
        journey_id="j",
        step_id="tell",
        recipient=Recipient(customer_id="ada", traits=traits),
        subject="Hello",
        body="Your order shipped",
    )


@pytest.mark.asyncio(loop_scope="session")
async def test_the_connector_speaks_ntfy(
    ntfy: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXFLOW_NTFY_SERVER", ntfy.url(""))
    monkeypatch.setenv("CXFLOW_NTFY_TOKEN", "tk_secret")
    connector = ConnectorRegistry().get("ntfy")
    result = await connector.send(send_request(ntfy_topic="ada-orders"))
    assert (result.status, result.provider_message_id) == ("sent", NTFY_ID)
    published = ntfy.last()
    assert (published.method, published.path) == ("POST", "/")
    assert published.json() == {
        "topic": "ada-orders",
        "message": "Your order shipped",
        "title": "Hello",
    }
    assert published.header("Authorization") == "Bearer tk_secret"
    assert published.header("Idempotency-Key") == "journey:j:ada/r/tell/1"

    skipped = await connector.send(send_request())
    assert (skipped.status, skipped.detail) == ("skipped", {"reason": "no ntfy_topic trait"})

    call = CallRequest(
        idempotency_key="k2", action="notify_team", journey_id="j", step_id="s", customer_id="ada"
    )
    with pytest.raises(PermanentConnectorError, match="set CXFLOW_NTFY_TEAM_TOPIC"):
        await connector.call(call.model_copy(update={"inputs": {"message": "hi"}}))
    with pytest.raises(PermanentConnectorError, match=r"priority"):
        await connector.call(call.model_copy(update={"inputs": {"message": "x", "priority": 9}}))
    ntfy.fail_next(429, headers={"Retry-After": "2"})
    with pytest.raises(RetryableConnectorError) as error:
        await connector.send(send_request("k3", ntfy_topic="t"))
    assert error.value.retry_after == 2.0
    ntfy.respond(Reply(status=200, body=b"<html>a proxy page</html>"))
    with pytest.raises(PermanentConnectorError, match="did not answer like an ntfy server"):
        await connector.send(send_request("k4", ntfy_topic="t"))
    await connector.aclose()


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.slow
async def test_a_journey_sends_through_the_plugin_on_temporal(
    installed_engine: Engine, ntfy: HttpReceiver
) -> None:
    engine = installed_engine
    engine.deploy(compiled_text(NOTIFY))
    engine.store.upsert_customer("ada", {"first_name": "Ada", "ntfy_topic": "ada-x7"})
    started = await engine.send("ada", "vip.upgraded")
    assert started.started == [workflow_id_for("vip-ping", "ada")]
    outcome = await engine.outcome(workflow_id_for("vip-ping", "ada"))
    assert outcome.status == "completed"
    customer, team = (request.json() for request in ntfy.requests)
    assert customer == {
        "topic": "ada-x7",
        "message": "Ada, free express shipping is yours.",
        "title": "Welcome to VIP",
        "click": "https://shop.example.com/vip",
    }
    assert team == {
        "topic": "cx-team",
        "message": "Ada (ada) is VIP now",
        "title": "New VIP",
        "priority": 4,
        "tags": ["star"],
    }
    logged = {m.step_id: m for m in engine.store.messages_for("ada")}
    assert logged["tell-customer"].status == "sent"
    assert logged["tell-customer"].detail["provider_message_id"] == NTFY_ID
    assert logged["tell-team"].detail["output"] == {"id": NTFY_ID, "time": NTFY_TIME}


@pytest.mark.asyncio(loop_scope="session")
async def test_an_action_button_tap_comes_back_through_the_api_as_an_event(
    installed_engine: Engine, ntfy: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plugin's own route (``cxflow_routes``), mounted in the real event API."""
    engine = installed_engine
    monkeypatch.setenv("CXFLOW_NTFY_SECRET", "ntfy-test-secret")
    routes = engine.runtime.connectors.routers(engine.intake)
    async with serve(create_app(engine.intake, connector_routes=routes)) as url:
        monkeypatch.setenv("CXFLOW_NTFY_PUBLIC_URL", url)
        connector = NtfyConnector()
        request = send_request(ntfy_topic="ada-orders").model_copy(
            update={
                "params": {
                    "actions": [
                        {"label": "Yes please", "action": "confirm"},
                        {"label": "No", "action": "decline"},
                    ]
                }
            }
        )
        assert (await connector.send(request)).status == "sent"
        await connector.aclose()
        yes, no = ntfy.last().json()["actions"]
        assert {key: yes[key] for key in ("action", "label", "method", "clear")} == {
            "action": "http",
            "label": "Yes please",
            "method": "POST",
            "clear": True,
        }
        assert yes["url"].startswith(f"{url}/v1/ntfy/actions/") and no["url"] != yes["url"]

        async with httpx.AsyncClient() as client:
            first = await client.post(yes["url"])
            again = await client.post(yes["url"])  # a second tap
            cut = await client.post(yes["url"][:-4])
            document = (await client.get(f"{url}/openapi.json")).json()
            monkeypatch.delenv("CXFLOW_NTFY_SECRET")
            unset = await client.post(no["url"])

    assert first.json() == {"status": "recorded", "action": "confirm"}
    assert again.json() == {"status": "already_recorded", "action": "confirm"}
    assert (cut.status_code, cut.json()["code"]) == (404, "link_invalid")
    assert (unset.status_code, unset.json()["code"]) == (503, "ntfy_not_configured")
    [event] = engine.store.events_for("ada", "ntfy.action_clicked")
    assert event.properties == {"action": "confirm", "journey_id": "j"}
    assert "/v1/ntfy/actions/{token}" in document["paths"]
