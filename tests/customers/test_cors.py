"""Browsers: CORS preflights and calls from pages, each source with its own origins.

The API reads the allowed origins at most once a second (engine.api.browsers'
OriginCache), so each test allows its origins before its first request, or waits.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.customers.conftest import Client, new_id

pytestmark = pytest.mark.asyncio(loop_scope="session")

SHOP = "https://shop.example.com"
BLOG = "https://blog.example.com"


async def _preflight(client: Client, origin: str, path: str = "/v1/t") -> httpx.Response:
    return await client.http.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


async def _track(client: Client, customer: str, **headers: str) -> httpx.Response:
    body: dict[str, Any] = {"userId": customer, "event": "clicked", "messageId": str(uuid.uuid4())}
    return await client.send("/v1/track", body, **headers)


async def test_a_preflight_from_an_allowed_origin_is_answered(client: Client) -> None:
    client.server.engine.store.allow_origins("test", [SHOP])

    for path in ("/v1/t", "/v1/track", "/v1/batch", "/v1/i", "/v1/p"):
        answer = await _preflight(client, SHOP, path)

        assert answer.status_code == 204, (path, answer.text)
        assert answer.headers["access-control-allow-origin"] == SHOP
        allowed = [h.strip() for h in answer.headers["access-control-allow-headers"].split(",")]
        assert "authorization" in allowed and "content-type" in allowed
        assert "POST" in answer.headers["access-control-allow-methods"]
        assert answer.headers["vary"] == "Origin"
        assert answer.content == b""


async def test_a_preflight_from_an_unknown_origin_is_refused(client: Client) -> None:
    client.server.engine.store.allow_origins("test", [SHOP])

    for origin in (BLOG, "https://shop.example.com.evil.test", "http://shop.example.com"):
        answer = await _preflight(client, origin)

        assert answer.status_code == 403, (origin, answer.text)
        assert answer.json()["code"] == "origin_not_allowed"
        assert "access-control-allow-origin" not in answer.headers


async def test_a_call_from_an_origin_its_source_allows_is_stored_and_readable(
    client: Client,
) -> None:
    client.server.engine.store.allow_origins("test", [SHOP])
    customer = new_id("web")

    answer = await _track(client, customer, Origin=SHOP)

    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == SHOP
    assert [e.name for e in client.server.engine.store.events_for(customer)] == ["clicked"]
    # A refused call is readable by the page too, so the SDK can say why.
    bad = await client.send("/v1/track", {"userId": customer}, Origin=SHOP)
    assert bad.status_code == 400
    assert bad.headers["access-control-allow-origin"] == SHOP


async def test_a_call_from_an_origin_only_another_source_allows_is_refused(
    client: Client,
) -> None:
    store = client.server.engine.store
    store.allow_origins("test", [SHOP])
    store.allow_origins("blog", [BLOG])
    customer = new_id("web")

    assert (await _preflight(client, BLOG)).status_code == 204  # some source allows it
    answer = await _track(client, customer, Origin=BLOG)

    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == "origin_not_allowed"
    assert "blog.example.com" in answer.json()["error"]
    assert store.events_for(customer) == []


async def test_a_source_with_no_origins_refuses_every_browser(client: Client) -> None:
    customer = new_id("web")

    preflight = await _preflight(client, SHOP)
    answer = await _track(client, customer, Origin=SHOP)

    assert preflight.status_code == 403
    assert answer.status_code == 403 and answer.json()["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in answer.headers
    assert client.server.engine.store.events_for(customer) == []


async def test_calls_without_an_origin_are_unaffected(client: Client) -> None:
    client.server.engine.store.allow_origins("test", [SHOP])
    customer = new_id("server")

    answer = await _track(client, customer)

    assert answer.status_code == 200, answer.text
    assert "access-control-allow-origin" not in answer.headers
    assert [e.name for e in client.server.engine.store.events_for(customer)] == ["clicked"]


async def test_a_star_allows_every_origin(client: Client) -> None:
    client.server.engine.store.allow_origins("test", ["*"])
    customer = new_id("web")

    preflight = await _preflight(client, "https://anything.example.org")
    answer = await _track(client, customer, Origin="http://localhost:3000")

    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://anything.example.org"
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == "http://localhost:3000"


async def test_an_allowed_origin_counts_within_a_second(client: Client) -> None:
    store = client.server.engine.store
    store.allow_origins("test", [SHOP])
    assert (await _preflight(client, BLOG)).status_code == 403  # read (and cached) now

    store.allow_origins("test", [BLOG])
    await asyncio.sleep(1.2)

    answer = await _preflight(client, BLOG)
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == BLOG
    store.keys.disallow_origins("test", [BLOG])
    await asyncio.sleep(1.2)
    assert (await _track(client, new_id("web"), Origin=BLOG)).status_code == 403
