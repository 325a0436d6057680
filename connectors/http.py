"""HTTP for connectors: one client per connector, idempotent, rate limited, errors mapped.

Every request carries the step's idempotency key as ``Idempotency-Key``, so a
retry after a timeout is deduplicated by providers that honour it. Network
failures are retryable; HTTP statuses go through :func:`error_for_status`. The
client is made on first use in the running event loop (httpx connections belong
to one loop), and made again if the loop changes.

A client made with ``outbound=`` is *guarded* (:mod:`connectors.outbound`): it is
for URLs that come from journeys or events, and refuses internal addresses before
connecting. ``HttpConnector.guard_outbound = True`` gives a connector such a client.
URLs built from a connector's own settings (a provider's API URL) are the
operator's configuration and are not guarded.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Mapping
from importlib import metadata
from typing import Any, ClassVar

import httpx

from connectors.base import Connector
from connectors.errors import (
    PermanentConnectorError,
    RetryableConnectorError,
    error_for_status,
)
from connectors.models import Setting
from connectors.outbound import GuardedTransport, OutboundPolicy, OutboundRefusedError, PolicySource
from connectors.ratelimit import TokenBucket

DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
MAX_RETRY_AFTER = 3600.0


def _user_agent() -> str:
    try:
        return f"cxflow/{metadata.version('cxflow')}"
    except metadata.PackageNotFoundError:
        return "cxflow/dev"


class HttpClient:
    """A shared ``httpx.AsyncClient`` for one connector."""

    def __init__(
        self,
        connector: str,
        *,
        rate_limit: float | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        outbound: PolicySource | None = None,
        verify: Any = True,
    ) -> None:
        """``outbound``: guard every request with the policy it returns (read per request).

        ``verify`` is httpx's: True (the system's CAs), or an ``ssl.SSLContext``.
        """
        self.connector = connector
        self.timeout = timeout
        self.headers = {"User-Agent": _user_agent(), **(headers or {})}
        self.bucket = TokenBucket(rate_limit) if rate_limit else None
        self.outbound = outbound
        self.verify = verify
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def guarded(self) -> bool:
        return self.outbound is not None

    def client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop or self._client.is_closed:
            # A client from another (finished) loop cannot be closed from this one; drop it.
            if self.outbound is not None:
                self._client = httpx.AsyncClient(
                    timeout=self.timeout,
                    headers=self.headers,
                    transport=GuardedTransport(self.outbound, verify=self.verify),
                )
            else:
                self._client = httpx.AsyncClient(
                    timeout=self.timeout, headers=self.headers, verify=self.verify
                )
            self._loop = loop
        return self._client

    async def request(
        self,
        method: str,
        url: str,
        *,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> httpx.Response:
        """Send one request; a 2xx response, or a :class:`ConnectorError`.

        With ``check=False`` any HTTP answer is returned, for connectors that read a
        provider's own error codes from the body; network failures still raise.
        """
        if self.outbound is not None:
            try:  # before the rate limit, DNS or any connection
                self.outbound().check_url(url)
            except OutboundRefusedError as error:
                raise error.for_connector(self.connector) from None
            except PermanentConnectorError as error:  # CXFLOW_OUTBOUND_ALLOW cannot be read
                raise PermanentConnectorError(
                    f"{self.connector}: {error.message}", connector=self.connector, code=error.code
                ) from None
        if self.bucket is not None:
            await self.bucket.acquire()
        sent_headers = dict(headers or {})
        if idempotency_key is not None:
            sent_headers["Idempotency-Key"] = idempotency_key
        try:
            response = await self.client().request(
                method, url, headers=sent_headers, json=json, content=content, params=params
            )
        except OutboundRefusedError as error:
            raise error.for_connector(self.connector) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:
            raise PermanentConnectorError(
                f"{self.connector}: {url!r} is not an http(s) URL: {error}",
                connector=self.connector,
            ) from error
        except httpx.TimeoutException as error:
            raise RetryableConnectorError(
                f"{self.connector}: {method} {_host(url)} timed out "
                f"({type(error).__name__}); it will be retried",
                connector=self.connector,
            ) from error
        except httpx.TransportError as error:
            raise RetryableConnectorError(
                f"{self.connector}: could not reach {_host(url)} "
                f"({type(error).__name__}: {error}); it will be retried",
                connector=self.connector,
            ) from error
        if response.is_success or not check:
            return response
        raise error_for_status(
            response.status_code,
            response.text,
            self.connector,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None
        self._loop = None


class HttpConnector(Connector):
    """A connector that talks HTTP: adds ``self.http`` and the ``RATE_LIMIT`` setting."""

    settings: ClassVar[tuple[Setting, ...]] = (
        Setting(
            key="RATE_LIMIT",
            description="At most this many requests per second (default: unlimited)",
        ),
    )
    timeout: ClassVar[httpx.Timeout] = DEFAULT_TIMEOUT
    guard_outbound: ClassVar[bool] = False
    """True for a connector whose URLs come from journeys or events (``webhook``): its
    client refuses internal addresses unless ``CXFLOW_OUTBOUND_ALLOW`` lists them."""
    _http: HttpClient | None = None

    @property
    def http(self) -> HttpClient:
        """The connector's client, made on first use (so a bad RATE_LIMIT fails the send)."""
        if self._http is None:
            self._http = HttpClient(
                self.name,
                rate_limit=self.rate_limit(),
                timeout=self.timeout,
                outbound=self.outbound_policy if self.guard_outbound else None,
            )
        return self._http

    def outbound_policy(self) -> OutboundPolicy:
        """The guard's policy, from ``CXFLOW_OUTBOUND_ALLOW`` in this connector's environment."""
        return OutboundPolicy.from_settings(getattr(self, "_environ", None))

    def rate_limit(self) -> float | None:
        """Requests per second from ``RATE_LIMIT``; None for unlimited."""
        value = self.setting("RATE_LIMIT")
        if value is None:
            return None
        try:
            rate = float(value)
        except ValueError:
            rate = 0.0
        if not rate > 0 or rate == float("inf"):
            raise PermanentConnectorError(
                f"{self.name}: {self.config.variable('RATE_LIMIT')} must be a positive number "
                f"of requests per second, such as 5 or 0.5, not {value!r}",
                connector=self.name,
            )
        return rate

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now (it may be seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if seconds != seconds:  # NaN
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


def _host(url: str) -> str:
    try:
        return httpx.URL(url).host or url
    except httpx.InvalidURL:
        return url
