"""The Python client end to end against a real server, retries included."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.api.app import create_app
from engine.api.client import CxflowClient, CxflowClientError
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


class Answers503First:
    """Lets the app handle the first ``failures`` POSTs, then answers 503 instead.

    The calls are stored but the client never hears so: the worst case for a retry.
    """

    def __init__(self, app: ASGIApp, failures: int = 1) -> None:
        self.app = app
        self.failures = failures
        self.posts = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        self.posts += 1
        if self.posts > self.failures:
            await self.app(scope, receive, send)
            return

        async def swallow(message: Message) -> None:
            pass

        await self.app(scope, receive, swallow)
        await send({"type": "http.response.start", "status": 503, "headers": []})
        await send({"type": "http.response.body", "body": b"unavailable"})


async def test_the_client_identifies_tracks_and_starts_a_run(api: ApiServer) -> None:
    api.engine.deploy(compiled_text(HELLO))
    ada = f"ada-{uuid.uuid4()}"

    def emit() -> list[str]:
        with CxflowClient(api.url, api.key, flush_interval=None) as cx:
            first = cx.identify(
                ada, {"first_name": "Ada", "email": "ada@example.com", "timezone": "Europe/Paris"}
            )
            second = cx.track(ada, "signed.up", {"plan": "pro"})
            assert cx.pending == 2
        return [first, second]

    message_ids = await asyncio.to_thread(emit)
    outcome = await api.engine.outcome(workflow_id_for("hello", ada))
    assert outcome.status == "completed"
    events = api.engine.store.events_for(ada)
    assert sorted(e.message_id for e in events) == sorted(message_ids)
    customer = api.engine.store.get_customer(ada)
    assert customer is not None and customer.timezone == "Europe/Paris"
    assert [m["body"] for m in api.engine.outbox_messages()] == ["Hi Ada"]


async def test_the_client_sends_page_screen_group_and_alias(api: ApiServer) -> None:
    lin = f"lin-{uuid.uuid4()}"

    def emit() -> list[str]:
        with CxflowClient(api.url, api.key, flush_interval=None) as cx:
            return [
                cx.page(lin, "Pricing", {"path": "/pricing"}),
                cx.screen(lin, "Cart"),
                cx.group(lin, "acme", {"plan": "team"}),
                cx.alias(f"old-{lin}", lin),
            ]

    message_ids = await asyncio.to_thread(emit)
    stored = {e.message_id: e for e in api.engine.store.events_for(lin)}
    assert [stored[m].name for m in message_ids] == [
        "page.viewed", "screen.viewed", "group", "alias",
    ]  # fmt: skip
    assert all(stored[m].sent_at is not None for m in message_ids)  # the client's clock, sent


async def test_the_background_thread_flushes_on_its_interval(api: ApiServer) -> None:
    cx = CxflowClient(api.url, api.key, flush_interval=0.05)
    try:
        await asyncio.to_thread(cx.track, "bob", "page.viewed")
        for _ in range(100):
            if api.engine.store.events_for("bob"):
                break
            await asyncio.sleep(0.05)
        assert [e.name for e in api.engine.store.events_for("bob")] == ["page.viewed"]
    finally:
        await asyncio.to_thread(cx.close)


async def test_a_503_is_retried_and_the_events_are_stored_once(engine: Engine) -> None:
    key = engine.store.create_write_key("test")
    app = Answers503First(create_app(engine.intake), failures=1)
    async with serve(app) as url:

        def emit() -> None:
            with CxflowClient(url, key, flush_interval=None, backoff=0.01) as cx:
                cx.track("carol", "cart.updated", {"total": 30})
                cx.identify("carol", {"plan": "pro"})

        await asyncio.to_thread(emit)
    assert app.posts == 2  # the first answer was lost, the retry was deduplicated
    assert sorted(e.name for e in engine.store.events_for("carol")) == ["cart.updated", "identify"]


async def test_retries_give_up_and_keep_the_calls_queued(engine: Engine) -> None:
    key = engine.store.create_write_key("test")
    app = Answers503First(create_app(engine.intake), failures=3)
    async with serve(app) as url:
        cx = CxflowClient(url, key, flush_interval=None, max_retries=1, backoff=0.01)
        cx.track("dan", "cart.updated")
        with pytest.raises(CxflowClientError, match="503") as failure:
            await asyncio.to_thread(cx.flush)
        assert failure.value.status == 503
        assert cx.pending == 1  # kept for the next flush
        await asyncio.to_thread(cx.close)  # third POST fails, fourth succeeds
    assert [e.name for e in engine.store.events_for("dan")] == ["cart.updated"]


async def test_a_refused_batch_raises_with_the_field_problems(api: ApiServer) -> None:
    cx = CxflowClient(api.url, api.key, flush_interval=None)
    cx.track("erin", "e" * 201)
    with pytest.raises(CxflowClientError, match=r"batch\[0\]\.event") as refused:
        await asyncio.to_thread(cx.flush)
    assert refused.value.status == 400
    assert refused.value.code == "invalid_request"
    assert cx.pending == 0  # a 4xx would be refused again: dropped
    await asyncio.to_thread(cx.close)


async def test_an_unreachable_server_is_retried_then_reported(engine: Engine) -> None:
    cx = CxflowClient("http://127.0.0.1:1", "cxk_x", flush_interval=None, max_retries=2, backoff=0)
    cx.track("fay", "x")
    with pytest.raises(CxflowClientError, match="cannot reach"):
        await asyncio.to_thread(cx.flush)
    assert cx.pending == 1
    with pytest.raises(CxflowClientError):  # close() tries once more, then lets go
        await asyncio.to_thread(cx.close)


async def test_the_client_refuses_calls_it_cannot_send() -> None:
    with CxflowClient("http://127.0.0.1:1", "cxk_x", flush_interval=None) as cx:
        with pytest.raises(ValueError, match="timezone-aware"):
            cx.track("ada", "x", timestamp=datetime(2024, 5, 1, 12))
        with pytest.raises(ValueError, match="32768"):
            cx.track("ada", "x", {"note": "x" * 40_000})
        with pytest.raises(ValueError, match="JSON"):
            cx.track("ada", "x", {"n": float("nan")})
        with pytest.raises(ValueError, match="batch_size"):
            CxflowClient("http://127.0.0.1:1", "k", batch_size=101)
