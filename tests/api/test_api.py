"""The event API against a real server: auth, validation, idempotency, durability."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from engine.api.app import create_app
from engine.ingest.intake import Intake
from engine.ingest.router import EventRouter
from tests.api.conftest import ApiServer, serve
from tests.runtime.conftest import Engine, compiled_text
from workflows.journey import workflow_id_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

HELLO = """\
journey: hello
name: Hello
trigger: { event: signed.up }
steps:
  - id: hi
    send: { channel: email, body: "Hi {{ customer.first_name }}" }
"""


async def post(api: ApiServer, path: str, body: Any, **kwargs: Any) -> httpx.Response:
    kwargs.setdefault("headers", api.headers)
    async with httpx.AsyncClient(base_url=api.url) as client:
        return await client.post(path, json=body, **kwargs)


def track(customer: str = "ada", event: str = "signed.up", **fields: Any) -> dict[str, Any]:
    return {"userId": customer, "event": event, "messageId": str(uuid.uuid4()), **fields}


# --- the happy paths ------------------------------------------------------------------------


async def test_track_starts_a_journey_run(api: ApiServer) -> None:
    ada = f"ada-{uuid.uuid4()}"  # workflow ids outlive the test on the shared server
    api.engine.deploy(compiled_text(HELLO))
    identify = {"userId": ada, "traits": {"email": "ada@example.com"}}
    assert (await post(api, "/v1/identify", identify)).status_code == 200
    response = await post(api, "/v1/track", track(ada, properties={"plan": "pro"}))
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
    outcome = await api.engine.outcome(workflow_id_for("hello", ada))
    assert outcome.status == "completed"
    event, identified = api.engine.store.events_for(ada)  # newest first
    assert (event.name, event.properties) == ("signed.up", {"plan": "pro"})
    assert (identified.name, identified.properties) == ("identify", {"email": "ada@example.com"})
    assert api.engine.store.unrouted_events() == []
    assert [m["recipient"]["customer_id"] for m in api.engine.outbox_messages()] == [ada]


async def test_segment_basic_auth_and_anonymous_ids_are_accepted(api: ApiServer) -> None:
    body = {"anonymousId": "visitor-1", "event": "page.viewed", "type": "track"}
    response = await post(api, "/v1/track", body, headers={}, auth=(api.key, ""))
    assert response.status_code == 200, response.text
    [event] = api.engine.store.events_for("visitor-1")
    assert event.name == "page.viewed"


async def test_the_event_time_is_kept_in_utc(api: ApiServer) -> None:
    body = track(timestamp="2024-05-01T14:00:00+02:00")
    assert (await post(api, "/v1/track", body)).status_code == 200
    [event] = api.engine.store.events_for("ada")
    assert event.timestamp.isoformat() == "2024-05-01T12:00:00+00:00"


async def test_identify_merges_traits_and_sets_the_timezone(api: ApiServer) -> None:
    store = api.engine.store
    first = {"userId": "ada", "traits": {"plan": "pro", "timezone": "Europe/Paris"}}
    assert (await post(api, "/v1/identify", first)).status_code == 200
    second = {"userId": "ada", "traits": {"plan": "team", "timezone": "Mars/Olympus"}}
    assert (await post(api, "/v1/identify", second)).status_code == 200
    customer = store.get_customer("ada")
    assert customer is not None
    # An unknown zone is kept as a trait but does not replace the valid one.
    assert customer.traits == {"plan": "team", "timezone": "Mars/Olympus"}
    assert customer.timezone == "Europe/Paris"
    assert [e.name for e in store.events_for("ada")] == ["identify", "identify"]
    third = {"userId": "bob", "traits": {}, "context": {"timezone": "Asia/Tokyo"}}
    assert (await post(api, "/v1/identify", third)).status_code == 200
    bob = store.get_customer("bob")
    assert bob is not None and bob.timezone == "Asia/Tokyo"


async def test_a_batch_stores_every_call_and_routes_it(api: ApiServer) -> None:
    ada = f"ada-{uuid.uuid4()}"  # workflow ids outlive the test on the shared server
    api.engine.deploy(compiled_text(HELLO))
    body = {
        "batch": [
            {
                "type": "identify",
                "userId": ada,
                "traits": {"first_name": "Ada", "email": "ada@example.com"},
            },
            {"type": "track", **track(ada)},
            {"type": "track", **track("bob", "cart.updated")},
        ]
    }
    response = await post(api, "/v1/batch", body)
    assert response.status_code == 200, response.text
    outcome = await api.engine.outcome(workflow_id_for("hello", ada))
    assert outcome.status == "completed", outcome
    [message] = api.engine.outbox_messages()
    assert message["body"] == "Hi Ada"  # the identify was stored before the track started the run
    assert [e.name for e in api.engine.store.events_for("bob")] == ["cart.updated"]


# --- idempotency ----------------------------------------------------------------------------


async def test_a_duplicate_message_id_is_accepted_and_changes_nothing(api: ApiServer) -> None:
    ada = f"ada-{uuid.uuid4()}"  # workflow ids outlive the test on the shared server
    api.engine.deploy(compiled_text(HELLO))
    body = track(ada)
    for _ in range(3):
        response = await post(api, "/v1/track", body)
        assert response.status_code == 200
        assert response.json() == {"success": True}
    identify = {"userId": ada, "traits": {"plan": "pro"}, "messageId": "id-1"}
    assert (await post(api, "/v1/identify", identify)).status_code == 200
    assert (
        await post(api, "/v1/identify", {**identify, "traits": {"plan": "x"}})
    ).status_code == 200
    customer = api.engine.store.get_customer(ada)
    assert customer is not None and customer.traits == {"plan": "pro"}
    await api.engine.outcome(workflow_id_for("hello", ada))
    assert len(api.engine.store.events_for(ada, name="signed.up")) == 1
    assert len(api.engine.store.get_runs(journey_id="hello")) == 1


@pytest.fixture(params=["sqlite", "postgresql"])
def any_api(request: pytest.FixtureRequest) -> ApiServer:
    """The API on a SQLite store, then on a PostgreSQL one."""
    server: ApiServer = request.getfixturevalue(
        "api" if request.param == "sqlite" else "postgres_api"
    )
    return server


async def test_one_message_id_sent_from_8_threads_at_once_is_stored_once(
    any_api: ApiServer,
) -> None:
    api = any_api
    ada = f"ada-{uuid.uuid4()}"  # workflow ids outlive the test on the shared server
    api.engine.deploy(compiled_text(HELLO))
    identify = {"userId": ada, "traits": {"email": "ada@example.com"}}
    assert (await post(api, "/v1/identify", identify)).status_code == 200
    body = track(ada)
    barrier = threading.Barrier(8)

    def send() -> int:
        with httpx.Client(base_url=api.url, headers=api.headers) as client:
            barrier.wait()
            return client.post("/v1/track", json=body).status_code

    def send_all() -> list[int]:
        results: list[int] = []
        threads = [threading.Thread(target=lambda: results.append(send())) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    assert await asyncio.to_thread(send_all) == [200] * 8
    await api.engine.outcome(workflow_id_for("hello", ada))
    # The track once, after the identify that gave ada an address.
    assert [e.name for e in api.engine.store.events_for(ada)] == ["signed.up", "identify"]
    assert len(api.engine.store.get_runs(journey_id="hello")) == 1
    assert len(api.engine.outbox_messages()) == 1


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer cxk_not-a-real-key-not-a-real-key-x"},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic " + "dW5rbm93bjo="},  # "unknown:"
        {"Authorization": "Token abc"},
    ],
)
async def test_requests_without_a_valid_write_key_get_401(
    api: ApiServer, headers: dict[str, str]
) -> None:
    response = await post(api, "/v1/track", track(), headers=headers)
    assert response.status_code == 401, response.text
    assert "write key" in response.json()["error"]
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert api.engine.store.events_for("ada") == []


@pytest.mark.parametrize(
    ("path", "body", "field", "says"),
    [
        ("/v1/track", {"event": "signed.up"}, "userId", "anonymousId"),
        ("/v1/track", {"userId": "ada"}, "event", "required"),
        ("/v1/track", track(timestamp="2024-05-01T12:00:00"), "timestamp", "UTC offset"),
        ("/v1/track", track(timestamp="yesterday"), "timestamp", "ISO 8601"),
        ("/v1/track", track(timestamp=1714564800), "timestamp", "ISO 8601"),
        ("/v1/track", track(timestamp="0001-01-01T00:00:00+01:00"), "timestamp", "range"),
        ("/v1/track", track(event="e" * 201), "event", "200"),
        ("/v1/track", track(event=" padded"), "event", "spaces"),
        ("/v1/track", track(customer="c" * 201), "userId", "200"),
        ("/v1/track", track(customer="é" * 150), "userId", "bytes"),
        ("/v1/track", track(messageId="m" * 256), "messageId", "255"),
        ("/v1/track", track(properties=[1, 2]), "properties", "JSON object"),
        ("/v1/track", track(properties={"a": "nul\x00"}), "properties", "NUL"),
        ("/v1/identify", {"userId": "ada", "traits": "pro"}, "traits", "JSON object"),
        ("/v1/batch", {"batch": []}, "batch", "at least 1"),
        ("/v1/batch", {"batch": [{"type": "track", **track()}] * 101}, "batch", "at most 100"),
        ("/v1/batch", {"batch": [{**track()}]}, "batch[0]", "type"),
        ("/v1/batch", {"batch": [{"type": "visit", "userId": "ada"}]}, "batch[0]", "alias"),
    ],
)
async def test_bad_calls_get_400_with_the_field_and_what_to_send(
    api: ApiServer, path: str, body: Any, field: str, says: str
) -> None:
    response = await post(api, path, body)
    assert response.status_code == 400, response.text
    payload = response.json()
    assert "nothing was stored" in payload["error"]
    problems = {f["path"]: f["message"] for f in payload["fields"]}
    assert field in problems, problems
    assert says in problems[field]
    assert api.engine.store.events_for("ada") == []


async def test_a_batch_with_one_bad_call_stores_nothing(api: ApiServer) -> None:
    api.engine.deploy(compiled_text(HELLO))
    good = [{"type": "track", **track()} for _ in range(3)]
    bad = {"type": "track", **track(event="e" * 201)}
    response = await post(api, "/v1/batch", {"batch": [*good[:2], bad, good[2]]})
    assert response.status_code == 400
    assert [f["path"] for f in response.json()["fields"]] == ["batch[2].event"]
    assert api.engine.store.events_for("ada") == []
    assert api.engine.store.get_runs() == []


async def test_bodies_that_are_not_json_objects_get_400(api: ApiServer) -> None:
    async with httpx.AsyncClient(base_url=api.url, headers=api.headers) as client:
        broken = await client.post(
            "/v1/track", content=b'{"userId": ', headers={"Content-Type": "application/json"}
        )
        text = await client.post("/v1/track", content=b"hello")
    assert broken.status_code == 400
    assert "not valid JSON" in broken.json()["fields"][0]["message"]
    assert text.status_code == 400
    assert "application/json" in text.json()["fields"][0]["message"]


async def test_oversized_requests_get_413(api: ApiServer) -> None:
    big = "x" * 33_000
    response = await post(api, "/v1/track", track(properties={"note": big}))
    assert response.status_code == 413
    assert "32 KB" in response.json()["error"]
    calls = [{"type": "track", **track(properties={"note": "x" * 30_000})} for _ in range(20)]
    response = await post(api, "/v1/batch", {"batch": calls})
    assert response.status_code == 413
    assert "500 KB" in response.json()["error"]
    one_big = [{"type": "track", **track()}, {"type": "track", **track(properties={"n": big})}]
    response = await post(api, "/v1/batch", {"batch": one_big})
    assert response.status_code == 413
    assert "call 1" in response.json()["error"]

    async def chunks() -> Any:  # no Content-Length: the size is counted as the body streams
        for _ in range(40):
            yield b" " * 1000

    async with httpx.AsyncClient(base_url=api.url, headers=api.headers) as client:
        response = await client.post("/v1/track", content=chunks())
    assert response.status_code == 413
    assert api.engine.store.events_for("ada") == []


async def test_unknown_paths_and_methods_answer_json(api: ApiServer) -> None:
    async with httpx.AsyncClient(base_url=api.url) as client:
        missing = await client.get("/v1/nothing")
        wrong = await client.get("/v1/track")
        health = await client.get("/healthz")
    assert missing.status_code == 404 and "error" in missing.json()
    assert wrong.status_code == 405 and "error" in wrong.json()
    assert health.json() == {"status": "ok"}


# --- failures -------------------------------------------------------------------------------


async def test_calls_accepted_while_temporal_is_down_are_routed_later(engine: Engine) -> None:
    patient = f"patient-{uuid.uuid4()}"
    engine.deploy(compiled_text(HELLO))
    unreachable = await Client.connect(
        "127.0.0.1:1", lazy=True, data_converter=pydantic_data_converter
    )
    router = EventRouter(unreachable, engine.store, engine.task_queue)
    key = engine.store.create_write_key("test")
    app = create_app(Intake(engine.store, router, dispatch_timeout=0.5), reroute_interval=0.1)
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.post(
            "/v1/track", json=track(patient), headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == 200, response.text
        assert [e.customer_id for e in engine.store.unrouted_events()] == [patient]
        router.client = engine.client  # Temporal is back
        for _ in range(200):
            if not engine.store.unrouted_events():
                break
            await asyncio.sleep(0.05)
        assert engine.store.unrouted_events() == []
    outcome = await engine.outcome(workflow_id_for("hello", patient))
    assert outcome.status == "completed"


async def test_internal_errors_answer_500_without_details(
    engine: Engine, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> list[bool]:
        raise RuntimeError("database password is hunter2")

    key = engine.store.create_write_key("test")
    monkeypatch.setattr(engine.store.events, "record_calls", broken)  # the store fails mid-request
    async with (
        serve(create_app(engine.intake)) as url,
        httpx.AsyncClient() as client,
    ):
        response = await client.post(
            f"{url}/v1/track", json=track(), headers={"Authorization": f"Bearer {key}"}
        )
    assert response.status_code == 500
    assert response.json()["error"].startswith("internal error")
    assert "hunter2" not in response.text and "Traceback" not in response.text
    assert "hunter2" in caplog.text  # logged for the operator


async def test_the_openapi_document_describes_every_endpoint(api: ApiServer) -> None:
    async with httpx.AsyncClient(base_url=api.url) as client:
        document = (await client.get("/openapi.json")).json()
    for path in ("/v1/track", "/v1/identify", "/v1/batch"):
        operation = document["paths"][path]["post"]
        assert operation["description"] and operation["summary"]
        assert {"200", "400", "401", "413"} <= set(operation["responses"])
    schemes = document["components"]["securitySchemes"]
    assert {s["scheme"] for s in schemes.values()} == {"basic", "bearer"}
