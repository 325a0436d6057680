"""Values the store, the segments and the conditions cannot hold are refused at the door.

Numbers beyond 2^53 - 1 (a 400-digit total, 1e308 whose sum overflows on PostgreSQL, a
310-digit trait) and timestamps outside the window (50 years back, 6 hours ahead) get a
400 that names the field and the problem's code; nothing of the request is stored.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from engine.ingest.calls import MAX_SAFE_NUMBER
from tests.api.conftest import ApiServer

pytestmark = pytest.mark.asyncio(loop_scope="session")

HUGE = int("9" * 400)


async def post(api: ApiServer, path: str, body: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=api.url, headers=api.headers) as client:
        return await client.post(path, json=body)


def track(customer: str, **fields: Any) -> dict[str, Any]:
    return {
        "userId": customer,
        "event": "order.completed",
        "messageId": str(uuid.uuid4()),
        **fields,
    }


@pytest.mark.parametrize(
    ("path", "body", "field", "where"),
    [
        ("/v1/track", {"properties": {"total": 1e308}}, "properties", "total: "),
        ("/v1/track", {"properties": {"total": HUGE}}, "properties", "total: "),
        (
            "/v1/track",
            {"properties": {"items": [{"price": 1}, {"price": -(10**20)}]}},
            "properties",
            "items[1].price: ",
        ),
        ("/v1/identify", {"traits": {"score": int("1" * 310)}}, "traits", "score: "),
    ],
)
async def test_numbers_beyond_two_to_the_53_are_refused_per_field(
    api: ApiServer, path: str, body: dict[str, Any], field: str, where: str
) -> None:
    customer = f"big-{uuid.uuid4()}"
    call = {**track(customer), **body}
    if path == "/v1/identify":
        call.pop("event")
    response = await post(api, path, call)
    assert response.status_code == 400, response.text
    [problem] = response.json()["fields"]
    assert problem["path"] == field, problem
    assert problem["message"].startswith(where)
    assert problem["code"] == "number_too_large"
    assert "send a larger value as a string" in problem["message"]
    assert api.engine.store.events_for(customer) == []
    assert api.engine.store.get_customer(customer) is None


async def test_the_largest_safe_numbers_are_accepted(api: ApiServer) -> None:
    customer = f"edge-{uuid.uuid4()}"
    response = await post(
        api,
        "/v1/track",
        track(customer, properties={"max": MAX_SAFE_NUMBER, "min": -MAX_SAFE_NUMBER, "x": 1.5}),
    )
    assert response.status_code == 200, response.text
    [event] = api.engine.store.events_for(customer)
    assert event.properties == {"max": MAX_SAFE_NUMBER, "min": -MAX_SAFE_NUMBER, "x": 1.5}


@pytest.mark.parametrize(
    ("when", "says"),
    [
        (datetime(1901, 1, 1, tzinfo=UTC), "days ago"),
        (datetime.now(UTC) + timedelta(days=2), "hours ahead"),
    ],
)
async def test_timestamps_outside_the_window_are_refused_and_the_batch_stores_nothing(
    api: ApiServer, when: datetime, says: str
) -> None:
    customer = f"clock-{uuid.uuid4()}"
    batch = [
        {"type": "track", **track(customer)},
        {"type": "track", **track(customer, timestamp=when.isoformat())},
    ]
    response = await post(api, "/v1/batch", {"batch": batch})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "invalid_request"
    [problem] = body["fields"]
    assert problem["path"] == "batch[1].timestamp"
    assert problem["code"] == "timestamp_range"
    assert says in problem["message"]
    assert api.engine.store.events_for(customer) == []


async def test_a_timestamp_inside_the_window_is_kept(api: ApiServer) -> None:
    customer = f"clock-{uuid.uuid4()}"
    last_year = datetime.now(UTC) - timedelta(days=365)
    response = await post(api, "/v1/track", track(customer, timestamp=last_year.isoformat()))
    assert response.status_code == 200, response.text
    single = await post(api, "/v1/track", track(customer, timestamp="2000-01-01T00:00:00+00:00"))
    assert single.status_code == 200
    one_day_ahead = await post(
        api,
        "/v1/track",
        track(customer, timestamp=(datetime.now(UTC) + timedelta(days=1)).isoformat()),
    )
    assert one_day_ahead.status_code == 400
    assert one_day_ahead.json()["fields"][0]["path"] == "timestamp"
