"""Customer 360: the tracking spec, identity resolution, profiles and timelines, on a real API.

``api`` runs on SQLite, ``postgres_api`` on PostgreSQL; ``calls`` posts Segment calls
with the write key, ``reader`` reads with a read key. ``store`` is a bare store on both
backends; ``order``/``track`` make the calls the intake stores, at fixed times (lifetime
value), and ``Client.shopify`` delivers a signed Shopify webhook.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio

from connectors.builtin.shopify.webhooks import shopify_hmac
from engine.store import EventRecord, IncomingCall
from engine.store.records import CallType
from tests.api.conftest import ApiServer, api, pg_engine, postgres_api  # noqa: F401
from tests.runtime.conftest import SHOP_WEBHOOK_SECRET, engine, receiver  # noqa: F401
from tests.store.conftest import postgres_admin, store  # noqa: F401

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@dataclass
class Client:
    """The API with a write key (``send``) and a read key (``read``)."""

    server: ApiServer
    http: httpx.AsyncClient
    read_key: str

    async def send(self, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        return await self.http.post(path, json=body, headers={**self.server.headers, **headers})

    async def call(self, path: str, **body: Any) -> str:
        """Send one call, which must be accepted; returns its messageId."""
        body.setdefault("messageId", str(uuid.uuid4()))
        answer = await self.send(path, body)
        assert answer.status_code == 200, answer.text
        message_id: str = body["messageId"]
        return message_id

    async def read(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(
            path, params=params, headers={"Authorization": f"Bearer {self.read_key}"}
        )

    async def shopify(self, topic: str, payload: dict[str, Any]) -> httpx.Response:
        """One webhook delivery, signed as Shopify signs it."""
        raw = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": shopify_hmac(SHOP_WEBHOOK_SECRET, raw),
            "X-Shopify-Shop-Domain": "cxflow-test.myshopify.com",
            "X-Shopify-Event-Id": str(uuid.uuid4()),
        }
        return await self.http.post("/v1/webhooks/shopify", content=raw, headers=headers)


@pytest_asyncio.fixture(loop_scope="session")
async def client(api: ApiServer) -> AsyncIterator[Client]:  # noqa: F811
    async with httpx.AsyncClient(base_url=api.url) as http:
        yield Client(api, http, api.engine.store.create_write_key("dashboard", "read"))


@pytest_asyncio.fixture(loop_scope="session")
async def pg_client(postgres_api: ApiServer) -> AsyncIterator[Client]:  # noqa: F811
    async with httpx.AsyncClient(base_url=postgres_api.url) as http:
        yield Client(
            postgres_api, http, postgres_api.engine.store.create_write_key("dashboard", "read")
        )


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``condition()`` holds (runs record their state from the worker)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Client:
    """The API on SQLite, then on PostgreSQL."""
    name = "client" if request.param == "sqlite" else "pg_client"
    chosen: Client = request.getfixturevalue(name)
    return chosen


def track(
    name: str,
    at: datetime,
    *,
    user: str | None = None,
    anonymous: str | None = None,
    call_type: CallType = "track",
    traits: dict[str, Any] | None = None,
    **properties: Any,
) -> IncomingCall:
    """A call as the intake hands it to ``store.events.record_calls``."""
    event = EventRecord(
        message_id=str(uuid.uuid4()),
        customer_id=user or anonymous or "",
        name=name,
        properties=properties,
        timestamp=at,
        received_at=at,
        call_type=call_type,
        user_id=user,
        anonymous_id=anonymous,
    )
    return IncomingCall(event=event, traits=traits)


def order(at: datetime, *, user: str | None = None, **properties: Any) -> IncomingCall:
    """An ``order.completed`` track call of ``user``."""
    return track("order.completed", at, user=user, **properties)


def shopify_order(customer_id: int, order_id: int, total: str, updated_at: str) -> dict[str, Any]:
    """The fields of Shopify's orders/create payload cxflow reads."""
    return {
        "id": order_id,
        "name": f"#{order_id}",
        "updated_at": updated_at,
        "email": "ada@example.com",
        "total_price": total,
        "subtotal_price": total,
        "currency": "EUR",
        "financial_status": "paid",
        "line_items": [{"product_id": 1, "title": "Mug", "quantity": 1, "price": total}],
        "customer": {"id": customer_id, "email": "ada@example.com", "first_name": "Ada"},
    }
