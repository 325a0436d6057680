"""HTTP for connectors, against a real server: idempotency keys, error mapping, rate limits."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from connectors import (
    HttpClient,
    HttpConnector,
    PermanentConnectorError,
    RetryableConnectorError,
)
from connectors.http import retry_after_seconds
from connectors.ratelimit import TokenBucket
from tests.peers.http_receiver import HttpReceiver, Reply


class PingConnector(HttpConnector):
    name = "ping"
    description = "Pings."


@pytest.mark.asyncio
async def test_requests_carry_the_idempotency_key(receiver: HttpReceiver) -> None:
    client = HttpClient("ping")
    response = await client.request("POST", receiver.url(), idempotency_key="k-1", json={"a": 1})
    await client.aclose()
    assert response.json() == {"id": "msg-1"}
    seen = receiver.last()
    assert seen.header("Idempotency-Key") == "k-1"
    assert (seen.header("User-Agent") or "").startswith("cxflow/")
    assert seen.json() == {"a": 1}


@pytest.mark.asyncio
async def test_a_retried_request_is_delivered_once(receiver: HttpReceiver) -> None:
    client = HttpClient("ping")
    receiver.fail_next(500, body="upstream exploded")
    with pytest.raises(RetryableConnectorError) as raised:
        await client.request("POST", receiver.url(), idempotency_key="k-1", json={})
    assert raised.value.status_code == 500
    assert str(raised.value) == (
        "ping: HTTP 500, the provider failed; the request will be retried: upstream exploded"
    )
    first = await client.request("POST", receiver.url(), idempotency_key="k-1", json={})
    again = await client.request("POST", receiver.url(), idempotency_key="k-1", json={})
    await client.aclose()
    assert first.json() == again.json() == {"id": "msg-1"}
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(receiver.requests) == 3
    assert receiver.unique_deliveries == 1


@pytest.mark.asyncio
async def test_a_bad_request_is_permanent(receiver: HttpReceiver) -> None:
    client = HttpClient("ping")
    receiver.fail_next(400, body='{"error": "percent must be at most 100"}')
    with pytest.raises(PermanentConnectorError) as raised:
        await client.request("POST", receiver.url(), idempotency_key="k", json={})
    await client.aclose()
    assert not raised.value.retryable
    assert raised.value.status_code == 400
    assert str(raised.value).endswith(': {"error": "percent must be at most 100"}')
    assert receiver.unique_deliveries == 0


@pytest.mark.asyncio
async def test_rate_limited_requests_are_retryable_after_the_wait(receiver: HttpReceiver) -> None:
    client = HttpClient("ping")
    receiver.fail_next(429, headers={"Retry-After": "7"})
    with pytest.raises(RetryableConnectorError) as raised:
        await client.request("GET", receiver.url())
    await client.aclose()
    assert raised.value.status_code == 429
    assert raised.value.retry_after == 7.0


@pytest.mark.asyncio
async def test_a_refused_connection_is_retryable(closed_port: int) -> None:
    client = HttpClient("ping")
    with pytest.raises(RetryableConnectorError) as raised:
        await client.request("POST", f"http://127.0.0.1:{closed_port}/hook", json={})
    await client.aclose()
    assert str(raised.value).startswith("ping: could not reach 127.0.0.1 (ConnectError")
    assert raised.value.status_code is None


@pytest.mark.asyncio
async def test_a_slow_provider_times_out_and_is_retryable(receiver: HttpReceiver) -> None:
    client = HttpClient("ping", timeout=httpx.Timeout(0.2, connect=5.0))
    receiver.delay_next(1.0)
    with pytest.raises(RetryableConnectorError) as raised:
        await client.request("POST", receiver.url(), idempotency_key="k", json={})
    await client.aclose()
    assert str(raised.value) == "ping: POST 127.0.0.1 timed out (ReadTimeout); it will be retried"


def test_default_timeouts() -> None:
    timeout = HttpClient("ping").timeout
    assert (timeout.connect, timeout.read, timeout.write) == (5.0, 15.0, 15.0)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "example.com/hook", "http://"])
@pytest.mark.asyncio
async def test_a_url_that_is_not_http_is_permanent(url: str) -> None:
    client = HttpClient("ping")
    with pytest.raises(PermanentConnectorError, match="is not an http"):
        await client.request("POST", url, json={})
    await client.aclose()


@pytest.mark.asyncio
async def test_one_client_is_shared_by_a_connectors_requests(receiver: HttpReceiver) -> None:
    connector = PingConnector(environ={})
    assert connector.http is connector.http
    await connector.http.request("GET", receiver.url())
    client = connector.http.client()
    await connector.http.request("GET", receiver.url())
    assert connector.http.client() is client
    await connector.aclose()
    assert client.is_closed


def test_a_client_survives_a_new_event_loop(receiver: HttpReceiver) -> None:
    """Workers and tests may run the same connector in successive loops."""
    client = HttpClient("ping")

    async def get() -> int:
        return (await client.request("GET", receiver.url())).status_code

    assert asyncio.run(get()) == 200
    assert asyncio.run(get()) == 200


# --- rate limit -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_rate_limit_spaces_requests(receiver: HttpReceiver) -> None:
    connector = PingConnector(environ={"CXFLOW_PING_RATE_LIMIT": "10"})
    assert connector.rate_limit() == 10.0
    started = time.monotonic()
    await asyncio.gather(*(connector.http.request("GET", receiver.url()) for _ in range(13)))
    elapsed = time.monotonic() - started
    await connector.aclose()
    assert len(receiver.requests) == 13
    assert elapsed >= 0.28  # a burst of 10, then 3 more at 10 per second


def test_no_rate_limit_by_default() -> None:
    connector = PingConnector(environ={})
    assert connector.rate_limit() is None
    assert connector.http.bucket is None


@pytest.mark.parametrize("value", ["fast", "0", "-1", "inf", "nan"])
@pytest.mark.asyncio
async def test_a_bad_rate_limit_names_the_variable(value: str) -> None:
    with pytest.raises(PermanentConnectorError) as raised:
        _ = PingConnector(environ={"CXFLOW_PING_RATE_LIMIT": value}).http
    assert str(raised.value) == (
        "ping: CXFLOW_PING_RATE_LIMIT must be a positive number of requests per second, such "
        f"as 5 or 0.5, not {value!r}"
    )


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    now = [100.0]
    bucket = TokenBucket(rate=2, clock=lambda: now[0])
    assert [bucket.reserve() for _ in range(4)] == [0.0, 0.0, 0.5, 1.0]
    now[0] += 1.5  # 3 tokens earned, 2 were owed
    assert bucket.reserve() == 0.0
    assert bucket.reserve() == 0.5


def test_token_bucket_below_one_per_second() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=0.5, clock=lambda: now[0])
    assert bucket.reserve() == 0.0
    assert bucket.reserve() == 2.0
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(rate=0)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("3", 3.0),
        (" 1.5 ", 1.5),
        ("-4", 0.0),
        ("junk", None),
        ("99999", 3600.0),
    ],
)
def test_retry_after_in_seconds(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header) == seconds


def test_retry_after_as_an_http_date() -> None:
    when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))
    seconds = retry_after_seconds(when)
    assert seconds is not None and 55 <= seconds <= 61


@pytest.mark.asyncio
async def test_the_receiver_replays_the_reply_it_gave(receiver: HttpReceiver) -> None:
    receiver.respond(Reply.of_json({"id": "fixed"}, status=201, headers={"X-Request-Id": "r-1"}))
    client = HttpClient("ping")
    first = await client.request("POST", receiver.url(), idempotency_key="a", json={})
    second = await client.request("POST", receiver.url(), idempotency_key="b", json={})
    await client.aclose()
    assert (first.status_code, first.headers["X-Request-Id"]) == (201, "r-1")
    assert second.json() == {"id": "fixed"}
    assert receiver.unique_deliveries == 2
    assert [r.replayed for r in receiver.requests] == [False, False]
