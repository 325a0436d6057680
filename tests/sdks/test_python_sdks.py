"""Segment's and RudderStack's Python SDKs, as their users configure them, store with cxflow.

Tried before: with `gzip=True` every Segment batch was a 400 ("error parsing the
body"); RudderStack's defaults (gzip on) stored nothing and its SDK raised
`KeyError: 'code'` reading the error body; with gzip off, RudderStack's identify
traits (sent in `context.traits`) were dropped. The SDKs come from PyPI, unmodified;
they post from their own threads, so the tests flush them in a thread.
"""

from __future__ import annotations

import asyncio
import gzip
import uuid

import httpx
import pytest
import rudderstack.analytics as rudder_analytics
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient

from tests.api.conftest import ApiServer
from tests.runtime.conftest import compiled_text
from workflows.ids import workflow_id_for

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _flush(client: SegmentClient | RudderClient) -> None:
    client.flush()
    client.join()


@pytest.mark.parametrize("gzip", [True, False])
async def test_segments_python_sdk_stores_identify_and_track(api: ApiServer, gzip: bool) -> None:
    errors: list[Exception] = []
    client = SegmentClient(
        write_key=api.key,
        host=api.url,
        gzip=gzip,
        sync_mode=False,
        on_error=lambda error, _batch: errors.append(error),
        max_retries=1,
    )
    customer = f"seg-{uuid.uuid4()}"
    client.identify(customer, {"email": "ada@example.com", "plan": "pro"})
    client.track(customer, "cart.updated", {"item_count": 2})
    await asyncio.to_thread(_flush, client)
    assert errors == []
    events = api.engine.store.events_for(customer)
    assert sorted(e.name for e in events) == ["cart.updated", "identify"]
    stored = api.engine.store.get_customer(customer)
    assert stored is not None and stored.traits == {"email": "ada@example.com", "plan": "pro"}


async def test_rudderstacks_python_sdk_with_its_defaults_stores_traits_from_context(
    api: ApiServer,
) -> None:
    errors: list[Exception] = []
    client = RudderClient(
        write_key=api.key,
        host=api.url,
        on_error=lambda error, _batch: errors.append(error),
        max_retries=1,
    )
    assert client.gzip  # RudderStack compresses by default
    customer = f"rudder-{uuid.uuid4()}"
    client.identify(customer, {"email": "grace@example.com"})
    client.track(customer, "order.completed", {"total": 30})
    await asyncio.to_thread(_flush, client)
    assert errors == []
    stored = api.engine.store.get_customer(customer)
    assert stored is not None and stored.traits == {"email": "grace@example.com"}
    assert sorted(e.name for e in api.engine.store.events_for(customer)) == [
        "identify",
        "order.completed",
    ]


async def test_an_sdk_reads_the_code_and_message_of_a_refusal(api: ApiServer) -> None:
    errors: list[Exception] = []
    client = RudderClient(
        write_key=api.key,
        host=api.url,
        on_error=lambda error, _batch: errors.append(error),
        max_retries=0,
    )
    client.track(f"bad-{uuid.uuid4()}", "e" * 201)
    await asyncio.to_thread(_flush, client)
    [error] = errors
    assert isinstance(error, rudder_analytics.request.APIError)
    assert (error.status, error.code) == (400, "invalid_request")
    assert "nothing was stored" in error.message


async def test_gzip_bodies_are_measured_after_decompression_and_broken_ones_refused(
    api: ApiServer,
) -> None:
    big = gzip.compress(b'{"batch": [' + b" " * 600_000 + b"]}")
    assert len(big) < 5_000  # small on the wire, too large once expanded
    headers = {**api.headers, "Content-Encoding": "gzip", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=api.url) as http:
        bomb = await http.post("/v1/batch", content=big, headers=headers)
        broken = await http.post("/v1/batch", content=b"not gzip", headers=headers)
    assert bomb.status_code == 413 and bomb.json()["code"] == "too_large"
    assert broken.status_code == 400 and broken.json()["code"] == "invalid_encoding"


async def test_a_numeric_user_id_is_the_customer_of_its_digits(api: ApiServer) -> None:
    async with httpx.AsyncClient(base_url=api.url, headers=api.headers) as http:
        answer = await http.post(
            "/v1/track", json={"userId": 4242, "event": "signed.up", "messageId": str(uuid.uuid4())}
        )
    assert answer.status_code == 200, answer.text
    assert [e.name for e in api.engine.store.events_for("4242")] == ["signed.up"]


THANKS = """\
journey: order-thanks
name: Order thanks
trigger: { event: order.completed }
steps:
  - id: thanks
    send: { channel: console, body: "Thanks, {{ customer.email }}" }
"""


def _every_call(client: SegmentClient | RudderClient, user: str, visitor: str) -> list[str]:
    """A visitor browses, signs in, joins an account, buys: every call type, in order.

    Returns the message ids sent (the SDK would make up its own; the test names them)."""
    ids = [str(uuid.uuid4()) for _ in range(7)]
    client.page(
        anonymous_id=visitor, name="Pricing", properties={"path": "/pricing"}, message_id=ids[0]
    )
    client.screen(anonymous_id=visitor, name="Cart", category="Shop", message_id=ids[1])
    client.identify(user, {"email": "lin@example.com"}, anonymous_id=visitor, message_id=ids[2])
    client.group(user, "acme", {"plan": "team"}, message_id=ids[3])
    client.track(user, "order.completed", {"total": 30}, message_id=ids[4])
    client.alias(previous_id=f"legacy-{user}", user_id=user, message_id=ids[5])
    client.page(user, name="Thanks", message_id=ids[6])
    return ids


@pytest.mark.parametrize("sdk", ["segment", "rudderstack"])
@pytest.mark.parametrize("gzip", [True, False])
@pytest.mark.parametrize("sync_mode", [False, True])
async def test_every_call_type_of_the_python_sdks_is_stored_and_joined(
    api: ApiServer, sdk: str, gzip: bool, sync_mode: bool
) -> None:
    api.engine.deploy(compiled_text(THANKS))
    errors: list[Exception] = []
    kind = SegmentClient if sdk == "segment" else RudderClient
    client = kind(
        write_key=api.key,
        host=api.url,
        gzip=gzip,
        sync_mode=sync_mode,
        on_error=lambda error, _batch: errors.append(error),
        max_retries=1,
    )
    user, visitor = f"{sdk}-{uuid.uuid4()}", f"anon-{uuid.uuid4()}"
    ids = await asyncio.to_thread(_every_call, client, user, visitor)  # sync mode posts inline
    if not sync_mode:  # batched: the SDK's thread posts; sync mode has none to join
        await asyncio.to_thread(_flush, client)
    assert errors == []
    store = api.engine.store
    stored = {event.message_id: event.name for event in store.events_for(user)}
    assert [stored.get(i) for i in ids] == [
        "page.viewed",
        "screen.viewed",
        "identify",
        "group",
        "order.completed",
        "alias",
        "page.viewed",
    ]
    profile = store.profiles.profile(visitor)  # the visitor's id reads the joined profile
    assert profile is not None and profile.id == user
    assert profile.traits == {"email": "lin@example.com"}
    assert [g.id for g in profile.groups] == ["acme"]
    assert (profile.lifetime.orders, profile.lifetime.revenue) == (1, 30.0)
    outcome = await api.engine.outcome(workflow_id_for("order-thanks", user))  # started
    assert outcome.status == "completed"
    assert [m["body"] for m in api.engine.outbox_messages()] == ["Thanks, lin@example.com"]
